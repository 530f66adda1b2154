import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configuredRttToCloud, loadTopology, parseTopology, pathToCloud, TopologyError } from './topology';

type Raw = ReturnType<typeof valid>;

function valid() {
  return {
    sites: [
      { name: 'cloud', kind: 'cloud', nodes: [{ id: 'cloud-1', tags: ['gpu'] }] },
      {
        name: 'factory-sz',
        kind: 'edge',
        uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 },
        nodes: [{ id: 'edge-box', limits: { cpu: 1 } }],
      },
      {
        name: 'line-3',
        kind: 'device',
        uplink: { to: 'factory-sz', upMbps: 5, downMbps: 5, rttMs: 20, lossPercent: 1 },
        nodes: [{ id: 'device-1', limits: { cpu: 0.25, memoryMb: 256 } }],
      },
    ],
  };
}

function issues(raw: unknown): { pointer: string; message: string }[] {
  try {
    parseTopology(raw, 'test');
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    return (err as TopologyError).issues;
  }
  throw new Error('expected the topology to be refused');
}

describe('testbed topology', () => {
  it('accepts sites with uplinks and fills node defaults from the site', () => {
    const topology = parseTopology(valid(), 'test');
    expect(topology.name).toBe('testbed');
    expect(topology.sites[1].nodes[0]).toMatchObject({ id: 'edge-box', tier: 'edge', tags: [], costPerHour: 0 });
    expect(topology.sites[2].nodes[0]).toMatchObject({ tier: 'device', limits: { cpu: 0.25, memoryMb: 256 } });
    expect(pathToCloud(topology, 'line-3').map((s) => s.name)).toEqual(['line-3', 'factory-sz']);
    expect(configuredRttToCloud(topology, 'line-3')).toBe(60);
    expect(configuredRttToCloud(topology, 'cloud')).toBe(0);
  });

  it.each([
    [
      (t: Raw) => ((t.sites[1].uplink as Record<string, unknown>).upMbps = 'fast'),
      '/sites/1/uplink/upMbps',
      'must be number (got "fast")',
    ],
    [
      (t: Raw) => delete (t.sites[1].uplink as Partial<Record<string, unknown>>).rttMs,
      '/sites/1/uplink/rttMs',
      'is required',
    ],
    [(t: Raw) => (t.sites[2].kind = 'fog'), '/sites/2/kind', 'must be one of "cloud", "edge", "device"'],
    [
      (t: Raw) => ((t.sites[2].nodes[0] as { limits: { cpu: number } }).limits.cpu = 0),
      '/sites/2/nodes/0/limits/cpu',
      'must be > 0',
    ],
    [
      (t: Raw) => ((t.sites[2].nodes[0] as Record<string, unknown>).gpus = 1),
      '/sites/2/nodes/0/gpus',
      'is not an accepted field',
    ],
    [(t: Raw) => (t.sites[2].uplink!.lossPercent = 120), '/sites/2/uplink/lossPercent', 'must be <= 100'],
  ])('names the field of a schema problem (%#)', (mutate, pointer, message) => {
    const raw = valid();
    mutate(raw);
    expect(issues(raw)).toContainEqual({ pointer, message: expect.stringContaining(message) });
  });

  it('checks the tree: one cloud, uplinks to the right kind of site, unique names', () => {
    const twoClouds = valid();
    twoClouds.sites[1] = { name: 'cloud-b', kind: 'cloud', nodes: [] } as never;
    expect(issues(twoClouds)).toContainEqual({
      pointer: '/sites',
      message: expect.stringContaining('exactly one site of kind "cloud" (found 2'),
    });

    const deviceToCloud = valid();
    deviceToCloud.sites[2].uplink!.to = 'cloud';
    expect(issues(deviceToCloud)).toContainEqual({
      pointer: '/sites/2/uplink/to',
      message: expect.stringContaining('must name an edge site'),
    });

    const missing = valid();
    delete (missing.sites[1] as { uplink?: unknown }).uplink;
    expect(issues(missing)).toContainEqual({
      pointer: '/sites/1/uplink',
      message: expect.stringContaining('is required for an edge site'),
    });

    const unknown = valid();
    unknown.sites[2].uplink!.to = 'nowhere';
    expect(issues(unknown)).toContainEqual({
      pointer: '/sites/2/uplink/to',
      message: expect.stringContaining('names no site (got "nowhere")'),
    });

    const duplicate = valid();
    duplicate.sites[2].nodes[0].id = 'edge-box';
    expect(issues(duplicate)).toContainEqual({
      pointer: '/sites/2/nodes/0/id',
      message: expect.stringContaining('already a node of site factory-sz'),
    });
  });

  it('reads YAML files and reports unreadable ones', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-topology-'));
    const file = path.join(dir, 't.yaml');
    writeFileSync(file, 'sites:\n  - { name: cloud, kind: cloud, nodes: [{ id: c1 }] }\n');
    expect(loadTopology(file).sites[0].nodes[0].tier).toBe('cloud');
    expect(() => loadTopology(path.join(dir, 'missing.yaml'))).toThrow(/cannot be read/);
    writeFileSync(file, 'sites: [');
    expect(() => loadTopology(file)).toThrow(/not valid YAML/);
  });

  it('accepts the example topology', () => {
    const factory = loadTopology(path.join(__dirname, 'topologies/factory.yaml'));
    expect(factory.sites.map((s) => [s.name, s.kind])).toEqual([
      ['cloud', 'cloud'],
      ['factory-sz', 'edge'],
      ['line-3', 'device'],
    ]);
    expect(configuredRttToCloud(factory, 'line-3')).toBe(60);
  });
});
