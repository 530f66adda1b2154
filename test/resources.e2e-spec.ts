import { existsSync } from 'node:fs';
import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { detectLimits, type CgroupV1Limits } from '../apps/agent/src/cgroups';
import { TestCluster } from './support/cluster';

jest.setTimeout(90_000);

// The agents run in this process's cgroups: what this process may do, they may do.
const probe = detectLimits({ nodeId: `probe-e2e-${process.pid}` });
probe.stop();
const enforced = probe.enforcement.cpu && probe.enforcement.memory;
if (!enforced) process.stderr.write(`resources.e2e: SKIPPING the enforced-limit test: ${probe.enforcement.reason}\n`);
const enforcedIt = enforced ? it : it.skip;

describe('node tiers, limits and instance resources across processes', () => {
  let cluster: TestCluster;
  const device = {
    id: `dev-${process.pid}`,
    site: 'factory',
    tier: 'device' as const,
    tags: ['camera'],
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0.01,
    limits: { cpu: 0.5, memoryMb: 512 },
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(device, { YUNBIAN_HEARTBEAT_MS: '500' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('lists a device with its limits and whether they are enforced', async () => {
    const node = (await cluster.node(device.id)) as NodeRecord;
    expect(node).toMatchObject({ tier: 'device', limits: { cpu: 0.5, memoryMb: 512 } });
    expect(node.limitsEnforcement).toMatchObject({
      mode: probe.enforcement.mode,
      cpu: probe.enforcement.cpu,
      memory: probe.enforcement.memory,
    });
    if (!enforced) expect(node.limitsEnforcement?.reason).toBeTruthy();
  });

  it('reserves instance resources against the node limits and refuses what does not fit, saying what is free', async () => {
    const tooMuch = await cluster.call('POST', '/instances', {
      service: 'echo',
      nodeId: device.id,
      resources: { cpu: 1 },
    });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.message).toContain(
      `resources.cpu 1 is more than node ${device.id} gives its instances (0.5 cores, its limits.cpu)`,
    );
    const invalid = await cluster.call('POST', '/instances', {
      service: 'echo',
      nodeId: device.id,
      resources: { cpu: 0 },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.message).toContain('/resources/cpu must be > 0');

    const first = await cluster.call('POST', '/instances', {
      service: 'echo',
      nodeId: device.id,
      resources: { cpu: 0.25, memoryMb: 128 },
    });
    expect(first.status).toBe(201);
    expect(first.body.resources).toEqual({ cpu: 0.25, memoryMb: 128 });
    const second = await cluster.call('POST', '/instances', {
      service: 'echo',
      nodeId: device.id,
      resources: { cpu: 0.5 },
    });
    expect(second.status).toBe(422);
    expect(second.body.message).toContain(
      'has 0.25 cores free (0.5 cores from its limits.cpu, 0.25 cores reserved by 1 instance); lower resources.cpu to at most 0.25',
    );
    const memory = await cluster.call('POST', '/instances', {
      service: 'echo',
      nodeId: device.id,
      resources: { memoryMb: 400 },
    });
    expect(memory.status).toBe(422);
    expect(memory.body.message).toContain(
      'has 384 MiB free (512 MiB limit of 2048 MiB, 128 MiB reserved by 1 instance)',
    );
    await cluster.call('DELETE', `/instances/${first.body.id as string}?drainTimeoutMs=0`);
    await cluster.waitFor(
      async () => (await cluster.call('GET', `/instances/${first.body.id as string}`)).status === 404,
      15_000,
      'the echo instance to go',
    );
  });

  enforcedIt(
    'fails and restarts a worker that exceeds its memory limit, while the node and its other instances keep serving',
    async () => {
      const client = await cluster.client();
      const echo = await cluster.deploy('echo', device.id);
      const created = await cluster.call('POST', '/instances', {
        service: 'memory-hog',
        nodeId: device.id,
        resources: { memoryMb: 96, cpu: 0.25 },
      });
      expect(created.status).toBe(201);
      const hog = await cluster.waitFor(
        async () => {
          const i = await cluster.get<InstanceRecord>(`/instances/${created.body.id as string}`);
          return i.status === 'ready' ? i : undefined;
        },
        30_000,
        'memory-hog ready',
      );
      // Its groups are where the layout says, beneath this process's own cgroup.
      const layout = detectLimits({ nodeId: device.id }) as CgroupV1Limits;
      const memoryDir = layout.instanceDir('memory', hog.id)!;
      expect(existsSync(memoryDir)).toBe(true);

      await expect(client.request(hog.subject, { mb: 300 }, { timeoutMs: 5_000 })).rejects.toThrow();
      const restarted = await cluster.waitFor(
        async () => {
          const i = await cluster.get<InstanceRecord>(`/instances/${hog.id}`);
          return i.restarts >= 1 ? i : undefined;
        },
        20_000,
        'the memory-hog to be restarted',
      );
      expect(restarted.lastError).toContain('worker exceeded its memory limit of 96 MB');
      expect((await cluster.node(device.id))?.status).toBe('alive');
      await expect(client.request(echo.subject, { value: 'still here' })).resolves.toMatchObject({
        value: 'still here',
      });

      await cluster.call('DELETE', `/instances/${hog.id}?drainTimeoutMs=0`);
      await cluster.waitFor(
        async () => (await cluster.call('GET', `/instances/${hog.id}`)).status === 404,
        15_000,
        'the memory-hog to go',
      );
      expect(existsSync(memoryDir)).toBe(false);
    },
  );
});
