import { LocalNatsServer } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { NatsTransport, OutcomeStore, YunbianError } from '@yunbian/transport';
import { IDEMPOTENCY_HEADER, ServiceHost } from './service-host';
import { serviceDescriptorOf, YunbianService, type CallContext } from './service.decorator';

// These start a real nats-server: on a loaded machine that alone can take longer than Jest's 5 s default.
jest.setTimeout(30_000);

@YunbianService({
  name: 'sleepy',
  version: '2.1.0',
  kind: 'data',
  input: { type: 'object', required: ['ms'], properties: { ms: { type: 'integer', minimum: 0 } } },
  concurrency: 2,
})
class SleepyService {
  started = 0;
  async handle(input: { ms: number }, context: CallContext) {
    this.started++;
    await new Promise((r) => setTimeout(r, input.ms));
    return { slept: input.ms, key: context.idempotencyKey ?? null, instance: context.instanceId };
  }
}

/** Like SleepyService, with its outcomes kept in the `yb-outcomes` bucket too. */
@YunbianService({
  name: 'careful',
  version: '1.0.0',
  kind: 'data',
  input: { type: 'object', properties: { fail: { type: 'boolean' } } },
  durableResults: true,
})
class CarefulService {
  static started = 0;
  handle(input: { fail?: boolean }, context: CallContext) {
    CarefulService.started++;
    if (input.fail) throw new YunbianError('INTERNAL', `failed once on ${context.instanceId}`);
    return { ranOn: context.instanceId };
  }
}

describe('ServiceHost (real nats-server)', () => {
  let server: LocalNatsServer;
  let client: NatsTransport;
  let hostSide: NatsTransport;

  beforeAll(async () => {
    server = await LocalNatsServer.start();
    client = await NatsTransport.connect({ servers: server.url, name: 'client' });
    hostSide = await NatsTransport.connect({ servers: server.url, name: 'host' });
  });
  afterAll(async () => {
    await client.close();
    await hostSide.close();
    await server.stop();
  });

  const descriptor = serviceDescriptorOf(SleepyService)!;

  it('declares the service through its decorator', () => {
    expect(descriptor).toMatchObject({ name: 'sleepy', version: '2.1.0', kind: 'data', concurrency: 2 });
  });

  it('serves on the shared and the pinned subject, passing the idempotency key', async () => {
    const host = new ServiceHost(hostSide, descriptor, new SleepyService(), { instanceId: 'sleepy-1', nodeId: 'n1' });
    await host.start();
    await expect(client.request(Subjects.service('sleepy', '2.1.0'), { ms: 1 })).resolves.toMatchObject({
      slept: 1,
      instance: 'sleepy-1',
    });
    await expect(
      client.request(Subjects.instance('sleepy-1'), { ms: 1 }, { headers: { [IDEMPOTENCY_HEADER]: 'run1:step1:1' } }),
    ).resolves.toMatchObject({ key: 'run1:step1:1' });
    await host.drain(1_000);
  });

  it('rejects input that does not match the schema, with pointers', async () => {
    const host = new ServiceHost(hostSide, descriptor, new SleepyService(), { instanceId: 'sleepy-2', nodeId: 'n1' });
    await host.start();
    await expect(client.request(Subjects.instance('sleepy-2'), { ms: 'soon' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'input to sleepy@2.1.0 does not match its schema: /ms must be integer (got "soon")',
    });
    await host.drain(1_000);
  });

  it('limits concurrency, queues the rest, and answers OVERLOADED beyond the queue', async () => {
    const service = new SleepyService();
    const loads: number[] = [];
    const host = new ServiceHost(hostSide, descriptor, service, {
      instanceId: 'sleepy-3',
      nodeId: 'n1',
      maxQueue: 1,
      onLoad: (l) => loads.push(l.inFlight),
    });
    await host.start();
    const calls = [0, 1, 2, 3].map(() =>
      client.request(Subjects.instance('sleepy-3'), { ms: 300 }, { timeoutMs: 5_000 }).then(
        () => 'ok',
        (e: { code: string }) => e.code,
      ),
    );
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect(results.filter((r) => r === 'OVERLOADED')).toHaveLength(1);
    expect(Math.max(...loads)).toBe(2);
    // Request times count the queue wait: two calls of 300 ms, one that waited 300 ms for a slot.
    expect(host.load.latencyMs).toBeGreaterThanOrEqual(390);
    await host.drain(1_000);
  });

  it('answers a repeated idempotency key with the first reply, without running the handler again', async () => {
    const service = new SleepyService();
    const host = new ServiceHost(hostSide, descriptor, service, { instanceId: 'sleepy-5', nodeId: 'n1' });
    await host.start();
    const ask = (key: string, ms: number) =>
      client.request<{ slept: number }>(
        Subjects.instance('sleepy-5'),
        { ms },
        { timeoutMs: 5_000, headers: { [IDEMPOTENCY_HEADER]: key } },
      );
    // Three requests with one key while the first runs, and one after it ended: one execution.
    const running = [ask('run1:a:1', 300), ask('run1:a:1', 300), ask('run1:a:1', 300)];
    await expect(Promise.all(running)).resolves.toEqual([
      expect.objectContaining({ slept: 300 }),
      expect.objectContaining({ slept: 300 }),
      expect.objectContaining({ slept: 300 }),
    ]);
    // The repeat gets the first reply even with another input (the key names the attempt).
    await expect(ask('run1:a:1', 1)).resolves.toMatchObject({ slept: 300 });
    expect(service.started).toBe(1);
    expect(host.repeatsAnswered).toBe(3);
    // Another key runs; requests without a key always run.
    await expect(ask('run1:a:2', 1)).resolves.toMatchObject({ slept: 1 });
    await client.request(Subjects.instance('sleepy-5'), { ms: 1 });
    await client.request(Subjects.instance('sleepy-5'), { ms: 1 });
    expect(service.started).toBe(4);
    await host.drain(1_000);
  });

  it('answers a repeated key whose handler failed with the same error', async () => {
    let runs = 0;
    const failing = {
      handle: () => {
        runs++;
        throw new YunbianError('INTERNAL', `failed on run ${runs}`);
      },
    };
    const host = new ServiceHost(hostSide, descriptor, failing, { instanceId: 'sleepy-6', nodeId: 'n1' });
    await host.start();
    const ask = () =>
      client.request(Subjects.instance('sleepy-6'), { ms: 1 }, { headers: { [IDEMPOTENCY_HEADER]: 'run2:a:1' } });
    await expect(ask()).rejects.toMatchObject({ code: 'INTERNAL', message: 'failed on run 1' });
    await expect(ask()).rejects.toMatchObject({ code: 'INTERNAL', message: 'failed on run 1' });
    expect(runs).toBe(1);
    await host.drain(1_000);
  });

  it('keeps a key only for its window', async () => {
    const service = new SleepyService();
    const host = new ServiceHost(hostSide, descriptor, service, {
      instanceId: 'sleepy-7',
      nodeId: 'n1',
      idempotencyWindowMs: 50,
    });
    await host.start();
    const ask = () =>
      client.request(Subjects.instance('sleepy-7'), { ms: 1 }, { headers: { [IDEMPOTENCY_HEADER]: 'run3:a:1' } });
    await ask();
    await new Promise((r) => setTimeout(r, 120));
    await ask();
    expect(service.started).toBe(2);
    await host.drain(1_000);
  });

  it('keeps outcomes of a durableResults service in the bucket: another instance (a restarted worker) answers the key', async () => {
    const careful = serviceDescriptorOf(CarefulService)!;
    expect(careful.durableResults).toBe(true);
    const outcomes = await OutcomeStore.open(hostSide, 60_000);
    const first = new ServiceHost(hostSide, careful, new CarefulService(), {
      instanceId: 'careful-1',
      nodeId: 'n1',
      outcomes,
    });
    await first.start();
    const ask = (instance: string, key: string, fail = false) =>
      client.request(Subjects.instance(instance), { fail }, { headers: { [IDEMPOTENCY_HEADER]: key } });
    await expect(ask('careful-1', 'run4:a:1')).resolves.toEqual({ ranOn: 'careful-1' });
    await expect(ask('careful-1', 'run4:b:1', true)).rejects.toMatchObject({ message: 'failed once on careful-1' });
    await first.drain(1_000);
    await expect(outcomes.get('run4:a:1')).resolves.toEqual({ ok: true, output: { ranOn: 'careful-1' } });

    // A new worker, nothing in its memory: the bucket answers both keys.
    const second = new ServiceHost(hostSide, careful, new CarefulService(), {
      instanceId: 'careful-2',
      nodeId: 'n1',
      outcomes,
    });
    await second.start();
    await expect(ask('careful-2', 'run4:a:1')).resolves.toEqual({ ranOn: 'careful-1' });
    await expect(ask('careful-2', 'run4:b:1', true)).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'failed once on careful-1',
    });
    expect(CarefulService.started).toBe(2);
    expect(second.repeatsAnswered).toBe(2);
    // A service that does not declare durableResults ignores the store.
    const plain = new SleepyService();
    const third = new ServiceHost(hostSide, descriptor, plain, { instanceId: 'sleepy-8', nodeId: 'n1', outcomes });
    await third.start();
    await client.request(Subjects.instance('sleepy-8'), { ms: 1 }, { headers: { [IDEMPOTENCY_HEADER]: 'run4:c:1' } });
    await expect(outcomes.get('run4:c:1')).resolves.toBeUndefined();
    await second.drain(1_000);
    await third.drain(1_000);
  });

  it('drains: running requests finish, new ones go elsewhere', async () => {
    const host = new ServiceHost(hostSide, descriptor, new SleepyService(), { instanceId: 'sleepy-4', nodeId: 'n1' });
    await host.start();
    const running = client.request(Subjects.instance('sleepy-4'), { ms: 400 }, { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 50));
    const drained = host.drain(5_000);
    await expect(running).resolves.toMatchObject({ slept: 400 });
    await expect(drained).resolves.toBe(true);
    await expect(client.request(Subjects.instance('sleepy-4'), { ms: 1 }, { timeoutMs: 500 })).rejects.toMatchObject({
      code: 'NO_RESPONDERS',
    });
  });
});
