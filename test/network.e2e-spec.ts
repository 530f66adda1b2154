import type { NetworkLinkView, NetworkView, NodeRecord } from '@yunbian/contracts';
import { TestCluster } from './support/cluster';

jest.setTimeout(120_000);

interface RunView {
  status: string;
  steps: {
    node?: string;
    history: {
      placement?: {
        candidates: { nodeId: string; bandwidthMbps?: number; bandwidthSource?: string; bandwidthAgeMs?: number }[];
      };
    }[];
  }[];
}

/** Probing fast so the test does not wait for the default 10 s interval. */
const FAST = { YUNBIAN_HEARTBEAT_MS: '500', YUNBIAN_BANDWIDTH_PROBE_MS: '1000' };

describe('measured network (real nats-server, agents probing each other)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    cluster.startAgent({ id: 'edge-a', site: 'site-a', tier: 'edge', memoryMb: 2048, costPerHour: 0.1 }, FAST);
    // Declares a slow uplink: the measured figure must win over it.
    cluster.startAgent(
      { id: 'edge-b', site: 'site-b', tier: 'edge', memoryMb: 2048, costPerHour: 0.1, bandwidthMbps: 2 },
      FAST,
    );
    // Never probes: its site's outgoing links stay unmeasured by it.
    cluster.startAgent(
      { id: 'edge-c', site: 'site-c', tier: 'edge', memoryMb: 2048, costPerHour: 0.1, bandwidthMbps: 30 },
      { ...FAST, YUNBIAN_BANDWIDTH_PROBE: 'off' },
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const link = (view: NetworkView, from: string, to: string) => view.links.find((l) => l.from === from && l.to === to);
  const measured = (l: NetworkLinkView | undefined) => l?.rttSource === 'measured' && l.bandwidthSource === 'measured';

  it('lists measured RTT and bandwidth between two sites, with their source and age', async () => {
    const view = await cluster.waitFor(
      async () => {
        const v = await cluster.get<NetworkView>('/network');
        const both = measured(link(v, 'site-a', 'site-b')) && measured(link(v, 'site-b', 'site-a'));
        return both && link(v, 'site-a', 'site-c')?.bandwidthSource === 'measured' ? v : undefined;
      },
      60_000,
      'measured links between site-a and site-b, and from site-a to site-c',
    );
    expect(view.sites).toEqual(['site-a', 'site-b', 'site-c']);
    expect(view.links).toHaveLength(6);
    process.stdout.write(`GET /network on loopback: ${JSON.stringify(view.links)}\n`);
    expect(Date.parse(view.generatedAt)).toBeGreaterThan(Date.now() - 60_000);
    for (const [from, to] of [
      ['site-a', 'site-b'],
      ['site-b', 'site-a'],
    ]) {
      const l = link(view, from, to)!;
      expect(l.rttMs).toBeGreaterThan(0);
      expect(l.rttAgeMs).toBeGreaterThanOrEqual(0);
      expect(l.rttAgeMs).toBeLessThan(30_000);
      // On loopback the figure is whatever the machine manages; far above the declared 2 Mbit/s.
      expect(l.bandwidthMbps).toBeGreaterThan(2);
      expect(l.bandwidthAgeMs).toBeGreaterThanOrEqual(0);
      expect(l.bandwidthAgeMs).toBeLessThan(30_000);
    }
    // site-c's agent does not probe, but answers probes: site-a → site-c is measured, and stands in for
    // site-c → site-a, where placement would otherwise take the declared 30 Mbit/s.
    expect(link(view, 'site-c', 'site-a')).toMatchObject({ bandwidthSource: 'measured', rttSource: 'measured' });
    // Nodes report where each figure came from.
    const nodes = await cluster.get<NodeRecord[]>('/nodes');
    const a = nodes.find((n) => n.id === 'edge-a')!;
    expect(a.bandwidth?.sites['site-b']).toMatchObject({ source: 'active', viaNode: 'edge-b' });
    expect(a.bandwidth!.sites['site-b'].samples).toBeGreaterThanOrEqual(1);
    expect(a.bandwidth!.orchestrator?.mbps).toBeGreaterThan(0);
    expect(nodes.find((n) => n.id === 'edge-c')!.bandwidth).toBeUndefined();
  });

  it('narrows to one site, and names the known sites for an unknown one', async () => {
    const view = await cluster.get<NetworkView>('/network?site=site-c');
    expect(view.links).toHaveLength(4);
    expect(view.links.every((l) => l.from === 'site-c' || l.to === 'site-c')).toBe(true);
    const { status, body } = await cluster.call('GET', '/network?site=mars');
    expect(status).toBe(404);
    expect(body).toMatchObject({ code: 'NOT_FOUND' });
    expect(String(body.message)).toContain('site-a, site-b, site-c');
  });

  it("says in each step's placement which bandwidth it used and how old it was", async () => {
    await cluster.deploy('echo', 'edge-b');
    const created = await cluster.call('POST', '/workflows', {
      name: 'cross-site',
      steps: [{ id: 'look', service: 'echo', input: { value: 1 } }],
    });
    expect(created.status).toBe(201);
    const { body } = await cluster.call('POST', '/workflows/cross-site/runs?wait=20000', {
      input: {},
      origin: { nodeId: 'edge-a' },
    });
    const run = body as unknown as RunView;
    expect(run.status).toBe('succeeded');
    const candidate = run.steps[0].history[0].placement!.candidates.find((c) => c.nodeId === 'edge-b')!;
    expect(candidate.bandwidthSource).toBe('measured');
    expect(candidate.bandwidthMbps).toBeGreaterThan(2);
    expect(candidate.bandwidthAgeMs).toBeGreaterThanOrEqual(0);
  });

  it("times the orchestrator's own large step requests: a passive figure for the node's orchestrator link", async () => {
    // edge-c does not probe: its orchestrator link has only what the orchestrator times itself.
    await cluster.deploy('measure', 'edge-c');
    const created = await cluster.call('POST', '/workflows', {
      name: 'large-input',
      steps: [{ id: 'check', service: 'measure', input: { data: '=$input.text' } }],
    });
    expect(created.status).toBe(201);
    // 200 KiB: large enough to time, under the 256 KiB above which inputs go by object-store reference.
    const text = 'x'.repeat(200 * 1024);
    const run = async () => {
      const { body } = await cluster.call('POST', '/workflows/large-input/runs?wait=20000', { input: { text } });
      const view = body as unknown as RunView;
      expect(view.status).toBe('succeeded');
      return view;
    };
    // Each run is one sample unless the machine's jitter makes it unmeasurable (rejected): a few runs.
    const figure = await cluster.waitFor(
      async () => {
        await run();
        const c = (await cluster.get<NodeRecord[]>('/nodes')).find((n) => n.id === 'edge-c')!;
        return c.bandwidth?.orchestrator?.source === 'passive' ? c.bandwidth.orchestrator : undefined;
      },
      60_000,
      "a passive figure for edge-c's orchestrator link",
    );
    process.stdout.write(`passive orchestrator link of edge-c on loopback: ${JSON.stringify(figure)}\n`);
    expect(figure.direction).toBe('to-node');
    expect(Number.isFinite(figure.mbps) && figure.mbps > 0).toBe(true);
    expect(figure.samples).toBeGreaterThanOrEqual(1);
    expect(figure.ageMs).toBeGreaterThanOrEqual(0);
    expect(Date.now() - figure.measuredAt).toBeLessThan(30_000);
    // Placement (its network model is rebuilt at most once a second) now uses it instead of the declared 30 Mbit/s.
    await new Promise((r) => setTimeout(r, 1_200));
    const candidate = (await run()).steps[0].history[0].placement!.candidates.find((c) => c.nodeId === 'edge-c')!;
    expect(candidate.bandwidthSource).toBe('measured');
    expect(candidate.bandwidthAgeMs).toBeGreaterThanOrEqual(0);
    expect(candidate.bandwidthAgeMs).toBeLessThan(30_000);
  });
});
