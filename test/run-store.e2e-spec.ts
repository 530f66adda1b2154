import { Kvm, type KV } from '@nats-io/kv';
import { TestCluster } from './support/cluster';

jest.setTimeout(60_000);

const RETENTION_MS = 2_000;

interface RunView {
  id: string;
  status: string;
  output?: unknown;
}

describe('the run store: retention, and records too large for a KV value', () => {
  let cluster: TestCluster;
  let active: KV;
  let finished: KV;

  const stored = async (kv: KV, id: string) => (await kv.get(`run.${id}`))?.operation === 'PUT';
  const ended = (id: string, timeoutMs: number) =>
    cluster.waitFor(
      async () => {
        const run = await cluster.get<RunView>(`/runs/${id}`);
        return run.status === 'running' ? undefined : run;
      },
      timeoutMs,
      `run ${id} to end`,
    );
  const restartOrchestrator = async (signal: NodeJS.Signals) => {
    cluster.orchestrator!.child.kill(signal);
    await new Promise((resolve) => cluster.orchestrator!.child.once('exit', resolve));
    await cluster.startOrchestrator({ YUNBIAN_RUN_RETENTION_MS: '60000' });
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({ YUNBIAN_RUN_RETENTION_MS: String(RETENTION_MS) });
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    await cluster.deploy('echo@1.0.0', 'edge-a');
    const { status } = await cluster.call('POST', '/workflows', {
      name: 'hold',
      steps: [{ id: 'a', service: 'echo@^1', input: { value: '=$input.value', delayMs: '=$input.delayMs' } }],
      output: '$steps.a.output.value',
    });
    expect(status).toBe(201);
    const wide = await cluster.call('POST', '/workflows', {
      name: 'wide',
      steps: [
        {
          id: 'each',
          service: 'echo@^1',
          forEach: { items: '$input.items', concurrency: 8 },
          input: { value: '=$item', delayMs: '=$input.delayMs' },
        },
      ],
      output: { count: '=$count($steps.each.output)', last: '=$steps.each.output[-1].value' },
    });
    expect(wide.status).toBe(201);
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
    expect(await ended(slowId, 20_000)).toMatchObject({ status: 'succeeded', output: 3 });
    expect(await stored(finished, slowId)).toBe(true);
    await cluster.waitFor(async () => !(await stored(active, slowId)), 5_000, 'the old copy to go');
  });

  it('keeps a run whose record outgrows a KV value (a forEach over 400 items) in the object store, through a kill -9', async () => {
    const items = Array.from({ length: 400 }, (_, i) => `item ${i} ${'x'.repeat(3_000)}`);
    const started = await cluster.call('POST', '/workflows/wide/runs', { input: { items, delayMs: 15 } });
    const id = (started.body as unknown as RunView).id;
    // Killed mid-run, once the record is well past the 1 MiB a KV value may hold.
    await cluster.waitFor(
      async () => {
        const run = await cluster.get<{ steps: { history: { finishedAt?: string }[] }[] }>(`/runs/${id}`);
        return run.steps[0].history.filter((h) => h.finishedAt).length >= 200;
      },
      30_000,
      'half the items',
    );
    expect((await active.get(`run.${id}`))?.json()).toEqual({ $ybSpilled: { bytes: expect.any(Number) } });
    await restartOrchestrator('SIGKILL');
    expect(await ended(id, 60_000)).toMatchObject({ status: 'succeeded', output: { count: 400, last: items[399] } });
    // Answered from memory as soon as it ends; stored as finished right after.
    const stored = await cluster.waitFor(
      async () => (await finished.get(`run.${id}`))?.json<{ $ybSpilled?: { bytes: number } }>(),
      5_000,
      'the finished record',
    );
    expect(stored.$ybSpilled?.bytes).toBeGreaterThan(1024 * 1024);
  });

  it('applies a changed retention to the existing bucket on restart, and reads kept runs after one', async () => {
    await restartOrchestrator('SIGTERM');
    expect((await finished.status()).ttl).toBe(60_000);
    const kept = await cluster.call('POST', '/workflows/hold/runs?wait=10000', { input: { value: 4, delayMs: 0 } });
    const id = (kept.body as unknown as RunView).id;
    await restartOrchestrator('SIGTERM');
    expect(await cluster.get<RunView>(`/runs/${id}`)).toMatchObject({ id, status: 'succeeded', output: 4 });
  });
});
