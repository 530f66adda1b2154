import type { NodeRecord } from '@yunbian/contracts';
import { NetworkModel, type LinkEstimate } from './network';

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

const link = (): LinkEstimate => ({ rttMs: -1, rttSource: 'default', bandwidthMbps: -1 });

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
    });
    expect(model.link({ nodeId: 'a1', site: 'A' }, 'b1', 'B', undefined, link())).toEqual({
      rttMs: 25,
      rttSource: 'measured',
      bandwidthMbps: 40,
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
    expect(model.link(origin, 'a1', 'A', 100, link())).toEqual({
      rttMs: 0,
      rttSource: 'same-node',
      bandwidthMbps: Infinity,
    });
    expect(model.link(origin, 'a2', 'A', 100, link())).toEqual({ rttMs: 0.5, rttSource: 'lan', bandwidthMbps: 10_000 });
    expect(model.link(origin, 'c1', 'C', undefined, link())).toEqual({
      rttMs: 80,
      rttSource: 'default',
      bandwidthMbps: 20,
    });
  });

  it('uses the smaller declared uplink of the two ends, unless the link was measured', () => {
    const model = new NetworkModel().setNodeBandwidth('a1', 50).setSiteRtt('A', 'B', 10);
    const origin = { nodeId: 'a1', site: 'A' };
    expect(model.link(origin, 'b1', 'B', 200, link()).bandwidthMbps).toBe(50);
    expect(model.link(origin, 'b1', 'B', 30, link()).bandwidthMbps).toBe(30);
    model.setLinkBandwidth('B', 'A', 500);
    expect(model.link(origin, 'b1', 'B', 30, link()).bandwidthMbps).toBe(500);
  });

  it('rejects measurements that cannot be used', () => {
    expect(() => new NetworkModel().setSiteRtt('A', 'B', -3)).toThrow(
      'RTT from site A to B must be a finite number of 0 or more (got -3)',
    );
    expect(() => new NetworkModel().setNodeBandwidth('a1', 0)).toThrow(
      'bandwidth of node a1 (Mbit/s) must be a finite number above 0 (got 0)',
    );
  });
});
