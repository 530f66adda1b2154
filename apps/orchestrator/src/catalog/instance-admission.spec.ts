import type { InstanceRecord, NodeRecord, ServiceDescriptor } from '@yunbian/contracts';
import { checkAdmission, reservationOf, type Reservation } from './instance-admission';

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
const none = (): Reservation => ({ memoryMb: 0, cpu: 0 });
const memory = (memoryMb: number) => (): Reservation => ({ memoryMb, cpu: 0 });

describe('checkAdmission', () => {
  it('admits a service the node can run', () => {
    expect(checkAdmission(node, service, [], none)).toEqual([]);
  });

  it('names the missing hardware tags and what the node has', () => {
    const [p] = checkAdmission(node, { ...service, requirements: { tags: ['gpu', 'camera'] } }, [], none);
    expect(p.code).toBe('UNSATISFIABLE');
    expect(p.message).toBe('node edge-a lacks hardware tag gpu required by svc@1.0.0 (node has: camera, arm64)');
  });

  it('counts memory reserved by instances already on the node', () => {
    expect(checkAdmission(node, service, [instance, instance, instance], memory(256))).toEqual([]);
    const [p] = checkAdmission(node, service, [instance, instance, instance, instance], memory(256));
    expect(p.message).toBe(
      'svc@1.0.0 needs 256 MiB of memory but node edge-a has 0 MiB free (1024 MiB total, 1024 MiB reserved by 4 instances); choose another node or stop an instance there',
    );
  });

  it('refuses dead nodes, wrong tiers and services outside the library', () => {
    const problems = checkAdmission(
      { ...node, status: 'dead', statusReason: 'no heartbeat for 6.1 s', services: [] },
      { ...service, requirements: { tier: 'cloud' } },
      [],
      none,
    );
    expect(problems.map((p) => p.code)).toEqual(['CONFLICT', 'UNSATISFIABLE', 'UNSATISFIABLE']);
    expect(problems[0].message).toBe('node edge-a is dead (no heartbeat for 6.1 s); choose an alive node');
    expect(problems[1].message).toContain('its service library has no services');
    expect(problems[2].message).toBe('svc@1.0.0 must run on a cloud node; node edge-a is edge');
  });

  it('tells device, edge and cloud apart', () => {
    const device = { ...node, tier: 'device' as const };
    expect(checkAdmission(device, { ...service, requirements: { tier: 'device' } }, [], none)).toEqual([]);
    const [p] = checkAdmission(device, { ...service, requirements: { tier: 'edge' } }, [], none);
    expect(p.message).toBe('svc@1.0.0 must run on a edge node; node edge-a is device');
  });

  describe('resources', () => {
    const limited: NodeRecord = { ...node, cpuCores: 2, memoryMb: 2048, limits: { cpu: 1, memoryMb: 512 } };

    it('counts memory against the node limit, not the machine', () => {
      const light = { ...service, requirements: { memoryMb: 64 } };
      const [p] = checkAdmission(limited, light, [instance], memory(300), { memoryMb: 256 });
      expect(p.message).toBe(
        'svc@1.0.0 needs 256 MiB of memory but node edge-a has 212 MiB free (512 MiB limit of 2048 MiB, 300 MiB reserved by 1 instance); lower resources.memoryMb to at most 212, choose another node or stop an instance there',
      );
      expect(p.details).toMatchObject({ freeMb: 212, limitMb: 512, totalMb: 2048 });
      // A cap the service cannot live under is not offered as the fix.
      const [q] = checkAdmission(limited, service, [instance], memory(300), { memoryMb: 256 });
      expect(q.message).toMatch(/free \(.*\); choose another node or stop an instance there$/);
    });

    it('refuses a memory cap below what the service requires', () => {
      const [p] = checkAdmission(limited, service, [], none, { memoryMb: 128 });
      expect(p.message).toBe(
        'resources.memoryMb 128 MiB is less than the 256 MiB svc@1.0.0 requires; raise resources.memoryMb to at least 256, or omit it',
      );
    });

    it('reserves CPU and says what is free', () => {
      const half = () => ({ memoryMb: 0, cpu: 0.5 });
      expect(checkAdmission(limited, service, [instance], half, { cpu: 0.5 })).toEqual([]);
      const [p] = checkAdmission(limited, service, [instance, instance], half, { cpu: 0.25 });
      expect(p.message).toBe(
        'svc@1.0.0 asks for 0.25 cores but node edge-a has 0 cores free (1 core from its limits.cpu, 1 core reserved by 2 instances); choose another node or stop an instance there',
      );
      const [q] = checkAdmission(limited, service, [instance], () => ({ memoryMb: 0, cpu: 0.75 }), { cpu: 0.5 });
      expect(q.message).toContain('has 0.25 cores free');
      expect(q.message).toContain('lower resources.cpu to at most 0.25');
    });

    it('refuses more CPU than the node gives at all', () => {
      const [p] = checkAdmission({ ...node, cpuCores: 4 }, service, [], none, { cpu: 6 });
      expect(p.message).toBe(
        'resources.cpu 6 is more than node edge-a gives its instances (4 cores, its cpuCores); lower resources.cpu to at most 4 or choose a bigger node',
      );
      expect(p.details).toMatchObject({ pointer: '/resources/cpu' });
    });

    it('takes an instance reservation from its resources, else its service', () => {
      expect(reservationOf({ resources: { cpu: 0.5, memoryMb: 100 } }, service)).toEqual({ cpu: 0.5, memoryMb: 100 });
      expect(reservationOf({}, service)).toEqual({ cpu: 0, memoryMb: 256 });
      expect(reservationOf({}, undefined)).toEqual({ cpu: 0, memoryMb: 0 });
    });
  });
});
