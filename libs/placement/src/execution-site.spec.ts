import type { InstanceRecord, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { chooseExecutionSite, type ExecutionSiteInput, type ExecutionStep } from './execution-site';

const node = (id: string, site: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  site,
  tier: site === 'cloud' ? 'cloud' : 'edge',
  arch: 'x64',
  tags: ['camera'],
  cpuCores: 2,
  memoryMb: 2048,
  costPerHour: 0.1,
  labels: {},
  status: 'alive',
  heartbeatIntervalMs: 2000,
  lastHeartbeatAt: '',
  joinedAt: '',
  agentStartedAt: '',
  services: [],
  ...extra,
});

const instance = (
  id: string,
  nodeId: string,
  service: string,
  extra: Partial<InstanceRecord> = {},
): InstanceRecord => ({
  id,
  nodeId,
  service,
  version: '1.0.0',
  status: 'ready',
  subject: `yb.inst.${id}`,
  inFlight: 0,
  queued: 0,
  restarts: 0,
  startedAt: '',
  createdAt: '',
  updatedAt: '',
  ...extra,
});

const service = (name: string, extra: Partial<ServiceDescriptor> = {}): ServiceDescriptor => ({
  name,
  version: '1.0.0',
  kind: 'data',
  description: '',
  input: {},
  output: {},
  requirements: {},
  concurrency: 1,
  ...extra,
});

const steps: ExecutionStep[] = [
  { id: 'a', service: 'resize@^1' },
  { id: 'b', service: 'ocr@^1' },
  { id: 'c', service: 'report@1.0.0' },
];

function input(extra: Partial<ExecutionSiteInput> = {}): ExecutionSiteInput {
  return {
    steps,
    sites: ['factory-sz'],
    catalog: {
      nodes: [node('edge-box', 'factory-sz'), node('cloud-1', 'cloud', { tags: ['gpu'] })],
      instances: [
        instance('r1', 'edge-box', 'resize'),
        instance('o1', 'edge-box', 'ocr'),
        instance('p1', 'edge-box', 'report'),
        instance('o2', 'cloud-1', 'ocr'),
      ],
      services: [service('resize'), service('ocr'), service('report')],
    },
    ...extra,
  };
}

describe('chooseExecutionSite', () => {
  it('picks the site where every step places, naming each step’s place', () => {
    const choice = chooseExecutionSite(input());
    expect(choice).toEqual({
      ok: true,
      site: 'factory-sz',
      reason:
        'every step placeable at factory-sz: a → resize@1.0.0 on edge-box, b → ocr@1.0.0 on edge-box, c → report@1.0.0 on edge-box',
      places: [
        { step: 'a', service: 'resize@1.0.0', nodeId: 'edge-box' },
        { step: 'b', service: 'ocr@1.0.0', nodeId: 'edge-box' },
        { step: 'c', service: 'report@1.0.0', nodeId: 'edge-box' },
      ],
    });
  });

  it('refuses a site where a step has no instance, naming the step and its service', () => {
    const base = input();
    const choice = chooseExecutionSite({
      ...base,
      catalog: { ...base.catalog, instances: base.catalog.instances.filter((i) => i.id !== 'o1') },
    });
    expect(choice).toEqual({
      ok: false,
      reason: 'step b (ocr@^1) has no instance at factory-sz',
      refusals: [{ site: 'factory-sz', reason: 'step b (ocr@^1) has no instance at factory-sz' }],
    });
  });

  it('tries the sites in order and takes the first that fits', () => {
    const base = input();
    const choice = chooseExecutionSite({
      ...base,
      sites: ['line-3', 'factory-sz'],
      catalog: { ...base.catalog, nodes: [...base.catalog.nodes, node('device-1', 'line-3', { tier: 'device' })] },
    });
    expect(choice).toMatchObject({ ok: true, site: 'factory-sz' });
  });

  it('honours the steps’ hints: a step pinned to the cloud tier keeps the run off the edge', () => {
    const choice = chooseExecutionSite(
      input({ steps: [steps[0], { id: 'b', service: 'ocr@^1', hints: { tier: 'cloud' } }, steps[2]] }),
    );
    expect(choice.ok).toBe(false);
    expect(choice.reason).toBe(
      'step b (ocr@^1) cannot run at factory-sz: node edge-box is edge; the step needs a cloud node',
    );
  });

  it('honours the service’s own requirements and tags', () => {
    const base = input();
    const choice = chooseExecutionSite({
      ...base,
      steps: [{ id: 'b', service: 'ocr@^1', hints: { tags: ['gpu'] } }],
    });
    expect(choice.reason).toMatch(/step b \(ocr@\^1\) cannot run at factory-sz: node edge-box lacks tag gpu/);
  });

  it('keeps edge-private data at its origin’s site', () => {
    const edgePrivate = { origin: { site: 'line-3' }, dataTier: 'edge-private' as const };
    const refused = chooseExecutionSite(input(edgePrivate));
    expect(refused.reason).toMatch(/would move edge-private data from site line-3 to site factory-sz/);
    const kept = chooseExecutionSite(input({ origin: { site: 'factory-sz' }, dataTier: 'edge-private' }));
    expect(kept.ok).toBe(true);
  });

  it('says when the step’s input cannot be placed at all (private data without an origin)', () => {
    expect(chooseExecutionSite(input({ dataTier: 'edge-private' })).reason).toMatch(
      /step a \(resize@\^1\): resize@1.0.0: edge-private input needs its origin/,
    );
  });

  it('does not count a dead node or a starting instance, but a full queue does not refuse a site', () => {
    const base = input();
    const dead = chooseExecutionSite({
      ...base,
      catalog: { ...base.catalog, nodes: [node('edge-box', 'factory-sz', { status: 'dead' })] },
    });
    expect(dead.reason).toMatch(/step a \(resize@\^1\) cannot run at factory-sz: node edge-box is dead/);
    const busy = chooseExecutionSite({
      ...base,
      catalog: {
        ...base.catalog,
        instances: base.catalog.instances.map((i) => ({ ...i, queued: 10_000 })),
      },
    });
    expect(busy.ok).toBe(true);
    const starting = chooseExecutionSite({
      ...base,
      catalog: {
        ...base.catalog,
        instances: base.catalog.instances.map((i) => (i.id === 'p1' ? { ...i, status: 'starting' as const } : i)),
      },
    });
    expect(starting.reason).toMatch(/step c \(report@1.0.0\) cannot run at factory-sz: instance p1 is starting/);
  });

  it('matches versions by range: no catalogued version is a reason of its own', () => {
    expect(chooseExecutionSite(input({ steps: [{ id: 'a', service: 'resize@^2' }] })).reason).toBe(
      'step a (resize@^2): no catalogued version of resize matches ^2',
    );
  });

  it('places a split step at a site when both its ends are alive nodes there', () => {
    const nodes = [
      node('cam-1', 'factory-sz', { tier: 'device' }),
      node('edge-box', 'factory-sz'),
      node('edge-2', 'factory-gz'),
      node('cloud-1', 'cloud', { tier: 'cloud' }),
    ];
    const split = (between: [string, string]): ExecutionStep[] => [
      { id: 'rec', split: { model: 'ocr-rec@1', between } },
    ];
    const at = (between: [string, string], site = 'factory-sz', all = nodes) =>
      chooseExecutionSite({
        ...input({ steps: split(between), sites: [site] }),
        catalog: { nodes: all, instances: [], services: [] },
      });
    expect(at(['device', 'edge'])).toMatchObject({
      ok: true,
      places: [{ step: 'rec', service: 'split:ocr-rec@1', nodeId: 'cam-1' }],
    });
    expect(at(['cam-1', 'edge-box']).ok).toBe(true);
    // An end elsewhere keeps the run off the site (the cloud's engine runs it).
    expect(at(['device', 'cloud']).reason).toBe(
      'step rec (split ocr-rec@1): between[1]: no alive cloud node at factory-sz (besides cam-1)',
    );
    expect(at(['cam-1', 'edge-2']).reason).toBe(
      'step rec (split ocr-rec@1): between[1] edge-2 is at site factory-gz, not factory-sz',
    );
    // Two ends of one tier need two nodes of it.
    expect(at(['edge', 'edge'], 'factory-sz').ok).toBe(false);
    expect(
      at(['cam-1', 'edge-box'], 'factory-sz', [nodes[0], node('edge-box', 'factory-sz', { status: 'dead' })]).reason,
    ).toBe('step rec (split ocr-rec@1): between[1] edge-box is dead');
  });

  it('keeps runs with sub-workflows in the cloud, and says when no site is offered', () => {
    expect(chooseExecutionSite(input({ steps: [{ id: 's', workflow: 'child' }] })).reason).toMatch(
      /step s starts sub-workflow child; runs with sub-workflows execute in the cloud/,
    );
    expect(chooseExecutionSite(input({ sites: [] }))).toEqual({
      ok: false,
      reason: 'no site engine is live',
      refusals: [],
    });
  });
});
