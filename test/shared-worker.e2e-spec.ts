import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { isRunning, TestCluster, type Proc } from './support/cluster';

jest.setTimeout(90_000);

/** Light services in one worker process per node (`isolation: 'shared'`), across real processes. */
describe('shared worker (real nats-server, orchestrator, agents)', () => {
  let cluster: TestCluster;
  let agent: Proc;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    agent = cluster.startAgent(
      { id: 'edge-s', site: 'site-s', tier: 'edge', costPerHour: 0 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    cluster.startAgent(
      { id: 'edge-solo', site: 'site-s', tier: 'edge', costPerHour: 0 },
      { YUNBIAN_HEARTBEAT_MS: '500', YUNBIAN_SHARED_WORKER: '0' },
    );
    await cluster.waitFor(
      async () => (await cluster.get<NodeRecord[]>('/nodes')).filter((n) => n.status === 'alive').length === 2,
      30_000,
      'both agents',
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const instance = (id: string) => cluster.get<InstanceRecord>(`/instances/${id}`);
  const start = async (service: string, nodeId: string, config?: Record<string, unknown>) => {
    const { status, body } = await cluster.call('POST', '/instances', { service, nodeId, config });
    expect(status).toBe(201);
    return body as unknown as InstanceRecord;
  };

  let a: InstanceRecord;
  let b: InstanceRecord;
  let echo: InstanceRecord;

  it('runs instances of shared services in one process, each on its own subjects; others in their own', async () => {
    a = await cluster.deploy('shared-echo@^1', 'edge-s');
    b = await cluster.deploy('shared-echo@^1', 'edge-s');
    echo = await cluster.deploy('echo@^1', 'edge-s');
    expect(a).toMatchObject({ isolation: 'shared' });
    expect(b.pid).toBe(a.pid);
    expect(echo).toMatchObject({ isolation: 'process' });
    expect(echo.pid).not.toBe(a.pid);

    const client = await cluster.client();
    for (const i of [a, b]) {
      await expect(client.request(i.subject, { value: i.id })).resolves.toEqual({
        value: i.id,
        instanceId: i.id,
        pid: a.pid,
      });
    }
    // With sharing off on its node, the same service gets a process of its own.
    const solo = await cluster.deploy('shared-echo@^1', 'edge-solo');
    expect(solo.isolation).toBe('process');
    expect(solo.pid).not.toBe(a.pid);
  });

  it('keeps concurrency and load per instance', async () => {
    const client = await cluster.client();
    // concurrency 1: the second call to a waits in a's queue, b stays idle.
    const calls = [1, 2].map(() => client.request(a.subject, { value: 'slow', delayMs: 4_000 }, { timeoutMs: 20_000 }));
    await cluster.waitFor(
      async () => {
        const [ia, ib] = await Promise.all([instance(a.id), instance(b.id)]);
        return ia.inFlight === 1 && ia.queued === 1 && ib.inFlight === 0 && ib.queued === 0;
      },
      10_000,
      'a busy with one queued, b idle',
    );
    await Promise.all(calls);
  });

  it("shows the agent's memory and each instance's on GET /nodes", async () => {
    const node = await cluster.waitFor(
      async () => {
        const n = await cluster.node('edge-s');
        return n?.load?.sharedWorkerMemoryMb && Object.keys(n.load.instanceMemoryMb ?? {}).length === 3 ? n : undefined;
      },
      10_000,
      'memory figures in the heartbeat',
    );
    const load = node.load!;
    expect(load.agentMemoryMb).toBeGreaterThan(20);
    expect(load.sharedWorkerMemoryMb).toBeGreaterThan(20);
    const shares = [load.instanceMemoryMb![a.id], load.instanceMemoryMb![b.id]];
    // Each shared instance is given half of the shared process.
    for (const share of shares) expect(Math.abs(share - load.sharedWorkerMemoryMb! / 2)).toBeLessThanOrEqual(1);
    expect(load.instanceMemoryMb![echo.id]).toBeGreaterThan(20);
  });

  it('isolates a shared instance that fails to start: it alone fails and retries', async () => {
    const broken = await start('shared-echo@^1', 'edge-s', { failToStart: true });
    const failed = await cluster.waitFor(
      async () => {
        const i = await instance(broken.id);
        return i.restarts >= 1 && i.lastError ? i : undefined;
      },
      20_000,
      'the broken instance to fail',
    );
    expect(failed.lastError).toContain('shared-echo was asked to fail at start');
    expect(await instance(a.id)).toMatchObject({ status: 'ready', pid: a.pid, restarts: 0 });
    expect((await cluster.call('DELETE', `/instances/${broken.id}`)).status).toBe(202);
  });

  it('drains one shared instance while the others keep serving from the same process', async () => {
    const client = await cluster.client();
    const running = client.request(b.subject, { value: 'finish me', delayMs: 1_000 }, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    expect((await cluster.call('DELETE', `/instances/${b.id}`)).status).toBe(202);
    await expect(running).resolves.toMatchObject({ value: 'finish me', instanceId: b.id });
    await cluster.waitFor(
      async () => (await cluster.call('GET', `/instances/${b.id}`)).status === 404,
      10_000,
      'b to be gone',
    );
    expect(isRunning(a.pid!)).toBe(true);
    await expect(client.request(a.subject, { value: 'still here' })).resolves.toMatchObject({ pid: a.pid });
  });

  it('restarts every instance of a crashed shared worker, each saying why', async () => {
    const c = await cluster.deploy('shared-echo@^1', 'edge-s');
    expect(c.pid).toBe(a.pid);
    process.kill(a.pid!, 'SIGKILL');
    const restarted = await cluster.waitFor(
      async () => {
        const list = await Promise.all([instance(a.id), instance(c.id)]);
        return list.every((i) => i.status === 'ready' && i.restarts === 1 && i.pid !== a.pid) ? list : undefined;
      },
      20_000,
      'both shared instances back in a new shared worker',
    );
    expect(restarted[1].pid).toBe(restarted[0].pid);
    for (const i of restarted) {
      expect(i.lastError).toBe(`the shared worker (pid ${a.pid}) was killed by SIGKILL, ending all 2 instances in it`);
    }
    // The dedicated worker was not touched.
    expect(await instance(echo.id)).toMatchObject({ status: 'ready', pid: echo.pid, restarts: 0 });
    a = restarted[0];
  });

  it('lets the shared worker go when its agent dies, so no orphan keeps serving', async () => {
    agent.child.kill('SIGKILL');
    await cluster.waitFor(async () => !isRunning(a.pid!), 15_000, 'the orphaned shared worker to exit');
  });
});
