import type { InstanceRecord, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { checkAdmission } from './instance-admission';

const node: NodeRecord = {
  id: 'edge-a',
  site: 's1',
  tier: 'edge',
  arch: 'x64',
  tags: ['camera', 'arm64'],
  cpuCores: 4,
  memoryMb: 1024,
  costPerHour: 0.05,
  labels: {},
  status: 'alive',
  heartbeatIntervalMs: 2000,
  lastHeartbeatAt: '',
  joinedAt: '',
  agentStartedAt: '',
  services: ['svc@1.0.0'],
};
const service: ServiceDescriptor = {
  name: 'svc',
  version: '1.0.0',
  kind: 'data',
  description: '',
  input: {},
  output: {},
  requirements: { memoryMb: 256 },
  concurrency: 1,
};
const instance = { id: 'i1', nodeId: 'edge-a' } as InstanceRecord;

describe('checkAdmission', () => {
  it('admits a service the node can run', () => {
    expect(checkAdmission(node, service, [], () => 0)).toEqual([]);
  });

  it('names the missing hardware tags and what the node has', () => {
    const [p] = checkAdmission(node, { ...service, requirements: { tags: ['gpu', 'camera'] } }, [], () => 0);
    expect(p.code).toBe('UNSATISFIABLE');
    expect(p.message).toBe('node edge-a lacks hardware tag gpu required by svc@1.0.0 (node has: camera, arm64)');
  });

  it('counts memory reserved by instances already on the node', () => {
    expect(checkAdmission(node, service, [instance, instance, instance], () => 256)).toEqual([]);
    const [p] = checkAdmission(node, service, [instance, instance, instance, instance], () => 256);
    expect(p.message).toBe(
      'svc@1.0.0 needs 256 MiB of memory but node edge-a has 0 MiB free (1024 MiB total, 1024 MiB reserved by 4 instances)',
    );
  });

  it('refuses dead nodes, wrong tiers and services outside the library', () => {
    const problems = checkAdmission(
      { ...node, status: 'dead', statusReason: 'no heartbeat for 6.1 s', services: [] },
      { ...service, requirements: { tier: 'cloud' } },
      [],
      () => 0,
    );
    expect(problems.map((p) => p.code)).toEqual(['CONFLICT', 'UNSATISFIABLE', 'UNSATISFIABLE']);
    expect(problems[0].message).toBe('node edge-a is dead (no heartbeat for 6.1 s); choose an alive node');
    expect(problems[1].message).toContain('its service library has no services');
    expect(problems[2].message).toBe('svc@1.0.0 must run on a cloud node; node edge-a is edge');
  });
});
