import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNodeDescriptor, NodeDescriptorError, parseNodeDescriptor } from './node-descriptor';

const valid = { id: 'edge-a', site: 'factory-1', tier: 'edge', tags: ['camera'], costPerHour: 0.05 };

describe('node descriptor', () => {
  it('accepts a valid descriptor and fills machine defaults', () => {
    const node = parseNodeDescriptor(valid, 'test');
    expect(node.id).toBe('edge-a');
    expect(node.cpuCores).toBe(os.cpus().length);
    expect(node.memoryMb).toBeGreaterThan(16);
    expect(node.labels).toEqual({});
  });

  it.each([
    [{ ...valid, costPerHour: 'cheap' }, '/costPerHour', 'must be number'],
    [{ ...valid, tier: 'fog' }, '/tier', 'must be one of "device", "edge", "cloud"'],
    [{ ...valid, limits: { cpu: 0 } }, '/limits/cpu', 'must be > 0 (got 0)'],
    [{ ...valid, limits: { cpu: 'half' } }, '/limits/cpu', 'must be number (got "half")'],
    [{ ...valid, limits: { memoryMb: 8 } }, '/limits/memoryMb', 'must be >= 16'],
    [{ ...valid, limits: { disk: 1 } }, '/limits/disk', 'is not an accepted field'],
    [{ ...valid, cpuCores: 2, limits: { cpu: 3 } }, '/limits/cpu', "must be at most the node's cpuCores (2) (got 3)"],
    [
      { ...valid, memoryMb: 512, limits: { memoryMb: 1024 } },
      '/limits/memoryMb',
      "must be at most the node's memoryMb (512)",
    ],
    [{ ...valid, id: 'edge.a' }, '/id', 'must match pattern'],
    [{ ...valid, site: undefined }, '/site', 'is required'],
    [{ ...valid, memoryMb: 4 }, '/memoryMb', 'must be >= 16'],
    [{ ...valid, gpus: 2 }, '/gpus', 'is not an accepted field'],
  ])('rejects %j naming the field', (raw, pointer, text) => {
    const attempt = () => parseNodeDescriptor(raw, 'test');
    expect(attempt).toThrow(NodeDescriptorError);
    try {
      attempt();
    } catch (err) {
      const issue = (err as NodeDescriptorError).issues.find((i) => i.pointer === pointer);
      expect(issue?.message).toContain(text);
      expect((err as Error).message).toContain(pointer);
    }
  });

  it('accepts a device with fractional CPU limits', () => {
    const node = parseNodeDescriptor(
      { ...valid, tier: 'device', cpuCores: 1, memoryMb: 512, limits: { cpu: 0.25, memoryMb: 256 } },
      'test',
    );
    expect(node).toMatchObject({ tier: 'device', limits: { cpu: 0.25, memoryMb: 256 } });
  });

  it('takes limits from the environment, over the file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-node-'));
    const file = path.join(dir, 'node.yaml');
    writeFileSync(file, 'id: dev-1\nsite: s2\ntier: device\ncostPerHour: 0\ncpuCores: 1\nlimits: { memoryMb: 128 }\n');
    expect(loadNodeDescriptor(file, { YUNBIAN_NODE_LIMIT_CPU: '0.5' }).limits).toEqual({ cpu: 0.5, memoryMb: 128 });
    expect(() => loadNodeDescriptor(file, { YUNBIAN_NODE_LIMIT_CPU: 'lots' })).toThrow(
      /\/limits\/cpu must be number \(got "lots"\)/,
    );
  });

  it('reads YAML files and lets the environment override fields', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-node-'));
    const file = path.join(dir, 'node.yaml');
    writeFileSync(file, 'id: edge-b\nsite: s2\ntier: edge\ncostPerHour: 0.1\ntags: [arm64]\n');
    const node = loadNodeDescriptor(file, { YUNBIAN_NODE_TAGS: 'arm64, npu', YUNBIAN_NODE_COST_PER_HOUR: '0.2' });
    expect(node.tags).toEqual(['arm64', 'npu']);
    expect(node.costPerHour).toBe(0.2);
    expect(() => loadNodeDescriptor(file, { YUNBIAN_NODE_CPU_CORES: 'many' })).toThrow(
      /\/cpuCores must be number \(got "many"\)/,
    );
  });

  it('reports unreadable and unparsable files', () => {
    expect(() => loadNodeDescriptor('/nonexistent/node.yaml', {})).toThrow(/cannot be read/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-node-'));
    const file = path.join(dir, 'node.json');
    writeFileSync(file, '{ not json');
    expect(() => loadNodeDescriptor(file, {})).toThrow(/not valid YAML\/JSON/);
  });
});
