import type { NodeRecord } from '@yunbian/contracts';
import type { ComputeGraph } from '@yunbian/split';
import { resolveSide, sideLink, sideTimes } from './split-sides';

const node = (id: string, tier: NodeRecord['tier'], site: string, extra: Partial<NodeRecord> = {}): NodeRecord =>
  ({
    id,
    tier,
    site,
    arch: 'x86_64',
    tags: [],
    cpuCores: 4,
    memoryMb: 4096,
    costPerHour: 0.1,
    status: 'alive',
    lastHeartbeatAt: new Date().toISOString(),
    ...extra,
  }) as NodeRecord;

const graph: ComputeGraph = {
  inputs: ['x'],
  outputs: ['y'],
  nodes: [
    { name: 'A', opType: 'Conv', index: 0, inputs: ['x'], outputs: ['a'] },
    { name: 'B', opType: 'Relu', index: 1, inputs: ['a'], outputs: ['y'] },
  ],
};

describe('the two ends of a split', () => {
  const nodes = [
    node('dev-2', 'device', 'factory', { limits: { cpu: 0.5 } }),
    node('dev-1', 'device', 'factory', { limits: { cpu: 0.25 } }),
    node('edge-1', 'edge', 'factory'),
    node('cloud-1', 'cloud', 'hz', { rtt: { sites: { factory: { ms: 30, viaNode: 'edge-1' } } } }),
  ];

  it('reads a node id, else a class with its first node standing in, else says what exists', () => {
    expect(resolveSide('dev-2', nodes)).toMatchObject({ node: { id: 'dev-2' }, cpu: 0.5 });
    expect(resolveSide('dev-2', nodes).profileKeys).toEqual(['x86_64||0.5', 'device']);
    expect(resolveSide('device', nodes)).toMatchObject({ node: { id: 'dev-1' }, cpu: 0.25, profileKeys: ['device'] });
    expect(resolveSide('cloud', [])).toEqual({ asked: 'cloud', profileKeys: ['cloud'] });
    expect(() => resolveSide('gpu-9', nodes)).toThrow(
      '"gpu-9" is neither a node of the catalogue nor a node class; nodes: dev-2, dev-1, edge-1, cloud-1; classes: device, edge, cloud',
    );
  });

  it('uses a stored profile of the class when it covers every node, else scales the orchestrator’s by the CPU limit', () => {
    const local = { A: 2, B: 1 };
    const stored = { device: { nodes: { A: 10, B: 5 } }, edge: { nodes: { A: 1 } } };
    const dev = sideTimes(resolveSide('device', nodes), graph, stored, local);
    expect(dev.profile).toEqual({ node: 'device', nodeClass: 'device', source: 'stored', totalMs: 15 });
    expect(dev.times).toEqual({ A: 10, B: 5 });
    // edge's stored profile misses B: estimated, and the note says so.
    const edge = sideTimes(resolveSide('edge', nodes), graph, stored, local);
    expect(edge.profile).toMatchObject({ source: 'estimated', scale: 1, totalMs: 3 });
    expect(edge.profile.note).toContain('NOT measured on edge');
    const slow = sideTimes(resolveSide('dev-1', nodes), graph, undefined, local);
    expect(slow.times).toEqual({ A: 8, B: 4 });
    expect(slow.profile.note).toContain('×4.00 for 0.25 cores');
  });

  it('takes the link placement sees: the LAN inside a site, the measured RTT between sites, the default without nodes', () => {
    expect(sideLink(resolveSide('dev-1', nodes), resolveSide('edge-1', nodes), nodes)).toEqual({
      rttMs: 1,
      mbps: 1000,
      source: 'lan',
    });
    expect(sideLink(resolveSide('dev-1', nodes), resolveSide('cloud-1', nodes), nodes)).toMatchObject({
      rttMs: 30,
      source: 'default',
    });
    expect(sideLink(resolveSide('dev-1', nodes), resolveSide('cloud', []), nodes)).toMatchObject({
      source: 'default',
      note: "no node of cloud in the catalogue: the link is placement's default",
    });
  });
});
