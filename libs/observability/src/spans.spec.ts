import { diag, ROOT_CONTEXT, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { JsonLogger } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';
import { subjectTemplate } from './attributes';
import {
  currentSpanId,
  currentTraceId,
  endSpan,
  spanCarrier,
  startSpan,
  traceCarrier,
  traceContextFrom,
  withActiveSpan,
  withSpan,
  withTraceCarrier,
} from './spans';
import { flushTracing, shutdownTracing, startTracing } from './tracing';

describe('span helpers', () => {
  const exporter = new InMemorySpanExporter();
  const finished = async (name: string) => {
    await flushTracing();
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (!span) throw new Error(`no finished span "${name}" (have: ${exporter.getFinishedSpans().map((s) => s.name)})`);
    return span;
  };

  beforeAll(() => startTracing({ serviceName: 'spans-spec', exporter }));
  afterAll(() => shutdownTracing());
  beforeEach(() => exporter.reset());

  it('runs the function inside an active span and marks success OK', async () => {
    let inside: { traceId?: string; spanId?: string } = {};
    const result = await withSpan('run inspect', { 'yunbian.run.id': 'r1' }, async () => {
      inside = { traceId: currentTraceId(), spanId: currentSpanId() };
      return withSpan('step detect', { 'yunbian.step.id': 'detect' }, () => 42);
    });
    expect(result).toBe(42);
    const run = await finished('run inspect');
    const step = await finished('step detect');
    expect(inside).toEqual({ traceId: run.spanContext().traceId, spanId: run.spanContext().spanId });
    expect(step.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    expect(step.spanContext().traceId).toBe(run.spanContext().traceId);
    expect(run.attributes).toMatchObject({ 'yunbian.run.id': 'r1' });
    expect(run.status.code).toBe(SpanStatusCode.OK);
    expect(run.kind).toBe(SpanKind.INTERNAL);
    expect(currentTraceId()).toBeUndefined();
  });

  it('records a thrown error, marks the span ERROR with its code and rethrows the same error', async () => {
    const error = new YunbianError('UNSATISFIABLE', 'no node has a gpu');
    await expect(withSpan('place step', {}, () => Promise.reject(error))).rejects.toBe(error);
    const span = await finished('place step');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no node has a gpu' });
    expect(span.attributes).toMatchObject({ 'yunbian.error.code': 'UNSATISFIABLE', 'error.type': 'UNSATISFIABLE' });
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
    expect(span.events[0].attributes).toMatchObject({
      'exception.type': 'UNSATISFIABLE',
      'exception.message': 'no node has a gpu',
    });
    expect(span.ended).toBe(true);

    await expect(
      withSpan('sync throw', {}, () => {
        throw new TypeError('bad input');
      }),
    ).rejects.toThrow('bad input');
    expect((await finished('sync throw')).attributes['error.type']).toBe('TypeError');
  });

  it('starts a new trace on request and continues a captured one', async () => {
    let carrier: Record<string, string> = {};
    await withSpan('outer', {}, async () => {
      carrier = traceCarrier();
      await withSpan('detached', {}, () => undefined, { root: true });
    });
    const outer = await finished('outer');
    expect((await finished('detached')).spanContext().traceId).not.toBe(outer.spanContext().traceId);
    expect(carrier.traceparent).toBe(`00-${outer.spanContext().traceId}-${outer.spanContext().spanId}-01`);

    // After a restart the engine resumes the run inside the context it stored with it.
    await withTraceCarrier(carrier, () => withSpan('resumed step', {}, () => undefined));
    expect((await finished('resumed step')).parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
  });

  it('adds trace_id and span_id to log lines written inside a span, and nothing outside', async () => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const logger = new JsonLogger('spec');
      logger.info('outside');
      await withSpan('logging', {}, () => logger.info('inside'));
    } finally {
      write.mockRestore();
    }
    const [outside, inside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const span = (await finished('logging')).spanContext();
    expect(outside).not.toHaveProperty('trace_id');
    expect(inside).toMatchObject({ msg: 'inside', trace_id: span.traceId, span_id: span.spanId });
  });
});

describe('OpenTelemetry diagnostics', () => {
  afterEach(() => shutdownTracing());

  it('become log lines; a failed export says what failed', () => {
    startTracing({ serviceName: 'diag-spec', exporter: new InMemorySpanExporter(), env: {} });
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      // What the SDK's global error handler writes when the collector is down.
      diag.error(JSON.stringify({ message: 'connect ECONNREFUSED 127.0.0.1:4318', code: 'ECONNREFUSED' }));
      diag.info('not logged: below warn');
    } finally {
      write.mockRestore();
    }
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        level: 'error',
        component: 'opentelemetry',
        msg: 'tracing error: connect ECONNREFUSED 127.0.0.1:4318',
        code: 'ECONNREFUSED',
      }),
    ]);
  });
});

describe('subjectTemplate', () => {
  it('replaces node and instance ids so span names stay few', () => {
    expect(subjectTemplate('yb.cmd.node.edge-a.instance.start')).toBe('yb.cmd.node.{node}.instance.start');
    expect(subjectTemplate('yb.evt.node.edge-a.heartbeat')).toBe('yb.evt.node.{node}.heartbeat');
    expect(subjectTemplate('yb.inst.9f3c2a')).toBe('yb.inst.{instance}');
    expect(subjectTemplate('yb.svc.echo.1_0_0')).toBe('yb.svc.echo.1_0_0');
    expect(subjectTemplate('yb.cmd.orchestrator.ping')).toBe('yb.cmd.orchestrator.ping');
  });
});

describe('long-lived spans for the engine (run from POST to last step, attempt from dispatch to reply)', () => {
  const exporter = new InMemorySpanExporter();
  beforeAll(() => startTracing({ serviceName: 'engine-spans-spec', exporter }));
  afterAll(() => shutdownTracing());

  it('keeps a run span open across callbacks and parents step spans from its stored carrier', async () => {
    const run = startSpan('run edge-report', { 'yunbian.run.id': 'r-9' });
    const stored = spanCarrier(run); // persisted with the run record
    expect(currentTraceId()).toBeUndefined(); // starting a span does not make it active

    // Later, from the dispatch callback (or after a restart, from the stored record):
    const attempt = startSpan('step thumbnail', { 'yunbian.step.attempt': 1 }, { parent: traceContextFrom(stored) });
    const seen = withActiveSpan(attempt, () => currentSpanId());
    endSpan(attempt, new YunbianError('TIMEOUT', 'no reply on yb.inst.i-1 within 5000 ms'));
    endSpan(run);

    await flushTracing();
    const [step, runSpan] = exporter.getFinishedSpans();
    expect(seen).toBe(step.spanContext().spanId);
    expect(step.parentSpanContext?.spanId).toBe(runSpan.spanContext().spanId);
    expect(step.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no reply on yb.inst.i-1 within 5000 ms' });
    expect(step.attributes['yunbian.error.code']).toBe('TIMEOUT');
    expect(runSpan.status.code).toBe(SpanStatusCode.OK);
    expect(traceContextFrom(undefined)).toBe(ROOT_CONTEXT);
  });
});
