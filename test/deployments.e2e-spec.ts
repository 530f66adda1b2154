import type { DeploymentView, InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { TestCluster, type Proc } from './support/cluster';

jest.setTimeout(180_000);

// Small liveness and grace figures keep the test short. DEPLOYMENTS_E2E_DEFAULTS=1 runs it with the
// defaults instead (2 s heartbeats, dead after 6 s, 5 s grace) to measure the figures docs/deployments.md gives.
const DEFAULTS = process.env.DEPLOYMENTS_E2E_DEFAULTS === '1';
const HEARTBEAT_MS = DEFAULTS ? 2_000 : 500; // dead after 3 missed
// Long enough for a kill -9ed agent to start again before its replicas are re-placed, on a loaded machine.
const GRACE_MS = DEFAULTS ? 5_000 : 12_000;
const ORCHESTRATOR_ENV = DEFAULTS ? {} : { YUNBIAN_REPLACE_GRACE_MS: String(GRACE_MS), YUNBIAN_RECONCILE_MS: '500' };

interface Change {
  deployment: DeploymentView;
  dryRun: boolean;
  actions: { action: string; nodeId: string; instanceId?: string; reason: string; error?: string }[];
}

describe('deployments: declared replicas, reconciled across agent restarts and node deaths', () => {
  let cluster: TestCluster;
  const agents: Record<string, Proc> = {};
  const nodes = ['dn1', 'dn2', 'dn3'].map((id) => ({
    id: `${id}-${process.pid}`,
    site: 'factory',
    tier: 'edge' as const,
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0.1,
  }));
  const ids = nodes.map((n) => n.id);
  let oneOff: InstanceRecord;

  const startAgent = (node: (typeof nodes)[number]) => {
    agents[node.id] = cluster.startAgent(node, { YUNBIAN_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  };
  const deployment = () => cluster.get<DeploymentView>('/deployments/echoes');
  const owned = async () =>
    (await cluster.get<InstanceRecord[]>('/instances?service=echo')).filter((i) => i.owner?.name === 'echoes');
  /** Waits until the deployment has `n` ready replicas on alive nodes matching `where`. */
  const readyReplicas = (n: number, what: string, where: (i: InstanceRecord) => boolean = () => true) =>
    cluster.waitFor(
      async () => {
        const alive = new Set(
          (await cluster.get<NodeRecord[]>('/nodes')).filter((x) => x.status === 'alive').map((x) => x.id),
        );
        const ready = (await owned()).filter((i) => i.status === 'ready' && alive.has(i.nodeId) && where(i));
        return ready.length === n ? ready : undefined;
      },
      60_000,
      what,
    );

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({
      ...ORCHESTRATOR_ENV,
    });
    for (const node of nodes) startAgent(node);
    await cluster.waitFor(
      async () => (await cluster.get<NodeRecord[]>('/nodes')).filter((n) => n.status === 'alive').length === 3,
      30_000,
      'three nodes alive',
    );
    oneOff = await cluster.deploy('echo', ids[0]);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('documents the routes in the OpenAPI', async () => {
    const { paths } = await cluster.get<{ paths: Record<string, Record<string, unknown>> }>('/docs/openapi.json');
    expect(Object.keys(paths['/deployments']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/deployments/{name}']).sort()).toEqual(['delete', 'get', 'put']);
    expect(paths['/nodes/{id}']).toHaveProperty('delete');
    expect(JSON.stringify(paths['/placements/{id}/apply'])).toContain('dryRun');
  });

  it('refuses a bad spec naming the field and what is accepted', async () => {
    const bad = await cluster.call('POST', '/deployments', {
      name: 'bad',
      service: 'echo',
      replicas: { count: 1, min: 1 },
      selector: { tier: 'fog' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('/selector/tier must be one of "device", "edge", "cloud" (got "fog")');
    const both = await cluster.call('POST', '/deployments', {
      name: 'bad',
      service: 'echo',
      replicas: { count: 1, min: 1 },
    });
    expect(both.status).toBe(400);
    expect(both.body.message).toContain(
      '/replicas needs either count (a fixed number) or all of min, max and autoscale',
    );
    const range = await cluster.call('POST', '/deployments', {
      name: 'bad',
      service: 'echo',
      replicas: { min: 3, max: 2, autoscale: {} },
    });
    expect(range.body.message).toContain('/replicas/min must be at most max (2); got 3');
    expect(range.body.message).toContain('/replicas/autoscale needs queueDepth or latencyMs');
  });

  it('lists every start of a dry run and changes nothing', async () => {
    const spec = { name: 'echoes', service: 'echo@^1', replicas: { count: 2 }, placement: { maxPerNode: 1 } };
    const { status, body } = await cluster.call('POST', '/deployments?dryRun=true', spec);
    expect(status).toBe(200);
    const change = body as unknown as Change;
    expect(change.dryRun).toBe(true);
    expect(change.actions.map((a) => a.action)).toEqual(['start', 'start']);
    // The one-off instance's node is the fullest: the spread puts the replicas on the other two.
    expect(change.actions.map((a) => a.nodeId).sort()).toEqual([ids[1], ids[2]]);
    expect((await cluster.call('GET', '/deployments/echoes')).status).toBe(404);
    expect(await owned()).toEqual([]);
  });

  it('starts the replicas a deployment declares, labelled with it', async () => {
    const spec = { name: 'echoes', service: 'echo@^1', replicas: { count: 2 }, placement: { maxPerNode: 1 } };
    const { status, body } = await cluster.call('POST', '/deployments', spec);
    expect(status).toBe(201);
    const change = body as unknown as Change;
    expect(change.actions.filter((a) => a.error)).toEqual([]);
    expect(change.actions.map((a) => a.nodeId).sort()).toEqual([ids[1], ids[2]]);
    const ready = await readyReplicas(2, 'two ready replicas');
    expect(ready.every((i) => i.owner?.kind === 'deployment' && i.owner.revision === 1)).toBe(true);
    expect((await cluster.call('POST', '/deployments', spec)).status).toBe(409);
    const view = await cluster.waitFor(
      async () => {
        const d = await deployment();
        return d.status.ready === 2 ? d : undefined;
      },
      10_000,
      'the status to show 2 ready',
    );
    expect(view.status).toMatchObject({ desired: 2, ready: 2, problems: [] });
    expect(view.status.lastReconcileAt).toBeDefined();
  });

  it('starts the instances of a kill -9ed agent again on its node once it is back', async () => {
    const node = nodes[1];
    const before = (await owned()).find((i) => i.nodeId === node.id)!;
    agents[node.id].child.kill('SIGKILL');
    await cluster.waitFor(async () => (await cluster.node(node.id))?.status !== 'alive', 10_000, `${node.id} silent`);
    const restartedAt = Date.now();
    startAgent(node);
    const [again] = await readyReplicas(
      1,
      `a new replica on ${node.id}`,
      (i) => i.nodeId === node.id && i.id !== before.id,
    );
    process.stdout.write(
      `deployments.e2e: replica running again ${Date.now() - restartedAt} ms after the agent restarted\n`,
    );
    expect(again.owner).toMatchObject({ kind: 'deployment', name: 'echoes' });
    await readyReplicas(2, 'both replicas');
  });

  it('starts the replicas of a node killed for good elsewhere after the grace period', async () => {
    const node = nodes[2];
    agents[node.id].child.kill('SIGKILL');
    const killedAt = Date.now();
    await cluster.waitFor(async () => (await cluster.node(node.id))?.status === 'dead', 15_000, `${node.id} dead`);
    const deadAt = Date.now();
    const ready = await readyReplicas(2, 'two replicas on the nodes left', (i) => i.nodeId !== node.id);
    process.stdout.write(
      `deployments.e2e: replicas running elsewhere ${Date.now() - deadAt} ms after the node was dead (${Date.now() - killedAt} ms after the kill)\n`,
    );
    expect(ready.map((i) => i.nodeId).sort()).toEqual([ids[0], ids[1]]);
    const view = await deployment();
    expect(view.status.instances.find((i) => i.nodeId === node.id)).toMatchObject({ counted: false });
  });

  it('never drains a one-off instance, even where a deployment places replicas', async () => {
    const instance = await cluster.get<InstanceRecord>(`/instances/${oneOff.id}`);
    expect(instance).toMatchObject({ status: 'ready', nodeId: ids[0] });
    expect(instance.owner).toBeUndefined();
  });

  it('lists the drains of a smaller count in a dry run without doing them, then does them', async () => {
    const spec = { service: 'echo@^1', replicas: { count: 1 }, placement: { maxPerNode: 1 } };
    const dry = await cluster.call('PUT', '/deployments/echoes?dryRun=true', spec);
    expect(dry.status).toBe(200);
    const change = dry.body as unknown as Change;
    expect(change.actions.map((a) => a.action)).toEqual(['drain']);
    expect((await deployment()).spec.replicas).toEqual({ count: 2 });
    expect((await owned()).filter((i) => i.status === 'ready')).toHaveLength(2);
    const done = (await cluster.call('PUT', '/deployments/echoes', spec)).body as unknown as Change;
    expect(done.actions.map((a) => `${a.action} ${a.instanceId}`)).toEqual(
      change.actions.map((a) => `${a.action} ${a.instanceId}`),
    );
    await readyReplicas(1, 'one replica left');
  });

  it('removes a dead node with DELETE /nodes/{id}, and refuses an alive one', async () => {
    const alive = await cluster.call('DELETE', `/nodes/${ids[0]}`);
    expect(alive.status).toBe(409);
    expect(alive.body.message).toContain(`node ${ids[0]} is alive`);
    const dead = await cluster.call('DELETE', `/nodes/${ids[2]}`);
    expect(dead.status).toBe(200);
    expect((await cluster.call('GET', `/nodes/${ids[2]}`)).status).toBe(404);
    expect((await cluster.get<InstanceRecord[]>(`/instances?node=${ids[2]}`)).length).toBe(0);
    await cluster.waitFor(
      async () => !(await deployment()).status.instances.some((i) => i.nodeId === ids[2]),
      10_000,
      'the status to forget the removed node',
    );
  });

  it('drains its instances on DELETE, and only those', async () => {
    const { status, body } = await cluster.call('DELETE', '/deployments/echoes');
    expect(status).toBe(200);
    expect((body as unknown as Change).actions.map((a) => a.action)).toEqual(['drain']);
    await cluster.waitFor(async () => (await owned()).length === 0, 20_000, 'the replicas to go');
    expect((await cluster.get<InstanceRecord>(`/instances/${oneOff.id}`)).status).toBe('ready');
    expect((await cluster.call('GET', '/deployments/echoes')).status).toBe(404);
  });

  it('autoscales between min and max on the queue depth its replicas report, with hysteresis', async () => {
    const spec = {
      name: 'busy',
      service: 'echo',
      replicas: { min: 1, max: 2, autoscale: { queueDepth: 2, scaleUpAfterMs: 500, scaleDownAfterMs: 1_500 } },
      selector: { nodes: [ids[0]] },
    };
    expect((await cluster.call('POST', '/deployments', spec)).status).toBe(201);
    const busy = async () =>
      (await cluster.get<InstanceRecord[]>('/instances?service=echo')).filter((i) => i.owner?.name === 'busy');
    const [first] = await cluster.waitFor(
      async () => {
        const ready = (await busy()).filter((i) => i.status === 'ready');
        return ready.length === 1 ? ready : undefined;
      },
      30_000,
      'one ready replica of busy',
    );
    // 16 slow requests on its pinned subject: 4 run (its concurrency), 12 wait — six times the target.
    const client = await cluster.client();
    const burst = Array.from({ length: 16 }, (_, n) =>
      client.request(first.subject, { value: n, delayMs: 1_500 }, { timeoutMs: 30_000 }),
    );
    await cluster.waitFor(
      async () => (await busy()).filter((i) => i.status === 'ready').length === 2,
      30_000,
      'busy to scale up to 2',
    );
    expect((await cluster.get<DeploymentView>('/deployments/busy')).status.desired).toBe(2);
    await Promise.all(burst);
    // Idle: below half the target for scaleDownAfterMs, then back to min.
    await cluster.waitFor(
      async () => (await busy()).filter((i) => i.status !== 'draining').length === 1,
      30_000,
      'busy to scale down to 1',
    );
    expect((await cluster.get<DeploymentView>('/deployments/busy')).status.desired).toBe(1);
  });

  it('keeps deployments across an orchestrator restart, starting nothing twice', async () => {
    const before = (await cluster.get<InstanceRecord[]>('/instances')).filter((i) => i.owner?.name === 'busy');
    expect(before.filter((i) => i.status === 'ready')).toHaveLength(1);
    cluster.orchestrator!.child.kill('SIGKILL');
    await cluster.startOrchestrator(ORCHESTRATOR_ENV);
    const view = await cluster.waitFor(
      async () => {
        const d = await cluster.call('GET', '/deployments/busy');
        return d.status === 200 && (d.body as unknown as DeploymentView).status.lastReconcileAt
          ? (d.body as unknown as DeploymentView)
          : undefined;
      },
      20_000,
      'busy reconciled by the new orchestrator',
    );
    expect(view.spec.replicas).toMatchObject({ min: 1, max: 2 });
    // A few passes later the same replica is still the only one.
    await new Promise((r) => setTimeout(r, 2_000));
    const after = (await cluster.get<InstanceRecord[]>('/instances')).filter((i) => i.owner?.name === 'busy');
    expect(after.map((i) => i.id)).toEqual(before.filter((i) => i.status === 'ready').map((i) => i.id));
  });

  it("keeps pinned replicas through a site's cut uplink, re-places a pool's, and drains the surplus when the site returns", async () => {
    const far = ['far1', 'far2'].map((id) => ({
      id: `${id}-${process.pid}`,
      site: 'far',
      tier: 'edge' as const,
      cpuCores: 2,
      memoryMb: 2048,
      costPerHour: 0.01,
    }));
    for (const node of far) startAgent(node);
    await cluster.waitFor(
      async () => (await Promise.all(far.map((n) => cluster.node(n.id)))).every((n) => n?.status === 'alive'),
      30_000,
      'the far site',
    );
    const pinned = {
      name: 'far-pinned',
      service: 'echo',
      replicas: { count: 1 },
      perSite: true,
      selector: { sites: ['far'] },
    };
    // The cheapest node of the pool is at the far site; the pool spans it and ids[0].
    const roaming = {
      name: 'roaming',
      service: 'echo',
      replicas: { count: 1 },
      selector: { nodes: [far[0].id, ids[0]] },
      placement: { strategy: 'cost' },
    };
    for (const spec of [pinned, roaming]) expect((await cluster.call('POST', '/deployments', spec)).status).toBe(201);
    const replicas = async (name: string) =>
      (await cluster.get<InstanceRecord[]>('/instances?service=echo')).filter((i) => i.owner?.name === name);
    const settled = async (name: string, where: (i: InstanceRecord) => boolean) =>
      cluster.waitFor(
        async () => {
          const list = (await replicas(name)).filter((i) => i.status !== 'draining');
          return list.length === 1 && list[0].status === 'ready' && where(list[0]) ? list[0] : undefined;
        },
        40_000,
        `${name} settled`,
      );
    const farIds = far.map((n) => n.id);
    const pinnedBefore = await settled('far-pinned', (i) => farIds.includes(i.nodeId));
    const roamingBefore = await settled('roaming', (i) => i.nodeId === far[0].id);

    // The uplink is cut: every agent of the site falls silent at once (their workers keep running).
    for (const n of far) agents[n.id].child.kill('SIGSTOP');
    try {
      await cluster.waitFor(
        async () => (await Promise.all(far.map((n) => cluster.node(n.id)))).every((n) => n?.status === 'dead'),
        20_000,
        'the far site dead',
      );
      const replacement = await cluster.waitFor(
        async () => (await replicas('roaming')).find((i) => i.nodeId === ids[0] && i.status === 'ready'),
        40_000,
        'roaming re-placed on the node left',
      );
      const view = await cluster.get<DeploymentView>('/deployments/far-pinned');
      expect(view.status.instances).toEqual([
        expect.objectContaining({ id: pinnedBefore.id, counted: true, note: expect.stringContaining('uplink') }),
      ]);
      expect((await replicas('far-pinned')).map((i) => i.id)).toEqual([pinnedBefore.id]);

      for (const n of far) agents[n.id].child.kill('SIGCONT');
      // Back: the same pinned replica, never restarted; the pool's surplus (the newer replica) drained.
      await settled('roaming', (i) => i.id === roamingBefore.id);
      const pinnedAfter = await settled('far-pinned', (i) => i.id === pinnedBefore.id);
      expect(pinnedAfter.restarts).toBe(pinnedBefore.restarts);
      expect((await replicas('roaming')).find((i) => i.id === replacement.id)?.status ?? 'gone').not.toBe('ready');
    } finally {
      for (const n of far) agents[n.id].child.kill('SIGCONT');
    }
  });
});
