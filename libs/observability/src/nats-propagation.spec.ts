import { headers as createHeaders } from '@nats-io/transport-node';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { LocalNatsServer } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { NatsTracePropagator, type NatsMessageInfo } from './nats-propagation';
import { currentSpanId, currentTraceId, withSpan } from './spans';
import { flushTracing, shutdownTracing, startTracing } from './tracing';

// These start a real nats-server: on a loaded machine that alone can take longer than Jest's 5 s default.
jest.setTimeout(30_000);

describe('NatsTracePropagator (real nats-server, W3C headers)', () => {
  const exporter = new InMemorySpanExporter();
  const propagator = new NatsTracePropagator();
  let server: LocalNatsServer;
  let client: NatsTransport;
  let worker: NatsTransport;

  const finished = async (name: string): Promise<ReadableSpan> => {
    await flushTracing();
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (!span) throw new Error(`no finished span "${name}" (have: ${exporter.getFinishedSpans().map((s) => s.name)})`);
    return span;
  };
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const idOf = (span: ReadableSpan) => span.spanContext().spanId;
  const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

  beforeAll(async () => {
    startTracing({ serviceName: 'propagation-spec', exporter });
    server = await LocalNatsServer.start();
    client = await NatsTransport.connect({ servers: server.url, name: 'client', propagator });
    worker = await NatsTransport.connect({ servers: server.url, name: 'worker', propagator });
  });
  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await server?.stop();
    await shutdownTracing();
  });
  beforeEach(() => exporter.reset());

  it('carries traceparent through the transport: the handler runs in the sender’s trace', async () => {
    const seen: { traceparent?: string; traceId?: string; parentId?: string }[] = [];
    const sub = worker.serve<{ n: number }, number>('t.double', ({ n }, request) =>
      withSpan('handle double', {}, () => {
        seen.push({ traceparent: request.headers?.get('traceparent') });
        return n * 2;
      }),
    );
    await worker.flush();

    const answer = await withSpan('step double', {}, () => client.request<number>('t.double', { n: 21 }));
    sub.unsubscribe();

    expect(answer).toBe(42);
    const step = await finished('step double');
    const send = await finished('send t.double');
    const receive = await finished('process t.double');
    const handler = await finished('handle double');
    // The header names the send span; the handler runs inside the receive span, its child.
    expect(seen[0].traceparent).toBe(`00-${traceOf(send)}-${idOf(send)}-01`);
    expect(parentOf(send)).toBe(idOf(step));
    expect(parentOf(receive)).toBe(idOf(send));
    expect(traceOf(handler)).toBe(traceOf(step));
    expect(parentOf(handler)).toBe(idOf(receive));
  });

  it('makes a send span around the request and a receive span, its child, around the handler', async () => {
    const subject = Subjects.service('echo', '1.0.0');
    let insideHandler: { traceId?: string; spanId?: string } = {};
    // NatsTransport.serve wraps the handler in traceReceive, and request wraps the send in traceSend.
    const sub = worker.serve<{ value: string }, { value: string }>(
      subject,
      async (data) => {
        insideHandler = { traceId: currentTraceId(), spanId: currentSpanId() };
        return data;
      },
      { queue: subject },
    );
    await worker.flush();

    await withSpan('step echo', { 'yunbian.step.id': 'echo' }, () => client.request(subject, { value: 'hi' }));
    sub.unsubscribe();

    const step = await finished('step echo');
    const send = await finished('send yb.svc.echo.1_0_0');
    const receive = await finished('process yb.svc.echo.1_0_0');
    expect(new Set([traceOf(step), traceOf(send), traceOf(receive)]).size).toBe(1);
    expect(parentOf(send)).toBe(idOf(step));
    expect(parentOf(receive)).toBe(idOf(send));
    expect(insideHandler).toEqual({ traceId: traceOf(receive), spanId: idOf(receive) });
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(receive.kind).toBe(SpanKind.CONSUMER);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'request',
    });
    expect(receive.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': subject,
    });
    // The send span lasts until the reply, and the worker ends its receive span before it
    // replies: the receive span is finished first. Compared by the order spans end in, not by
    // their timestamps: the SDK anchors each span's start to Date.now() (whole milliseconds),
    // so end times of spans less than a millisecond apart may come out in either order.
    const endOrder = exporter.getFinishedSpans().map((s) => s.name);
    expect(endOrder.indexOf(receive.name)).toBeLessThan(endOrder.indexOf(send.name));
  });

  it('marks both spans failed when the handler throws, with the error code', async () => {
    const subject = Subjects.instance('i-1');
    const info: NatsMessageInfo = { subject, operation: 'request' };
    const sub = worker.serve(subject, (_data, request) =>
      propagator.traceReceive(request.headers, info, () => {
        throw new YunbianError('VALIDATION_FAILED', '/value is required');
      }),
    );
    await worker.flush();

    await expect(propagator.traceSend(info, () => client.request(subject, {}))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    sub.unsubscribe();

    const send = await finished('send yb.inst.{instance}');
    const receive = await finished('process yb.inst.{instance}');
    expect(parentOf(receive)).toBe(idOf(send));
    for (const span of [send, receive]) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: '/value is required' });
      expect(span.attributes['yunbian.error.code']).toBe('VALIDATION_FAILED');
    }
  });

  it('traces control traffic only inside an existing trace; service calls start one', async () => {
    const heartbeat: NatsMessageInfo = { subject: Subjects.nodeHeartbeat('edge-a'), operation: 'publish' };
    const call: NatsMessageInfo = { subject: Subjects.service('echo', '1.0.0'), operation: 'request' };
    propagator.traceSend(heartbeat, () => undefined);
    propagator.traceReceive(undefined, heartbeat, () => undefined);
    await flushTracing();
    expect(exporter.getFinishedSpans()).toHaveLength(0);

    await withSpan('deploy', {}, async () => propagator.traceSend(heartbeat, () => undefined));
    expect(parentOf(await finished('send yb.evt.node.{node}.heartbeat'))).toBe(idOf(await finished('deploy')));

    propagator.traceSend(call, () => undefined);
    expect(parentOf(await finished('send yb.svc.echo.1_0_0'))).toBeUndefined();
  });

  it('reads trace headers whatever their case, and ignores the context active when the message arrives', async () => {
    const headers = createHeaders();
    headers.set('Traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const seen = await withSpan('connection setup', {}, async () =>
      propagator.extract(headers, () => ({ traceId: currentTraceId(), spanId: currentSpanId() })),
    );
    expect(seen).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' });
    const none = await withSpan('connection setup', {}, async () =>
      propagator.extract(undefined, () => currentTraceId()),
    );
    expect(none).toBeUndefined();
  });

  it('writes no headers once tracing is off', async () => {
    await shutdownTracing();
    const headers = createHeaders();
    await withSpan('untraced', {}, async () => propagator.inject(headers));
    expect(headers.keys()).toEqual([]);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
