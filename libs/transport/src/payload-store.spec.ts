import { LocalNatsServer } from '@yunbian/common';
import { NatsTransport } from './nats-transport';
import { isPayloadRef, PayloadStore } from './payload-store';

// These start a real nats-server: on a loaded machine that alone can take longer than Jest's 5 s default.
jest.setTimeout(30_000);

describe('PayloadStore (real nats-server with JetStream)', () => {
  let server: LocalNatsServer;
  let transport: NatsTransport;
  let store: PayloadStore;

  beforeAll(async () => {
    server = await LocalNatsServer.start();
    transport = await NatsTransport.connect({ servers: server.url, name: 'payloads' });
    store = await PayloadStore.open(transport, 1024);
  });
  afterAll(async () => {
    await transport.close();
    await server.stop();
  });

  it('leaves small values alone and moves large ones behind a reference', async () => {
    expect(await store.offload({ a: 1 }, 'r1.small')).toEqual({ a: 1 });
    const big = { data: 'x'.repeat(5000) };
    const ref = await store.offload(big, 'r1.big');
    expect(isPayloadRef(ref)).toBe(true);
    await expect(store.resolve(ref)).resolves.toEqual(big);
  });

  it('moves only the large fields of an object, so small ones stay readable', async () => {
    const value = { geometry: { width: 3 }, tensor: { float32: 'y'.repeat(4000) }, image: 'z'.repeat(4000) };
    const stored = (await store.offloadFields(value, 'r2.out')) as Record<string, unknown>;
    expect(stored.geometry).toEqual({ width: 3 });
    expect(isPayloadRef(stored.tensor)).toBe(true);
    expect(isPayloadRef(stored.image)).toBe(true);
    await expect(store.resolveDeep(stored)).resolves.toEqual(value);
  });

  it('deletes by prefix and says clearly when a reference is gone', async () => {
    const ref = await store.offload({ data: 'q'.repeat(5000) }, 'r3.big');
    expect(await store.deleteWithPrefix('r3.')).toBe(1);
    await expect(store.resolve(ref)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('r3.big'),
    });
  });
});
