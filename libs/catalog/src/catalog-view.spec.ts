import { Subjects, type InstanceReport, type NodeAnnouncement, type ServiceDescriptor } from '@yunbian/contracts';
import { CatalogRouter } from './catalog-router';
import { CatalogView } from './catalog-view';

const echo: ServiceDescriptor = {
  name: 'echo',
  version: '1.0.0',
  kind: 'data',
  description: 'echo',
  input: {},
  output: {},
  requirements: {},
  concurrency: 4,
} as ServiceDescriptor;

const report = (id: string, status: InstanceReport['status'] = 'ready'): InstanceReport => ({
  id,
  service: 'echo',
  version: '1.0.0',
  status,
  subject: Subjects.instance(id),
  inFlight: 0,
  queued: 0,
  restarts: 0,
  startedAt: new Date().toISOString(),
});

const announcement = (id: string, instances: InstanceReport[]): NodeAnnouncement => ({
  node: {
    id,
    site: 'site-a',
    tier: 'edge',
    arch: 'x64',
    tags: [],
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0,
    labels: {},
  },
  agentStartedAt: '2025-01-01T00:00:00.000Z',
  heartbeatIntervalMs: 1_000,
  services: [echo],
  instances,
});

describe('CatalogView', () => {
  it('learns nodes, services and instances from an announcement, and a heartbeat is the truth about its node', () => {
    const view = new CatalogView();
    view.onAnnounce(announcement('n1', [report('i1'), report('i2')]));
    expect(view.node('n1').status).toBe('alive');
    expect(view.serviceVersions('echo').map((s) => s.version)).toEqual(['1.0.0']);
    expect(view.instancesOfService('echo').map((i) => i.id)).toEqual(['i1', 'i2']);

    const known = view.onHeartbeat(
      {
        nodeId: 'n1',
        seq: 1,
        sentAt: Date.now(),
        heartbeatIntervalMs: 1_000,
        load: {} as never,
        rtt: {} as never,
        instances: [report('i2')],
      },
      Subjects.nodeHeartbeat('n1'),
    );
    expect(known).toBe(true);
    expect(view.instancesOfService('echo').map((i) => i.id)).toEqual(['i2']);
  });

  it('says a heartbeat comes from a node it does not know (so the caller asks it to announce)', () => {
    const view = new CatalogView();
    const heartbeat = { nodeId: 'n9', seq: 1, sentAt: Date.now(), heartbeatIntervalMs: 1_000, instances: [] };
    expect(view.onHeartbeat(heartbeat as never, Subjects.nodeHeartbeat('n9'))).toBe(false);
    expect(() => view.node('n9')).toThrow(/unknown node "n9"; known nodes: none/);
  });

  it('judges a silent node dead after the policy’s intervals and reports its instances lost', () => {
    const view = new CatalogView({ liveness: { suspectAfterIntervals: 1.5, deadAfterIntervals: 3 } });
    const lost: string[] = [];
    view.onInstanceLost((instance, reason) => lost.push(`${instance.id}: ${reason}`));
    const t0 = Date.now();
    view.onAnnounce(announcement('n1', [report('i1')]));
    view.sweep(t0 + 2_000);
    expect(view.node('n1').status).toBe('suspect');
    expect(lost).toEqual([]);
    view.sweep(t0 + 3_500);
    expect(view.node('n1').status).toBe('dead');
    expect(view.instance('i1').status).toBe('failed');
    expect(lost).toEqual([expect.stringMatching(/^i1: node n1 is dead \(no heartbeat for 3\.\d s\)$/)]);
    expect(view.stats().deadMarks).toBe(1);
  });

  it('judges no node while its own connection is away, and gives every node its full time once it is back', () => {
    const view = new CatalogView({ liveness: { suspectAfterIntervals: 1.5, deadAfterIntervals: 3 } });
    const lost: string[] = [];
    view.onInstanceLost((instance) => lost.push(instance.id));
    const t0 = Date.now();
    view.onAnnounce(announcement('n1', [report('i1')]));
    view.connectionLost();
    view.sweep(t0 + 30_000);
    expect(view.node('n1').status).toBe('alive');
    view.connectionBack(t0 + 30_000);
    view.sweep(t0 + 31_000);
    expect(view.node('n1').status).toBe('alive');
    // Still silent a dead-time after the connection came back: dead, as ever.
    view.sweep(t0 + 33_500);
    expect(view.node('n1').status).toBe('dead');
    expect(lost).toEqual(['i1']);
  });

  it('tells the executor an instance is there while it is known and not failed', () => {
    const view = new CatalogView();
    const router = new CatalogRouter(view);
    view.onAnnounce(announcement('n1', [report('i1')]));
    expect(router.instance('i1')?.id).toBe('i1');
    expect(router.instance('nope')).toBeUndefined();
    view.markInstance('i1', 'failed', 'crashed');
    expect(router.instance('i1')).toBeUndefined();
  });

  it('gives the router what it places on: a ready instance, and no candidates once its node left', () => {
    const view = new CatalogView();
    const router = new CatalogRouter(view);
    view.onAnnounce(announcement('n1', [report('i1')]));
    expect(router.route({ service: 'echo@^1' }).instance.id).toBe('i1');
    expect(router.siteOf('n1')).toBe('site-a');
    view.onLeaving({ nodeId: 'n1', reason: 'shutdown' } as never);
    expect(() => router.route({ service: 'echo@^1' })).toThrow();
  });

  it('routes to a version announced after the range was first matched (the router keeps matches per descriptor change)', () => {
    const view = new CatalogView();
    const router = new CatalogRouter(view);
    view.onAnnounce(announcement('n1', [report('i1')]));
    expect(router.route({ service: 'echo@^1' }).instance.version).toBe('1.0.0');
    const revision = view.serviceRevision;
    // The same descriptor again changes nothing; a new version does.
    view.onAnnounce(announcement('n1', [report('i1')]));
    expect(view.serviceRevision).toBe(revision);
    const newer = { ...echo, version: '1.1.0' };
    const base = announcement('n2', [{ ...report('i2'), version: '1.1.0' }]);
    view.onAnnounce({ ...base, node: { ...base.node, id: 'n2' }, services: [newer] });
    expect(view.serviceRevision).toBeGreaterThan(revision);
    const decision = router.route({ service: 'echo@^1' });
    // Both versions are candidates now, each named by its version.
    expect(decision.candidates.map((c) => (c as { service?: string }).service).sort()).toEqual([
      'echo@1.0.0',
      'echo@1.1.0',
    ]);
    expect(router.route({ service: 'echo@1.0.0' }).instance.id).toBe('i1');
  });
});
