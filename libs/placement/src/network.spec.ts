import type { NodeRecord } from '@yunbian/contracts';
import { NetworkModel, withPassiveOrchestratorBandwidth, type LinkEstimate } from './network';

const record = (id: string, site: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  site,
  tier: 'edge',
  arch: 'x64',
  tags: [],
  cpuCores: 2,
  memoryMb: 1024,
  costPerHour: 0,
  labels: {},
  status: 'alive',
  heartbeatIntervalMs: 2000,
  lastHeartbeatAt: '',
  joinedAt: '',
  agentStartedAt: '',
  services: [],
  ...extra,
});

const link = (): LinkEstimate => ({
  rttMs: -1,
  rttSource: 'default',
  bandwidthMbps: -1,
  bandwidthSource: 'default',
  bandwidthAgeMs: undefined,
});

describe('NetworkModel', () => {
  it('builds site RTTs from what agents report, averaging the nodes of a site', () => {
    const model = NetworkModel.fromNodes([
      record('a1', 'A', { rtt: { orchestratorMs: 12, sites: { B: { ms: 20, viaNode: 'b1' } } } }),
      record('a2', 'A', { rtt: { sites: { B: { ms: 30, viaNode: 'b1' }, A: { ms: 1, viaNode: 'a1' } } } }),
      record('b1', 'B', { bandwidthMbps: 40 }),
    ]);
    expect(model.siteRttMs('A', 'B')).toBe(25);
    expect(model.siteRttMs('B', 'A')).toBe(25); // unmeasured direction: the other one
    expect(model.siteRttMs('A', 'C')).toBeUndefined();
    expect(model.link(undefined, 'a1', 'A', undefined, link())).toEqual({
      rttMs: 12,
      rttSource: 'measured',
      bandwidthMbps: 100,
      bandwidthSource: 'default',
      bandwidthAgeMs: undefined,
    });
    expect(model.link({ nodeId: 'a1', site: 'A' }, 'b1', 'B', undefined, link())).toEqual({
      rttMs: 25,
      rttSource: 'measured',
      bandwidthMbps: 40,
      bandwidthSource: 'declared',
      bandwidthAgeMs: undefined,
    });
  });

  it('distinguishes the same node, the LAN, a measured link and an unknown one', () => {
    const model = new NetworkModel({
      lanRttMs: 0.5,
      lanBandwidthMbps: 10_000,
      unknownRttMs: 80,
      unknownBandwidthMbps: 20,
    });
    const origin = { nodeId: 'a1', site: 'A' };
    expect(model.link(origin, 'a1', 'A', 100, link())).toMatchObject({
      rttMs: 0,
      rttSource: 'same-node',
      bandwidthMbps: Infinity,
      bandwidthSource: 'same-node',
    });
    expect(model.link(origin, 'a2', 'A', 100, link())).toMatchObject({
      rttMs: 0.5,
      rttSource: 'lan',
      bandwidthMbps: 10_000,
      bandwidthSource: 'lan',
    });
    expect(model.link(origin, 'c1', 'C', undefined, link())).toEqual({
      rttMs: 80,
      rttSource: 'default',
      bandwidthMbps: 20,
      bandwidthSource: 'default',
      bandwidthAgeMs: undefined,
    });
  });

  it('uses the smaller declared uplink of the two ends, unless the link was measured', () => {
    const model = new NetworkModel().setNodeBandwidth('a1', 50).setSiteRtt('A', 'B', 10);
    const origin = { nodeId: 'a1', site: 'A' };
    expect(model.link(origin, 'b1', 'B', 200, link()).bandwidthMbps).toBe(50);
    expect(model.link(origin, 'b1', 'B', 30, link()).bandwidthMbps).toBe(30);
    model.setLinkBandwidth('B', 'A', 500, 1_500);
    // Measured from B to A only: it stands for A → B too until that is measured.
    expect(model.link(origin, 'b1', 'B', 30, link())).toMatchObject({
      bandwidthMbps: 500,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 1_500,
    });
    model.setLinkBandwidth('A', 'B', 8, 200);
    expect(model.link(origin, 'b1', 'B', 30, link())).toMatchObject({ bandwidthMbps: 8, bandwidthAgeMs: 200 });
    expect(model.link({ site: 'B' }, 'a1', 'A', undefined, link()).bandwidthMbps).toBe(500);
  });

  it("prefers what agents measured to what nodes declared, with the figure's age as of the build", () => {
    const now = Date.parse('2030-01-01T00:00:10.000Z');
    const measured = (mbps: number, ageMs: number, viaNode = 'b1') => ({
      mbps,
      measuredAt: now - ageMs,
      ageMs,
      samples: 3,
      source: 'active' as const,
      viaNode,
    });
    const heartbeatAt = '2030-01-01T00:00:09.000Z'; // a second before `now`
    const model = NetworkModel.fromNodes(
      [
        record('a1', 'A', {
          bandwidthMbps: 1000,
          lastHeartbeatAt: heartbeatAt,
          rtt: { orchestratorMs: 30, sites: { B: { ms: 40, viaNode: 'b1', ageMs: 500 } } },
          bandwidth: { orchestrator: measured(12, 2_000), sites: { B: measured(6, 3_000) } },
        }),
        record('a2', 'A', {
          lastHeartbeatAt: heartbeatAt,
          bandwidth: { sites: { B: measured(4, 8_000) } },
        }),
        record('b1', 'B', { bandwidthMbps: 1000, lastHeartbeatAt: heartbeatAt }),
        record('c1', 'C', { bandwidthMbps: 50, lastHeartbeatAt: heartbeatAt }),
      ],
      {},
      now,
    );
    const origin = { nodeId: 'a1', site: 'A' };
    // The mean of the two nodes of A, aged from the youngest: 3 s in the heartbeat + 1 s since it arrived.
    expect(model.link(origin, 'b1', 'B', 1000, link())).toEqual({
      rttMs: 40,
      rttSource: 'measured',
      bandwidthMbps: 5,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 4_000,
    });
    expect(model.link(undefined, 'a1', 'A', 1000, link())).toMatchObject({
      bandwidthMbps: 12,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 3_000,
    });
    expect(model.link(origin, 'c1', 'C', 50, link())).toMatchObject({ bandwidthMbps: 50, bandwidthSource: 'declared' });

    const view = model.view(new Date(now));
    expect(view.generatedAt).toBe('2030-01-01T00:00:10.000Z');
    expect(view.sites).toEqual(['A', 'B', 'C']);
    expect(view.links).toHaveLength(6);
    expect(view.links.find((l) => l.from === 'A' && l.to === 'B')).toEqual({
      from: 'A',
      to: 'B',
      rttMs: 40,
      rttSource: 'measured',
      rttAgeMs: 1_500,
      bandwidthMbps: 5,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 4_000,
    });
    // B → A: nobody at B measured; the other direction stands in for it.
    expect(view.links.find((l) => l.from === 'B' && l.to === 'A')).toMatchObject({
      rttSource: 'measured',
      bandwidthSource: 'measured',
      bandwidthMbps: 5,
    });
    expect(view.links.find((l) => l.from === 'A' && l.to === 'C')).toEqual({
      from: 'A',
      to: 'C',
      rttMs: 100,
      rttSource: 'default',
      bandwidthMbps: 50,
      bandwidthSource: 'declared',
    });
  });

  it('rejects measurements that cannot be used', () => {
    expect(() => new NetworkModel().setSiteRtt('A', 'B', -3)).toThrow(
      'RTT from site A to B must be a finite number of 0 or more (got -3)',
    );
    expect(() => new NetworkModel().setLinkBandwidth('A', 'B', NaN)).toThrow(
      'bandwidth from site A to B (Mbit/s) must be a finite number above 0 (got NaN)',
    );
    expect(() => new NetworkModel().setNodeBandwidth('a1', 0)).toThrow(
      'bandwidth of node a1 (Mbit/s) must be a finite number above 0 (got 0)',
    );
  });

  it('takes the passive orchestrator figure when it is younger than the active one, aged on this clock', () => {
    const now = Date.parse('2030-01-01T00:00:10.000Z');
    const heartbeatAt = now - 1_000;
    const active = { mbps: 12, measuredAt: now - 5_000, ageMs: 4_000, samples: 3, source: 'active' as const };
    const sites = { B: { ...active, viaNode: 'b1' } };
    // Taken after the last heartbeat: its age as of that heartbeat is 0, its age now 400 ms.
    const passive = { mbps: 80, measuredAt: now - 400, ageMs: 0, samples: 2, source: 'passive' as const };
    const merged = withPassiveOrchestratorBandwidth({ orchestrator: active, sites }, passive, heartbeatAt);
    expect(merged).toEqual({ orchestrator: { ...passive, ageMs: 0 }, sites });
    const model = NetworkModel.fromNodes(
      [record('a1', 'A', { lastHeartbeatAt: new Date(heartbeatAt).toISOString(), bandwidth: merged })],
      {},
      now,
    );
    expect(model.link(undefined, 'a1', 'A', undefined, link())).toMatchObject({
      bandwidthMbps: 80,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 400,
    });
    // An older passive figure loses to the active one; with no active one it stands alone.
    const stale = { ...passive, measuredAt: now - 9_000 };
    expect(withPassiveOrchestratorBandwidth({ orchestrator: active, sites }, stale, heartbeatAt)?.orchestrator).toBe(
      active,
    );
    expect(withPassiveOrchestratorBandwidth(undefined, stale, heartbeatAt)).toEqual({
      orchestrator: { ...stale, ageMs: 8_000 },
      sites: {},
    });
    expect(withPassiveOrchestratorBandwidth(undefined, undefined, heartbeatAt)).toBeUndefined();
  });
});
