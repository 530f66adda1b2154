import 'reflect-metadata';
import { Body, Controller, Get, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { traceHttpRequests } from './http-tracing';
import { currentSpanId, currentTraceId, withSpan } from './spans';
import { flushTracing, shutdownTracing, startTracing } from './tracing';

@Controller('instances')
class InstancesController {
  @Get(':id')
  get(@Param('id') id: string) {
    if (id === 'broken') throw new Error('store unreachable');
    return { id, traceId: currentTraceId(), spanId: currentSpanId() };
  }

  @Post()
  create(@Body() body: { service: string }) {
    return withSpan('deploy instance', {}, () => ({ service: body.service, traceId: currentTraceId() }));
  }
}

@Controller('health')
class HealthController {
  @Get('live')
  live() {
    return { traceId: currentTraceId() ?? null };
  }
}

@Module({ controllers: [InstancesController, HealthController] })
class AppModule {}

describe('traceHttpRequests (Nest on Express, as the orchestrator runs)', () => {
  const exporter = new InMemorySpanExporter();
  let app: NestExpressApplication;
  let base: string;

  beforeAll(async () => {
    startTracing({ serviceName: 'http-spec', exporter });
    app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: false, bodyParser: false });
    app.useBodyParser('json');
    app.use(traceHttpRequests());
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await shutdownTracing();
  });
  beforeEach(() => exporter.reset());

  const serverSpans = async () => {
    await flushTracing();
    return exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
  };

  it('makes one SERVER span per request, named by route, active inside the controller', async () => {
    const body = (await (await fetch(`${base}/instances/i-42`)).json()) as { traceId: string; spanId: string };
    const [span] = await serverSpans();
    expect(span.name).toBe('GET /instances/{id}');
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/instances/{id}',
      'url.path': '/instances/i-42',
      'http.response.status_code': 200,
    });
    expect(body).toEqual({ id: 'i-42', traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  });

  it('continues the caller’s traceparent; spans opened in the controller are its children', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const response = await fetch(`${base}/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ service: 'echo' }),
    });
    expect(await response.json()).toEqual({ service: 'echo', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    const [span] = await serverSpans();
    expect(span.name).toBe('POST /instances');
    expect(span.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    const deploy = exporter.getFinishedSpans().find((s) => s.name === 'deploy instance');
    expect(deploy?.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
  });

  it('marks server errors and skips health probes', async () => {
    expect((await fetch(`${base}/instances/broken`)).status).toBe(500);
    expect(await (await fetch(`${base}/health/live`)).json()).toEqual({ traceId: null });
    const spans = await serverSpans();
    expect(spans.map((s) => s.name)).toEqual(['GET /instances/{id}']);
    expect(spans[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(spans[0].attributes['http.response.status_code']).toBe(500);
  });
});
