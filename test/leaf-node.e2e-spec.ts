import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Subjects, type InstanceRecord, type NodeRecord } from '@yunbian/contracts';
import { LeafCluster } from './support/leaf-cluster';

const HEARTBEAT_MS = 500;
const SITE = 'factory-sz';
const CATALOG_BUCKET = 'yb-catalog';

jest.setTimeout(60_000);

describe('an edge site behind a NATS leaf node (hub + leaf nats-servers, orchestrator, agents, worker)', () => {
  let cluster: LeafCluster;

  beforeAll(async () => {
    cluster = await LeafCluster.start(SITE);
    await cluster.startOrchestrator();
    const heartbeat = { YUNBIAN_HEARTBEAT_MS: String(HEARTBEAT_MS) };
    cluster.startAgent(
      { id: 'cloud-1', site: 'cloud-east', tier: 'cloud', tags: ['gpu'], memoryMb: 8192, costPerHour: 2.4 },
      'hub',
      heartbeat,
    );
    cluster.startAgent(
      { id: 'edge-a', site: SITE, tier: 'edge', tags: ['camera', 'npu'], memoryMb: 1024, costPerHour: 0.08 },
      'leaf',
      heartbeat,
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('catalogues the edge node alive, with round trips measured across the leaf both ways', async () => {
    const nodes = await cluster.waitFor(
      async () => {
        const list = await cluster.get<NodeRecord[]>('/nodes');
        const measured = list.filter(
          (n) => n.status === 'alive' && n.rtt?.orchestratorMs !== undefined && Object.keys(n.rtt.sites).length === 1,
        );
        return measured.length === 2 ? list : undefined;
      },
      20_000,
      'edge-a and cloud-1 alive with RTTs to the orchestrator and to each other’s site',
    );
    const edge = nodes.find((n) => n.id === 'edge-a')!;
    expect(edge).toMatchObject({ status: 'alive', site: SITE, tier: 'edge', tags: ['camera', 'npu'] });
    expect(edge.services).toContain('echo@1.0.0');
    expect(Object.keys(edge.rtt!.sites)).toEqual(['cloud-east']);
    expect(Object.keys(nodes.find((n) => n.id === 'cloud-1')!.rtt!.sites)).toEqual([SITE]);

    // The agent really is behind the leaf: the leaf holds its connection, the hub does not.
    expect(await cluster.connectionNames('leaf')).toContain('agent edge-a');
    expect(await cluster.connectionNames('hub')).not.toContain('agent edge-a');
  });

  it('starts an instance on the edge node; a client on the hub calls it through the leaf', async () => {
    const { status, body } = await cluster.call('POST', '/instances', { service: 'echo@^1', nodeId: 'edge-a' });
    expect({ status, body }).toMatchObject({ status: 201, body: { status: 'starting', nodeId: 'edge-a' } });
    const created = body as unknown as InstanceRecord;
    await cluster.waitFor(
      async () => (await cluster.get<InstanceRecord>(`/instances/${created.id}`)).status === 'ready',
      20_000,
      `instance ${created.id} ready on edge-a`,
    );

    const hubClient = await cluster.client('hub');
    const reply = await hubClient.request<{ value: string; instanceId: string; nodeId: string }>(
      Subjects.service('echo', '1.0.0'),
      { value: 'across the leaf' },
    );
    expect(reply).toMatchObject({ value: 'across the leaf', instanceId: created.id, nodeId: 'edge-a' });
    await expect(hubClient.request(created.subject, { value: 'pinned' })).resolves.toMatchObject({ value: 'pinned' });

    // The worker the agent forked inherited the leaf's URL: the answer came from the edge side.
    expect(await cluster.connectionNames('leaf')).toContain(`worker ${created.id}`);
    expect(await cluster.connectionNames('hub')).not.toContain(`worker ${created.id}`);
  });

  it('keeps the catalogue KV on the hub; leaf clients reach it through the hub’s JetStream domain', async () => {
    const onHub = await new Kvm((await cluster.client('hub')).connection).open(CATALOG_BUCKET);
    expect((await onHub.get('node.edge-a'))?.json<NodeRecord>()).toMatchObject({ id: 'edge-a', site: SITE });

    const leafConnection = (await cluster.client('leaf')).connection;
    const hubFromLeaf = await new Kvm(jetstream(leafConnection, { domain: 'hub' })).open(CATALOG_BUCKET);
    expect((await hubFromLeaf.get('node.edge-a'))?.json<NodeRecord>()).toMatchObject({ id: 'edge-a' });

    // The site's own JetStream domain is separate: the hub's bucket is not there.
    const siteKv = new Kvm(jetstream(leafConnection));
    await expect(siteKv.open(CATALOG_BUCKET).then((kv) => kv.status())).rejects.toThrow(/stream not found/);
    const local = await siteKv.create('site-buffer', { history: 1 });
    await local.put('reading', '42');
    expect((await local.get('reading'))?.string()).toBe('42');
    const accountInfo = await jetstream(leafConnection, { domain: SITE }).jetstreamManager();
    expect((await accountInfo.getAccountInfo()).domain).toBe(SITE);
  });
});
