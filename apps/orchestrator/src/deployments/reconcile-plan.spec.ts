import type {
  DeploymentRecord,
  DeploymentSpec,
  InstanceRecord,
  NodeRecord,
  ServiceDescriptor,
} from '@yunbian/contracts';
import { cutOffSites, planReconcile, type DeploymentMemory, type ObservedCatalogue } from './reconcile-plan';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const policy = { replaceGraceMs: 5_000, siteCutWindowMs: 3_000, deadAfterIntervals: 3 };

const echo: ServiceDescriptor = {
  name: 'echo',
  version: '1.0.0',
  kind: 'data',
  description: '',
  input: {},
  output: {},
  requirements: { memoryMb: 64 },
  concurrency: 4,
};

function node(id: string, site: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    site,
    tier: 'edge',
    arch: 'x64',
    tags: [],
    cpuCores: 2,
    memoryMb: 1024,
    costPerHour: 1,
    labels: {},
    status: 'alive',
    heartbeatIntervalMs: 1_000,
    lastHeartbeatAt: ago(100),
    joinedAt: ago(60_000),
    agentStartedAt: ago(60_000),
    services: ['echo@1.0.0'],
    ...extra,
  };
}

/** A node that stopped heartbeating `silentMs` ago (dead after 3 s with a 1 s interval). */
const silent = (n: NodeRecord, silentMs: number): NodeRecord => ({
  ...n,
  status: silentMs > 3_000 ? 'dead' : 'suspect',
  lastHeartbeatAt: ago(silentMs),
});

let seq = 0;
function instance(nodeId: string, extra: Partial<InstanceRecord> = {}): InstanceRecord {
  const at = ago(30_000 - ++seq * 10);
  return {
    id: `echo-${seq}`,
    nodeId,
    service: 'echo',
    version: '1.0.0',
    status: 'ready',
    subject: '',
    inFlight: 0,
    queued: 0,
    restarts: 0,
    startedAt: at,
    createdAt: at,
    updatedAt: at,
    ...extra,
  };
}
const owned = (nodeId: string, name = 'echoes', extra: Partial<InstanceRecord> = {}) =>
  instance(nodeId, { owner: { kind: 'deployment', name, revision: 1 }, ...extra });

function deployment(spec: Partial<DeploymentSpec> = {}, revision = 1): DeploymentRecord {
  return {
    spec: { name: 'echoes', service: 'echo@^1', replicas: { count: 2 }, ...spec },
    revision,
    createdAt: ago(60_000),
    updatedAt: ago(60_000),
  };
}

function catalogue(nodes: NodeRecord[], instances: InstanceRecord[] = []): ObservedCatalogue {
  return {
    nodes,
    instances,
    versions: (name) => (name === 'echo' ? [echo] : []),
    descriptor: (ref) => (ref === 'echo@1.0.0' ? echo : undefined),
    now: NOW,
  };
}

function plan(
  record: DeploymentRecord,
  nodes: NodeRecord[],
  instances: InstanceRecord[] = [],
  memory?: DeploymentMemory,
) {
  const result = planReconcile([{ record, memory }], catalogue(nodes, instances), policy);
  return { ...result.deployments[0], orphans: result.orphans };
}

const a = node('a', 's1');
const b = node('b', 's1');
const c = node('c', 's2');

describe('planReconcile', () => {
  it('starts the replicas a new deployment declares, spread over the pool', () => {
    const p = plan(deployment(), [a, b, c]);
    expect(p.starts.map((s) => s.nodeId)).toEqual(['a', 'b']);
    expect(p.starts[0]).toMatchObject({ service: echo, revision: 1 });
    expect(p.drains).toEqual([]);
    expect(p.memory.homes).toEqual({ a: 1, b: 1 });
  });

  it('does nothing when the catalogue is as declared', () => {
    const p = plan(deployment(), [a, b, c], [owned('a'), owned('b')]);
    expect(p.starts).toEqual([]);
    expect(p.drains).toEqual([]);
    expect(p.status).toMatchObject({ desired: 2, ready: 2, problems: [] });
  });

  it('starts a replica lost with its agent again on that node, though another node is as empty', () => {
    // c is the empty node the spread would pick by id order after b; the home decides.
    const p = plan(deployment(), [a, c, b], [owned('a')], { homes: { a: 1, c: 1 }, scale: {} });
    expect(p.starts).toHaveLength(1);
    expect(p.starts[0].nodeId).toBe('c');
    expect(p.starts[0].reason).toContain('started there again');
  });

  it("keeps a dead node's replicas counted during the grace period, then starts them elsewhere", () => {
    const within = plan(deployment(), [a, silent(b, 6_000), c], [owned('a'), owned('b')]);
    expect(within.starts).toEqual([]);
    expect(within.status.instances.find((i) => i.nodeId === 'b')?.note).toMatch(/re-placed in \d+ s unless/);
    const after = plan(deployment(), [a, silent(b, 9_000), c], [owned('a'), owned('b')], {
      homes: { a: 1, b: 1 },
      scale: {},
    });
    expect(after.starts.map((s) => s.nodeId)).toEqual(['c']);
    expect(after.memory.homes).toEqual({ a: 1, c: 1 });
  });

  it('keeps replicas pinned to a site whose nodes all fell silent at once where they are', () => {
    const s2a = node('s2a', 's2');
    const s2b = node('s2b', 's2');
    const spec = { perSite: true, replicas: { count: 1 } };
    const cut = [a, silent(s2a, 60_000), silent(s2b, 60_500)];
    const p = plan(deployment(spec), cut, [owned('a'), owned('s2a')]);
    expect(p.starts).toEqual([]);
    const kept = p.status.instances.find((i) => i.nodeId === 's2a')!;
    expect(kept).toMatchObject({ counted: true });
    expect(kept.note).toContain('uplink is taken as cut');
    // Nodes that died one after the other are failures: the survivor at the site takes the replica.
    const oneByOne = [a, silent(s2a, 60_000), node('s2b', 's2')];
    expect(plan(deployment(spec), oneByOne, [owned('a'), owned('s2a')]).starts.map((s) => s.nodeId)).toEqual(['s2b']);
  });

  it('re-places the replicas of an unpinned pool at a cut site, and drains the surplus when the site returns', () => {
    const spec = { replicas: { count: 1 } };
    const atSite = owned('c');
    const away = plan(deployment(spec), [a, silent(c, 60_000)], [atSite]);
    expect(away.starts.map((s) => s.nodeId)).toEqual(['a']);
    const replacement = owned('a');
    const back = plan(deployment(spec), [a, c], [atSite, replacement]);
    expect(back.starts).toEqual([]);
    expect(back.drains.map((d) => d.instanceId)).toEqual([replacement.id]);
    expect(back.drains[0].reason).toBe('surplus: 2 replicas for 1 desired');
  });

  it('never counts or drains instances it does not own', () => {
    const oneOff = instance('a');
    const ofPlan = instance('b', { owner: { kind: 'plan', name: 'edge-report' } });
    const ofOther = owned('a', 'other-deployment');
    const p = planReconcile(
      [{ record: deployment({ replicas: { count: 0 } }) }, { record: deployment({ name: 'other-deployment' }) }],
      catalogue([a, b], [oneOff, ofPlan, ofOther]),
      policy,
    );
    expect(p.deployments[0].drains).toEqual([]);
    expect(p.deployments[0].starts).toEqual([]);
    expect(p.deployments[1].starts.map((s) => s.nodeId)).toEqual(['b']);
    expect(p.orphans).toEqual([]);
  });

  it('does not count a replica whose node left the catalogue', () => {
    const p = plan(deployment({ replicas: { count: 1 } }), [a], [owned('gone-node')]);
    expect(p.starts.map((s) => s.nodeId)).toEqual(['a']);
    expect(p.status.instances[0]).toMatchObject({ counted: false, note: 'node gone-node is not in the catalogue' });
  });

  it('drains the instances of a deleted deployment where their node can be reached', () => {
    const reachable = owned('a', 'gone');
    const p = planReconcile([], catalogue([a, silent(b, 60_000)], [reachable, owned('b', 'gone')]), policy);
    expect(p.orphans.map((d) => d.instanceId)).toEqual([reachable.id]);
  });

  it('respects admission: memory reserved by any owner, limits and maxPerNode; says why replicas cannot start', () => {
    const small = node('small', 's1', { memoryMb: 128 });
    const p = plan(deployment({ replicas: { count: 3 }, placement: { maxPerNode: 1 } }), [small], [instance('small')]);
    expect(p.starts.map((s) => s.nodeId)).toEqual(['small']);
    expect(p.status.problems).toEqual([
      expect.stringMatching(/^the pool: 2 of 3 replicas cannot start: node small has 1 \(placement.maxPerNode 1\)$/),
    ]);
    const cpu = plan(deployment({ replicas: { count: 2 }, resources: { cpu: 1.5 } }), [a]);
    expect(cpu.starts).toHaveLength(1);
    expect(cpu.status.problems[0]).toContain('asks for 1.5 cores but node a has 0.5 cores free');
  });

  it('chooses nodes only from the selector, and counts replicas per site with perSite', () => {
    const cloud = node('cloud-1', 'cloud', { tier: 'cloud' });
    const p = plan(deployment({ perSite: true, replicas: { count: 1 }, selector: { tier: 'edge' } }), [a, b, c, cloud]);
    expect(p.starts.map((s) => `${s.site}:${s.nodeId}`)).toEqual(['s1:a', 's2:c']);
    expect(p.status.scopes.map((s) => s.scope)).toEqual(['s1', 's2']);
    const none = plan(deployment({ selector: { tags: ['gpu'] } }), [a]);
    expect(none.status.problems[0]).toContain('no node in the catalogue matches the selector');
  });

  it('replaces replicas of an older template: new ones first, the old drained once the new are ready', () => {
    const old = [owned('a'), owned('b')];
    const first = plan(deployment({}, 2), [a, b], old);
    expect(first.starts).toHaveLength(2);
    expect(first.drains).toEqual([]);
    const fresh = [owned('a', 'echoes', { owner: { kind: 'deployment', name: 'echoes', revision: 2 } })];
    fresh.push(owned('b', 'echoes', { owner: { kind: 'deployment', name: 'echoes', revision: 2 } }));
    const second = plan(deployment({}, 2), [a, b], [...old, ...fresh]);
    expect(second.starts).toEqual([]);
    expect(second.drains.map((d) => d.instanceId).sort()).toEqual(old.map((i) => i.id).sort());
  });

  it('says why nothing starts when no catalogued version is in range', () => {
    const p = plan(deployment({ service: 'echo@^2' }), [a]);
    expect(p.starts).toEqual([]);
    expect(p.status.problems).toEqual([
      'cannot start replicas: no catalogued version of echo satisfies "^2" (catalogued: 1.0.0)',
    ]);
  });

  it('autoscales an autoscaled deployment from the queue depth its replicas report', () => {
    const spec = { replicas: { min: 1, max: 3, autoscale: { queueDepth: 2, scaleUpAfterMs: 0 } } };
    const busy = owned('a', 'echoes', { queued: 5 });
    const p = plan(deployment(spec), [a, b], [busy], { homes: { a: 1 }, scale: { pool: { replicas: 1 } } });
    expect(p.status.desired).toBe(3);
    expect(p.starts.map((s) => s.nodeId)).toEqual(['b', 'a']);
  });
});

describe('cutOffSites', () => {
  it('takes a site as cut when its nodes fell silent together, not when they died one by one', () => {
    const x = node('x', 'far');
    const y = node('y', 'far');
    expect(cutOffSites([silent(x, 10_000), silent(y, 11_000)], 3_000).has('far')).toBe(true);
    expect(cutOffSites([silent(x, 10_000), silent(y, 40_000)], 3_000).has('far')).toBe(false);
    expect(cutOffSites([silent(x, 10_000), y], 3_000).has('far')).toBe(false);
    expect(cutOffSites([silent(x, 10_000)], 3_000).get('far')).toContain('all 1 node of site far fell silent');
  });
});
