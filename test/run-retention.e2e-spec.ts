import { Kvm, type KV } from '@nats-io/kv';
import { TestCluster } from './support/cluster';

jest.setTimeout(60_000);

const RETENTION_MS = 2_000;

interface RunView {
  id: string;
  status: string;
  output?: unknown;
}

describe('finished runs are kept for the retention period, runs in progress however long they take', () => {
  let cluster: TestCluster;
  let active: KV;
  let finished: KV;

  const stored = async (kv: KV, id: string) => (await kv.get(`run.${id}`))?.operation === 'PUT';

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({ YUNBIAN_RUN_RETENTION_MS: String(RETENTION_MS) });
    cluster.startAgent(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    await cluster.waitFor(async () => (await cluster.node('edge-a'))?.status === 'alive', 20_000, 'agent');
    await cluster.deploy('echo@1.0.0', 'edge-a');
    const { status } = await cluster.call('POST', '/workflows', {
      name: 'hold',
      steps: [{ id: 'a', service: 'echo@^1', input: { value: '=$input.value', delayMs: '=$input.delayMs' } }],
      output: '$steps.a.output.value',
    });
    expect(status).toBe(201);
    const kvm = new Kvm((await cluster.client()).connection);
    [active, finished] = [await kvm.open('yb-runs'), await kvm.open('yb-runs-finished')];
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('moves a run to the finished bucket when it ends, and forgets it after the retention', async () => {
    const quick = await cluster.call('POST', '/workflows/hold/runs?wait=10000', { input: { value: 1, delayMs: 0 } });
    const ephemeral = await cluster.call('POST', '/workflows/hold/runs?wait=10000', {
      input: { value: 2, delayMs: 0 },
      durability: 'none',
    });
    const slow = await cluster.call('POST', '/workflows/hold/runs', { input: { value: 3, delayMs: 3 * RETENTION_MS } });
    const [quickId, ephemeralId, slowId] = [quick, ephemeral, slow].map((r) => (r.body as unknown as RunView).id);
    expect((quick.body as unknown as RunView).status).toBe('succeeded');
    expect(await stored(finished, quickId)).toBe(true);
    // Its copy in yb-runs is removed right after (not awaited by the run).
    await cluster.waitFor(async () => !(await stored(active, quickId)), 5_000, 'the old copy to go');
    expect(await stored(active, slowId)).toBe(true);

    // Past the retention: the finished runs are gone, the slow one is still running and readable.
    await new Promise((resolve) => setTimeout(resolve, RETENTION_MS * 2));
    const slowNow = await cluster.get<RunView>(`/runs/${slowId}`);
    expect(slowNow.status).toBe('running');
    expect(await stored(active, slowId)).toBe(true);
    for (const id of [quickId, ephemeralId]) {
      const { status, body } = await cluster.call('GET', `/runs/${id}`);
      expect(status).toBe(404);
      expect(body.message).toBe(
        `unknown run "${id}": never started, or finished more than 2 s ago (YUNBIAN_RUN_RETENTION_MS)`,
      );
    }
    await cluster.waitFor(async () => !(await stored(finished, quickId)), 10_000, 'the server to expire the run');
    const listed = await cluster.get<RunView[]>('/runs?workflow=hold');
    expect(listed.map((r) => r.id)).toEqual([slowId]);

    // The slow run ends long after it started, and is kept for the retention from then.
    const done = await cluster.waitFor(
      async () => {
        const run = await cluster.get<RunView>(`/runs/${slowId}`);
        return run.status === 'succeeded' ? run : undefined;
      },
      20_000,
      'the slow run to finish',
    );
    expect(done.output).toBe(3);
    expect(await stored(finished, slowId)).toBe(true);
    await cluster.waitFor(async () => !(await stored(active, slowId)), 5_000, 'the old copy to go');
  });

  it('applies a changed retention to the existing bucket on restart, and reads kept runs after one', async () => {
    const restart = async () => {
      cluster.orchestrator!.child.kill('SIGTERM');
      await new Promise((resolve) => cluster.orchestrator!.child.once('exit', resolve));
      await cluster.startOrchestrator({ YUNBIAN_RUN_RETENTION_MS: '60000' });
    };
    await restart();
    expect((await finished.status()).ttl).toBe(60_000);
    const kept = await cluster.call('POST', '/workflows/hold/runs?wait=10000', { input: { value: 4, delayMs: 0 } });
    const id = (kept.body as unknown as RunView).id;
    await restart();
    expect(await cluster.get<RunView>(`/runs/${id}`)).toMatchObject({ id, status: 'succeeded', output: 4 });
  });
});
