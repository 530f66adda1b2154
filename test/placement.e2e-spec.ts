import type { InstanceRecord } from '@yunbian/contracts';
import { TestCluster, type Proc } from './support/cluster';

jest.setTimeout(120_000);

interface RunView {
  id: string;
  status: string;
  output?: unknown;
  error?: { code: string; message: string };
  steps: {
    id: string;
    node?: string;
    history: { node?: string; placement?: { strategy: string; reason: string; candidates: unknown[] } }[];
  }[];
}

describe('placement in runs (real nats-server, agents with different descriptors)', () => {
  let cluster: TestCluster;
  const agents: Record<string, Proc> = {};

  const create = (definition: unknown) => cluster.call('POST', '/workflows', definition);
  const run = async (name: string, body: Record<string, unknown> = {}) => {
    const { body: view } = await cluster.call('POST', `/workflows/${name}/runs?wait=20000`, { input: {}, ...body });
    return view as unknown as RunView;
  };
  const deployWithConfig = async (service: string, nodeId: string, config: Record<string, unknown>) => {
    const { status, body } = await cluster.call('POST', '/instances', { service, nodeId, config });
    expect(status).toBe(201);
    const id = (body as unknown as InstanceRecord).id;
    await cluster.waitFor(
      async () => (await cluster.get<InstanceRecord>(`/instances/${id}`)).status === 'ready',
      20_000,
      `${id} ready`,
    );
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    const env = { YUNBIAN_HEARTBEAT_MS: '500' };
    agents['cloud-1'] = cluster.startAgent(
      { id: 'cloud-1', site: 'cloud', tier: 'cloud', tags: ['gpu'], memoryMb: 8192, costPerHour: 2.4 },
      env,
    );
    agents['edge-a'] = cluster.startAgent(
      { id: 'edge-a', site: 'site-a', tier: 'edge', tags: ['camera'], memoryMb: 4096, costPerHour: 0.08 },
      env,
    );
    agents['edge-b'] = cluster.startAgent(
      { id: 'edge-b', site: 'site-b', tier: 'edge', tags: ['camera'], memoryMb: 4096, costPerHour: 0.05 },
      env,
    );
    for (const id of ['cloud-1', 'edge-a', 'edge-b']) {
      await cluster.waitFor(async () => (await cluster.node(id))?.status === 'alive', 20_000, `${id} alive`);
    }
    for (const node of ['cloud-1', 'edge-a', 'edge-b']) await cluster.deploy('echo', node);
    await cluster.deploy('gpu-echo', 'cloud-1');
    await deployWithConfig('heavy', 'edge-a', { delayMs: 300 });
    await deployWithConfig('heavy', 'cloud-1', { delayMs: 15 });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('puts a step that requires a gpu on the gpu node, and explains the choice', async () => {
    await create({
      name: 'needs-gpu',
      steps: [{ id: 'render', service: 'echo', input: { value: 1 }, placement: { tags: ['gpu'] } }],
    });
    for (let i = 0; i < 3; i++) {
      const view = await run('needs-gpu');
      expect(view.status).toBe('succeeded');
      expect(view.steps[0].node).toBe('cloud-1');
      const placement = view.steps[0].history[0].placement!;
      expect(placement.reason).toBeTruthy();
      expect(placement.candidates).toHaveLength(3);
      expect(JSON.stringify(placement.candidates)).toContain('gpu');
    }
  });

  it('keeps user-private data on its node, and refuses clearly when that would need moving it', async () => {
    await create({ name: 'private-echo', steps: [{ id: 'look', service: 'echo', input: { value: 'secret' } }] });
    for (let i = 0; i < 3; i++) {
      const view = await run('private-echo', { origin: { nodeId: 'edge-b' }, dataTier: 'user-private' });
      expect(view.steps[0].node).toBe('edge-b');
    }
    // gpu-echo runs only on cloud-1: running it would carry edge-a's private data away.
    await create({ name: 'private-gpu', steps: [{ id: 'look', service: 'gpu-echo', input: { value: 'secret' } }] });
    const refused = await run('private-gpu', { origin: { nodeId: 'edge-a' }, dataTier: 'user-private' });
    expect(refused.status).toBe('failed');
    expect(refused.error!.code).toBe('UNSATISFIABLE');
    expect(refused.error!.message).toContain('user-private');
    expect(refused.error!.message).toContain('edge-a');
    expect(refused.steps[0].history.every((h) => h.node === undefined)).toBe(true);
  });

  it('chooses the cheap edge node for cost and the fast gpu node for latency', async () => {
    await create({ name: 'heavy-cost', steps: [{ id: 'infer', service: 'heavy', placement: { objective: 'cost' } }] });
    await create({
      name: 'heavy-latency',
      steps: [{ id: 'infer', service: 'heavy', placement: { objective: 'latency' } }],
    });
    for (let i = 0; i < 2; i++) {
      expect((await run('heavy-cost')).steps[0].node).toBe('edge-a');
      expect((await run('heavy-latency')).steps[0].node).toBe('cloud-1');
    }
  });

  it('runs with every objective the workflow schema accepts, and refuses any other at POST /workflows', async () => {
    // The strategy each form ranks by: `mix` is `balanced`, `cost-slo` is `cost` (its SLO is maxLatencyMs).
    const forms: [string, string][] = [
      ['latency', 'latency'],
      ['cost', 'cost'],
      ['balanced', 'weighted'],
      ['mix', 'weighted'],
      ['cost-slo', 'cost'],
      ['latency:0.7', 'weighted'],
    ];
    for (const [objective, strategy] of forms) {
      const name = `objective-${objective.replace(/[^a-z0-9]/g, '-')}`;
      const created = await create({ name, placement: { objective }, steps: [{ id: 'infer', service: 'heavy' }] });
      expect({ objective, status: created.status }).toEqual({ objective, status: 201 });
      const view = await run(name);
      expect({ objective, status: view.status }).toEqual({ objective, status: 'succeeded' });
      expect({ objective, strategy: view.steps[0].history[0].placement!.strategy }).toEqual({ objective, strategy });
    }
    const refused = await create({
      name: 'objective-fast',
      steps: [{ id: 'infer', service: 'heavy', placement: { objective: 'fast' } }],
    });
    expect(refused.status).toBe(400);
    const issues = (refused.body.details as { issues: { pointer: string; message: string }[] }).issues;
    expect(issues).toEqual([
      {
        pointer: '/steps/0/placement/objective',
        message: expect.stringContaining('latency, cost, balanced, mix, cost-slo or latency:<weight 0..1>'),
      },
    ]);
    expect((await cluster.call('GET', '/workflows/objective-fast')).status).toBe(404);
  });

  it('re-routes the next run when the chosen node dies', async () => {
    expect((await run('heavy-latency')).steps[0].node).toBe('cloud-1');
    agents['cloud-1'].child.kill('SIGKILL');
    await cluster.waitFor(async () => (await cluster.node('cloud-1'))?.status === 'dead', 10_000, 'cloud-1 dead');
    const after = await run('heavy-latency');
    expect(after.status).toBe('succeeded');
    expect(after.steps[0].node).toBe('edge-a');
  });

  it('plans a deployment for expected load and applies it through the agents', async () => {
    await create({
      name: 'planned',
      steps: [
        { id: 'a', service: 'json-transform', input: { expression: '$', data: 1 } },
        { id: 'b', service: 'image-resize', after: ['a'], input: { image: 'x', width: 1 } },
      ],
    });
    const { status, body } = await cluster.call('POST', '/placements/plan', {
      workflow: 'planned',
      load: [{ site: 'site-a', runsPerSecond: 5 }],
      objective: 'cost',
    });
    expect(status).toBe(200);
    const plan = body as {
      id: string;
      result: {
        ok: boolean;
        reasons: string[];
        services: { service: string; placements: { nodeId: string; instances: number }[] }[];
      };
    };
    expect(plan.result.ok).toBe(true);
    expect(plan.result.reasons.length).toBeGreaterThan(0);
    const planned = plan.result.services.flatMap((s) => s.placements.map((p) => ({ service: s.service, ...p })));
    expect(planned.length).toBeGreaterThanOrEqual(2);
    expect(planned.every((p) => p.nodeId !== 'cloud-1')).toBe(true);

    // Instances started by hand (one-off, no owner) of the planned services, where the plan wants
    // them and where it does not: they are neither counted toward the plan nor drained by it.
    for (const node of ['edge-a', 'edge-b'])
      for (const service of ['json-transform', 'image-resize']) await cluster.deploy(service, node);
    const oneOffs = (await cluster.get<InstanceRecord[]>('/instances')).filter((i) => !i.owner);
    const dry = await cluster.call('POST', `/placements/${plan.id}/apply?dryRun=true`);
    expect(dry.status).toBe(200);
    const dryActions = (dry.body as { dryRun: boolean; actions: { action: string; instanceId?: string }[] }).actions;
    expect(dry.body.dryRun).toBe(true);
    expect(dryActions.filter((a) => a.action === 'start')).toHaveLength(
      planned.reduce((sum, p) => sum + p.instances, 0),
    );
    expect(dryActions.filter((a) => a.action === 'drain')).toEqual([]);
    expect((await cluster.get<InstanceRecord[]>('/instances')).filter((i) => i.owner)).toEqual([]);

    const applied = await cluster.call('POST', `/placements/${plan.id}/apply`);
    expect(applied.status).toBe(200);
    const actions = (applied.body as { actions: { action: string; service: string; nodeId: string; error?: string }[] })
      .actions;
    expect(actions.filter((a) => a.error)).toEqual([]);
    for (const p of planned) {
      await cluster.waitFor(
        async () => {
          const list = await cluster.get<InstanceRecord[]>(
            `/instances?node=${p.nodeId}&service=${p.service}&status=ready`,
          );
          return list.length >= p.instances;
        },
        30_000,
        `${p.instances} ready instance(s) of ${p.service} on ${p.nodeId}`,
      );
    }
    const after = await cluster.get<InstanceRecord[]>('/instances');
    for (const o of oneOffs) expect(after.find((i) => i.id === o.id)?.status).not.toBe('draining');
    expect(after.filter((i) => i.owner?.kind === 'plan').every((i) => i.owner?.name === 'planned')).toBe(true);
  });
});
