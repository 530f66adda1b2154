import {
  Subjects,
  type InstanceRecord,
  type NodeDescriptor,
  type NodeRecord,
  type ServiceRecord,
} from '@yunbian/contracts';
import { isRunning, TestCluster, type Proc } from './support/cluster';

const HEARTBEAT_MS = 500;
const nodes: Record<string, Pick<NodeDescriptor, 'id' | 'site' | 'tier' | 'tags' | 'memoryMb' | 'costPerHour'>> = {
  cloud: { id: 'cloud-1', site: 'cloud-east', tier: 'cloud', tags: ['gpu', 'cuda'], memoryMb: 8192, costPerHour: 2.4 },
  edgeA: { id: 'edge-a', site: 'factory-sz', tier: 'edge', tags: ['camera', 'npu'], memoryMb: 1024, costPerHour: 0.08 },
  edgeB: { id: 'edge-b', site: 'store-hz', tier: 'edge', tags: ['camera'], memoryMb: 512, costPerHour: 0.05 },
};

jest.setTimeout(60_000);

describe('catalogue across processes (real nats-server, agents, workers)', () => {
  let cluster: TestCluster;
  const agents: Record<string, Proc> = {};

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    for (const node of Object.values(nodes)) {
      agents[node.id] = cluster.startAgent({ ...node }, { YUNBIAN_HEARTBEAT_MS: String(HEARTBEAT_MS) });
    }
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const startInstance = async (service: string, nodeId: string) => {
    const { status, body } = await cluster.call('POST', '/instances', { service, nodeId });
    expect({ status, body }).toMatchObject({ status: 201, body: { status: 'starting', nodeId } });
    return body as unknown as InstanceRecord;
  };

  const waitReady = (id: string, extra: (i: InstanceRecord) => boolean = () => true) =>
    cluster.waitFor(
      async () => {
        const i = await cluster.get<InstanceRecord>(`/instances/${id}`);
        return i.status === 'ready' && extra(i) ? i : undefined;
      },
      20_000,
      `instance ${id} ready`,
    );

  it('lists the three nodes with tags, cost and measured round trips', async () => {
    const listed = await cluster.waitFor(
      async () => {
        const list = await cluster.get<NodeRecord[]>('/nodes');
        const complete = list.filter(
          (n) => n.status === 'alive' && n.rtt?.orchestratorMs !== undefined && Object.keys(n.rtt.sites).length === 2,
        );
        return complete.length === 3 ? list : undefined;
      },
      20_000,
      'three alive nodes with RTT to the orchestrator and to both other sites',
    );
    for (const declared of Object.values(nodes)) {
      const node = listed.find((n) => n.id === declared.id)!;
      expect(node).toMatchObject({ tier: declared.tier, site: declared.site, costPerHour: declared.costPerHour });
      expect(node.tags).toEqual(declared.tags);
      expect(node.rtt!.orchestratorMs).toBeGreaterThan(0);
      const otherSites = Object.values(nodes)
        .filter((n) => n.site !== declared.site)
        .map((n) => n.site)
        .sort();
      expect(Object.keys(node.rtt!.sites).sort()).toEqual(otherSites);
      expect(node.load!.memoryTotalMb).toBe(declared.memoryMb);
      expect(node.services).toEqual(
        expect.arrayContaining(['echo@1.0.0', 'json-transform@1.0.0', 'image-resize@1.0.0']),
      );
    }
    const services = await cluster.get<ServiceRecord[]>('/services');
    expect(services.find((s) => s.name === 'gpu-echo')).toMatchObject({ requirements: { tags: ['gpu'] } });
    const one = await cluster.get<{ versions: ServiceRecord[] }>('/services/echo');
    expect(one.versions[0].nodes.sort()).toEqual(['cloud-1', 'edge-a', 'edge-b']);
  });

  it('starts a worker on the chosen node, serves over NATS, restarts it when killed, drains it on DELETE', async () => {
    const client = await cluster.client();
    const created = await startInstance('echo@^1', 'edge-a');
    const ready = await waitReady(created.id);
    expect(isRunning(ready.pid!)).toBe(true);

    const viaQueue = await client.request<{ value: string; instanceId: string }>(Subjects.service('echo', '1.0.0'), {
      value: 'hello',
    });
    expect(viaQueue).toMatchObject({ value: 'hello', instanceId: created.id, nodeId: 'edge-a' });
    const pinned = await client.request<{ pid: number }>(created.subject, { value: 1 });
    expect(pinned.pid).toBe(ready.pid);

    // Kill the worker: the agent restarts it with a new process.
    process.kill(ready.pid!, 'SIGKILL');
    const restarted = await waitReady(created.id, (i) => i.restarts >= 1 && i.pid !== ready.pid);
    expect(restarted.lastError).toContain('SIGKILL');
    expect((await client.request<{ pid: number }>(created.subject, { value: 2 })).pid).toBe(restarted.pid);

    // DELETE drains: a request already running completes, then the process exits.
    const slow = client.request<{ value: string }>(
      created.subject,
      { value: 'slow', delayMs: 1_000 },
      { timeoutMs: 10_000 },
    );
    await new Promise((r) => setTimeout(r, 100));
    const deleted = await cluster.call('DELETE', `/instances/${created.id}`);
    expect(deleted).toMatchObject({ status: 202, body: { status: 'draining' } });
    await expect(slow).resolves.toMatchObject({ value: 'slow' });
    await cluster.waitFor(
      async () => (await cluster.call('GET', `/instances/${created.id}`)).status === 404,
      10_000,
      'the instance to leave the catalogue',
    );
    await cluster.waitFor(async () => !isRunning(restarted.pid!), 5_000, 'the worker process to exit');
  });

  it('refuses instances that cannot run, saying why', async () => {
    const unknown = await cluster.call('POST', '/instances', { service: 'no-such-service', nodeId: 'edge-a' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toContain('unknown service "no-such-service"');
    expect(unknown.body.message).toContain('echo@1.0.0');

    const noGpu = await cluster.call('POST', '/instances', { service: 'gpu-echo', nodeId: 'edge-a' });
    expect(noGpu.status).toBe(422);
    expect(noGpu.body.message).toBe(
      'node edge-a lacks hardware tag gpu required by gpu-echo@1.0.0 (node has: camera, npu)',
    );

    const noMemory = await cluster.call('POST', '/instances', { service: 'big-echo@1.0.0', nodeId: 'edge-b' });
    expect(noMemory.status).toBe(422);
    expect(noMemory.body.message).toContain('needs 4096 MiB of memory but node edge-b has 512 MiB free');

    const badBody = await cluster.call('POST', '/instances', { service: 'echo', node: 'edge-a' });
    expect(badBody.status).toBe(400);
    expect(badBody.body.message).toContain('/nodeId is required');

    const unknownNode = await cluster.call('POST', '/instances', { service: 'echo', nodeId: 'edge-z' });
    expect(unknownNode.status).toBe(404);
    expect(unknownNode.body.message).toContain('unknown node "edge-z"');

    const gpuOk = await startInstance('gpu-echo', 'cloud-1');
    await waitReady(gpuOk.id);
  });

  it('marks a SIGKILLed agent dead within 3 heartbeat intervals + 1 s, and its instances not ready', async () => {
    const instance = await startInstance('echo', 'edge-b');
    const ready = await waitReady(instance.id);

    agents['edge-b'].child.kill('SIGKILL');
    const killedAt = Date.now();
    const dead = await cluster.waitFor(
      async () => {
        const node = await cluster.node('edge-b');
        return node?.status === 'dead' ? node : undefined;
      },
      3 * HEARTBEAT_MS + 1_000 + 2_000,
      'edge-b to be dead',
    );
    const detectedAfter = Date.now() - killedAt;
    expect(detectedAfter).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 1_000);
    expect(dead.statusReason).toMatch(/no heartbeat for/);

    const after = await cluster.get<InstanceRecord>(`/instances/${instance.id}`);
    expect(after.status).not.toBe('ready');
    expect(after.lastError).toContain('node edge-b is dead');
    // The orphaned worker notices its agent is gone and exits.
    await cluster.waitFor(async () => !isRunning(ready.pid!), 10_000, 'the orphaned worker to exit');

    const onDead = await cluster.call('POST', '/instances', { service: 'echo', nodeId: 'edge-b' });
    expect(onDead.status).toBe(409);
    expect(onDead.body.message).toContain('node edge-b is dead');
  });

  it('keeps nodes, services and instances across an orchestrator restart', async () => {
    const kept = await startInstance('echo', 'cloud-1');
    await waitReady(kept.id);
    const before = await cluster.get<NodeRecord[]>('/nodes');

    cluster.orchestrator!.child.kill('SIGKILL');
    await new Promise((resolve) => cluster.orchestrator!.child.once('exit', resolve));
    await cluster.startOrchestrator();

    // Straight after start: edge-b is dead and no agent speaks for it, so only the store can know it.
    const after = await cluster.get<NodeRecord[]>('/nodes');
    expect(after.map((n) => n.id)).toEqual(before.map((n) => n.id));
    expect(after.find((n) => n.id === 'edge-b')).toMatchObject({ status: 'dead', costPerHour: 0.05, tags: ['camera'] });
    const services = await cluster.get<ServiceRecord[]>('/services');
    expect(services.map((s) => s.name)).toEqual(
      expect.arrayContaining(['echo', 'gpu-echo', 'json-transform', 'image-resize']),
    );
    const instances = await cluster.get<InstanceRecord[]>('/instances');
    expect(instances.map((i) => i.id)).toContain(kept.id);

    // And the live agents keep it current: the instance is still ready and still answers.
    await waitReady(kept.id);
    const client = await cluster.client();
    await expect(client.request(kept.subject, { value: 'after restart' })).resolves.toMatchObject({
      value: 'after restart',
    });
  });
});
