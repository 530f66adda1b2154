import { LocalNatsServer } from '@yunbian/common';
import { RemoteError, YunbianError } from './errors';
import { NatsTransport } from './nats-transport';
import type { TraceHeaderPropagator } from './trace-headers';

// These start a real nats-server: on a loaded machine that alone can take longer than Jest's 5 s default.
jest.setTimeout(30_000);

describe('NatsTransport (real nats-server)', () => {
  let server: LocalNatsServer;
  let a: NatsTransport;
  let b: NatsTransport;
  const injected: string[] = [];
  const propagator: TraceHeaderPropagator = {
    inject: (h) => h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
    extract: (h, fn) => {
      injected.push(h?.get('traceparent') ?? '');
      return fn();
    },
  };

  beforeAll(async () => {
    server = await LocalNatsServer.start();
    a = await NatsTransport.connect({ servers: server.url, name: 'a', propagator });
    b = await NatsTransport.connect({ servers: server.url, name: 'b', propagator });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await server.stop();
  });

  it('answers requests and carries trace headers through the hook', async () => {
    const sub = b.serve<{ n: number }, { doubled: number }>('t.double', ({ n }) => ({ doubled: n * 2 }));
    await b.flush();
    injected.length = 0;
    await expect(a.request('t.double', { n: 21 })).resolves.toEqual({ doubled: 42 });
    expect(injected).toContain('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    sub.unsubscribe();
  });

  it('times a request on request: bytes each way, elapsed time, and the handler time the reply carries', async () => {
    const sub = b.serve<{ pad: string }, number>('t.timed', async ({ pad }) => {
      await new Promise((r) => setTimeout(r, 50));
      return pad.length;
    });
    await b.flush();
    const timed = await a.requestTimed<number>('t.timed', { pad: 'x'.repeat(10_000) });
    expect(timed.value).toBe(10_000);
    expect(timed.requestBytes).toBe(JSON.stringify({ pad: 'x'.repeat(10_000) }).length);
    expect(timed.replyBytes).toBe(5);
    // The handler slept 50 ms (timers may fire a little early); the exchange took at least that.
    expect(timed.handlerMs).toBeGreaterThanOrEqual(45);
    expect(timed.elapsedMs).toBeGreaterThanOrEqual(timed.handlerMs!);
    // A plain request does not ask, and its reply carries no timing header.
    const raw = await a.connection.request('t.timed', new TextEncoder().encode('{"pad":"y"}'), { timeout: 2_000 });
    expect(raw.headers?.get('Yb-Handler-Ms') ?? '').toBe('');
    // JSON the caller made already is sent as it is (here deliberately not the value's, to tell).
    const sent = await a.requestTimed<number>('t.timed', { pad: 'ignored' }, { json: '{"pad":"abc"}' });
    expect(sent.value).toBe(3);
    expect(sent.requestBytes).toBe('{"pad":"abc"}'.length);
    sub.unsubscribe();
  });

  it('turns thrown errors into structured replies with code, message and details', async () => {
    const sub = b.serve('t.fail', () => {
      throw new YunbianError('UNSATISFIABLE', 'needs a gpu', { missing: ['gpu'] });
    });
    const plain = b.serve('t.crash', () => {
      throw new Error('disk full');
    });
    await b.flush();
    const err = await a.request('t.fail', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ code: 'UNSATISFIABLE', message: 'needs a gpu', details: { missing: ['gpu'] } });
    await expect(a.request('t.crash', {})).rejects.toMatchObject({ code: 'INTERNAL', message: 'disk full' });
    sub.unsubscribe();
    plain.unsubscribe();
  });

  it('fails a request at its deadline when nobody answers in time', async () => {
    const sub = b.serve('t.slow', () => new Promise((r) => setTimeout(r, 2_000)));
    await b.flush();
    const started = Date.now();
    await expect(a.request('t.slow', {}, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'TIMEOUT',
      message: 'no reply on t.slow within 200 ms',
    });
    expect(Date.now() - started).toBeLessThan(1_500);
    sub.unsubscribe();
  });

  it('sends an encoded body as it is, with its headers, and returns the reply message (requestRaw)', async () => {
    const sub = b.connection.subscribe('t.raw', {
      callback: (_err, msg) => {
        msg.respond(`${new TextDecoder().decode(msg.data)}|${msg.headers?.get('X-Op') ?? ''}`);
      },
    });
    await b.flush();
    const reply = await a.requestRaw('t.raw', '{"already":"json"}', { headers: { 'X-Op': 'PURGE' } });
    expect(new TextDecoder().decode(reply.data)).toBe('{"already":"json"}|PURGE');
    await expect(a.requestRaw('t.nobody', new Uint8Array(0))).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    sub.unsubscribe();
  });

  it('says when nothing listens', async () => {
    await expect(a.request('t.nobody', {})).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });

  it('refuses payloads over the server limit before sending, naming sizes', async () => {
    const big = 'x'.repeat(a.maxPayload);
    expect(() => a.publish('t.big', big)).toThrow(/exceeds the NATS limit of \d+ bytes \(server max_payload 1048576\)/);
    await expect(a.request('t.big', big)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers oversized replies with a structured error instead of dropping them', async () => {
    const sub = b.serve('t.bigreply', () => 'y'.repeat(b.maxPayload));
    await b.flush();
    await expect(a.request('t.bigreply', {})).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    sub.unsubscribe();
  });

  it('delivers each request to one member of a queue group', async () => {
    const served: string[] = [];
    const c = await NatsTransport.connect({ servers: server.url, name: 'c' });
    const s1 = b.serve('t.q', () => served.push('b'), { queue: 't.q' });
    const s2 = c.serve('t.q', () => served.push('c'), { queue: 't.q' });
    await Promise.all([b.flush(), c.flush()]);
    for (let i = 0; i < 40; i++) await a.request('t.q', {});
    expect(served).toHaveLength(40);
    expect(new Set(served)).toEqual(new Set(['b', 'c']));
    s1.unsubscribe();
    s2.unsubscribe();
    await c.close();
  });

  it('rejects non-JSON messages with BAD_REQUEST', async () => {
    const sub = b.serve('t.json', (x) => x);
    await b.flush();
    const reply = await a.connection.request('t.json', new TextEncoder().encode('{oops'), { timeout: 2_000 });
    expect(reply.headers?.get('Yb-Error')).toBe('1');
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ code: 'BAD_REQUEST' });
    sub.unsubscribe();
  });
});
