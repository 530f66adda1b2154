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
    [{ ...valid, tier: 'fog' }, '/tier', 'must be one of "edge", "cloud"'],
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
