import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { TriggerStatus } from '@yunbian/contracts';
import { TestCluster } from './support/cluster';

jest.setTimeout(120_000);

interface RunView {
  id: string;
  status: string;
  input?: unknown;
  output?: unknown;
}
interface WorkflowView {
  version: number;
  triggers: TriggerStatus[];
}
interface StoredRun {
  id: string;
  status: string;
  createdAt: string;
  input: unknown;
}

const MESSAGES = 1_000;

describe('workflow triggers (real nats-server with JetStream, orchestrator, agent)', () => {
  let cluster: TestCluster;

  const create = async (definition: unknown) => {
    const { status, body } = await cluster.call('POST', '/workflows', definition);
    expect({ status, body }).toEqual({ status: 201, body: expect.anything() });
  };
  const trigger = async (workflow: string, index = 0) =>
    (await cluster.get<WorkflowView>(`/workflows/${workflow}`)).triggers[index];
  const whenActive = (workflow: string) =>
    cluster.waitFor(async () => (await trigger(workflow)).state === 'active', 20_000, `${workflow} trigger active`);
  const runsOf = (workflow: string) => cluster.get<RunView[]>(`/runs?workflow=${workflow}&limit=1000`);

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'site-a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    await cluster.deploy('echo', 'edge-a');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses bad triggers at POST /workflows with pointers', async () => {
    const { status, body } = await cluster.call('POST', '/workflows', {
      name: 'bad-triggers',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: 1 } }],
      triggers: [{ subject: 'a..b' }, { stream: 'S', schedule: '* * * * *' }, { schedule: 'every minute' }],
    });
    expect(status).toBe(400);
    const issues = (body.details as { issues: { pointer: string }[] }).issues;
    expect(issues.map((i) => i.pointer)).toEqual(['/triggers/0/subject', '/triggers/1', '/triggers/2/schedule']);
  });

  it('documents the trigger status of GET /workflows/{name} in the OpenAPI', async () => {
    const openapi = await cluster.get<{
      paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }>;
      components: { schemas: Record<string, unknown> };
    }>('/docs/openapi.json');
    // Named schemas are $refs to components/schemas.
    const resolve = <T>(schema: unknown): T => {
      const ref = (schema as { $ref?: string }).$ref;
      return (ref ? openapi.components.schemas[ref.split('/').pop()!] : schema) as T;
    };
    const view = resolve<{ properties: { triggers: { items: unknown } } }>(
      openapi.paths['/workflows/{name}'].get!.responses['200'].content!['application/json'].schema,
    );
    const trigger = resolve<{ properties: Record<string, unknown> }>(view.properties.triggers.items);
    expect(Object.keys(trigger.properties)).toEqual(
      expect.arrayContaining(['state', 'reason', 'runsStarted', 'lastFiredAt', 'lastError', 'inFlight']),
    );
  });

  it('starts a run with a core NATS message as its input', async () => {
    await create({
      name: 'on-subject',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: '=$input' } }],
      output: '$steps.e.output.value',
      durability: 'none',
      triggers: [
        { id: 'readings', subject: 'test.readings.*', input: { reading: '=$trigger.data', on: '=$trigger.subject' } },
      ],
    });
    await whenActive('on-subject');
    const client = await cluster.client();
    client.publish('test.readings.kitchen', { celsius: 21.5 });
    const run = await cluster.waitFor(
      async () => (await runsOf('on-subject')).find((r) => r.status === 'succeeded'),
      20_000,
      'the subject-triggered run',
    );
    const full = await cluster.get<RunView>(`/runs/${run.id}`);
    expect(full.output).toEqual({ reading: { celsius: 21.5 }, on: 'test.readings.kitchen' });
    const status = await trigger('on-subject');
    expect(status).toMatchObject({
      id: 'readings',
      kind: 'subject',
      state: 'active',
      runsStarted: 1,
      lastRunId: run.id,
    });

    // A new version's triggers replace the old one's: the old subject starts nothing any more.
    await create({
      name: 'on-subject',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: '=$input' } }],
      output: '$steps.e.output.value',
      durability: 'none',
      triggers: [{ id: 'readings', subject: 'test.v2.readings' }],
    });
    await cluster.waitFor(
      async () => {
        const view = await cluster.get<WorkflowView>('/workflows/on-subject');
        return (
          view.version === 2 && view.triggers[0].state === 'active' && view.triggers[0].source === 'test.v2.readings'
        );
      },
      10_000,
      'version 2 triggers',
    );
    client.publish('test.readings.kitchen', { celsius: 1 });
    client.publish('test.v2.readings', { celsius: 2 });
    await cluster.waitFor(
      async () => (await runsOf('on-subject')).filter((r) => r.status === 'succeeded').length >= 2 || undefined,
      20_000,
      'the version 2 run',
    );
    // Time for a run the old subject would have started to show.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const outputs = await Promise.all(
      (await runsOf('on-subject')).map(async (r) => (await cluster.get<RunView>(`/runs/${r.id}`)).output),
    );
    expect(outputs).toHaveLength(2);
    expect(outputs).toContainEqual({ celsius: 2 });
  });

  it('fires a schedule every second (croner seconds field), one run per fire', async () => {
    await create({
      name: 'on-schedule',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: '=$input.scheduledAt' } }],
      durability: 'none',
      triggers: [{ schedule: '* * * * * *' }],
    });
    await whenActive('on-schedule');
    const runs = await cluster.waitFor(
      async () => {
        const found = (await runsOf('on-schedule')).filter((r) => r.status === 'succeeded');
        return found.length >= 2 ? found : undefined;
      },
      20_000,
      'two scheduled runs',
    );
    // Run ids carry the scheduled second: distinct, on whole seconds.
    const times = runs.map((r) => Number(r.id.split('.').at(-1)));
    expect(new Set(times).size).toBe(times.length);
    for (const t of times) expect(t % 1_000).toBe(0);
    const status = await trigger('on-schedule');
    expect(status).toMatchObject({ id: 'schedule-0', kind: 'schedule', state: 'active' });
    expect(status.runsStarted).toBeGreaterThanOrEqual(2);
    expect(Date.parse(status.nextFireAt!)).toBeGreaterThan(Date.parse(status.lastFiredAt!) - 1_000);
    // Deleting the workflow stops its schedule.
    expect((await cluster.call('DELETE', '/workflows/on-schedule')).status).toBe(200);
  });

  it('says why a stream trigger is not running while its stream does not exist', async () => {
    await create({
      name: 'on-missing-stream',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: 1 } }],
      triggers: [{ stream: 'NOT_THERE' }],
    });
    const status = await cluster.waitFor(
      async () => {
        const t = await trigger('on-missing-stream');
        return t.state === 'not-running' ? t : undefined;
      },
      10_000,
      'the missing stream reported',
    );
    expect(status.reason).toMatch(/^stream NOT_THERE does not exist: create it/);
    // Once the stream exists the trigger starts by itself.
    const jsm = await jetstreamManager((await cluster.client()).connection);
    await jsm.streams.add({ name: 'NOT_THERE', subjects: ['late.>'] });
    await cluster.waitFor(
      async () => (await trigger('on-missing-stream')).state === 'active',
      15_000,
      'the late stream',
    );
    const consumer = (await trigger('on-missing-stream')).consumer!;
    await cluster.call('DELETE', '/workflows/on-missing-stream');
    // A deleted workflow's consumer goes with it.
    await cluster.waitFor(
      async () =>
        (await jsm.consumers
          .info('NOT_THERE', consumer)
          .then(() => false)
          .catch(() => true)) || undefined,
      10_000,
      'the consumer deleted',
    );
  });

  it(`starts exactly one run for each of ${MESSAGES} stream messages across a kill -9 of the orchestrator`, async () => {
    const client = await cluster.client();
    const jsm = await jetstreamManager(client.connection);
    await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
    await create({
      name: 'on-stream',
      steps: [{ id: 'e', service: 'echo@^1', input: { value: '=$input.n' } }],
      output: '$steps.e.output.value',
      durability: 'durable',
      triggers: [{ id: 'orders', stream: 'ORDERS', filter: 'orders.created', concurrency: 32 }],
    });
    await whenActive('on-stream');
    const consumer = (await trigger('on-stream')).consumer!;
    expect((await jsm.consumers.info('ORDERS', consumer)).config.ack_policy).toBe(AckPolicy.Explicit);

    const js = jetstream(client.connection);
    for (let n = 1; n <= MESSAGES; n += 100)
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => js.publish('orders.created', JSON.stringify({ n: n + i }))),
      );
    // Kill while runs are being started: some started, many not yet.
    const before = await cluster.waitFor(
      async () => {
        const t = await trigger('on-stream');
        return t.runsStarted >= 100 ? t.runsStarted : undefined;
      },
      30_000,
      '100 runs started',
    );
    cluster.orchestrator!.child.kill('SIGKILL');
    await new Promise((resolve) => cluster.orchestrator!.child.once('exit', resolve));
    // Writes it sent just before dying reach the server first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(before).toBeLessThan(MESSAGES);

    // What the run store held when the engine died: those runs were started by it.
    const kvm = new Kvm(client.connection);
    const buckets = [await kvm.open('yb-runs'), await kvm.open('yb-runs-finished')];
    const stored = async () => {
      const runs = new Map<string, StoredRun>();
      for (const kv of buckets) {
        const keys: string[] = [];
        for await (const key of await kv.keys('run.on-stream.>')) keys.push(key);
        for (const key of keys) {
          const entry = await kv.get(key);
          if (entry?.operation === 'PUT') runs.set(key, entry.json<StoredRun>());
        }
      }
      return runs;
    };
    const atKill = await stored();
    expect(atKill.size).toBeGreaterThan(0);
    expect(atKill.size).toBeLessThan(MESSAGES);

    // JetStream delivers again every message whose ack it did not get; the engine may die
    // after storing a run and before its ack leaves, a window too narrow to hit by chance.
    // Replace the consumer by one that delivers the whole stream again: as if no ack of the
    // dead engine had arrived, so every run stored at the kill meets its message a second time.
    await jsm.consumers.delete('ORDERS', consumer);
    await jsm.consumers.add('ORDERS', {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: 'orders.created',
      ack_wait: 10_000_000_000,
    });

    await cluster.startOrchestrator();
    // Every message of the stream handled by the new engine: a run started, or found.
    const status = await cluster.waitFor(
      async () => {
        const t = await trigger('on-stream');
        return t.state === 'active' && t.runsStarted + t.duplicates >= MESSAGES && t.inFlight === 0 ? t : undefined;
      },
      60_000,
      'every message handled after the restart',
    );
    // Every message delivered and acknowledged; none left pending or waiting for its ack.
    await cluster.waitFor(
      async () => {
        const info = await jsm.consumers.info('ORDERS', consumer);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      30_000,
      'the consumer drained',
    );
    const after = await stored();
    // One run per stream sequence, none missing, none extra, all succeeded.
    const seqs = [...after.values()].map((r) => Number(r.id.split('.').at(-1))).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: MESSAGES }, (_, i) => i + 1));
    expect([...after.values()].filter((r) => r.status !== 'succeeded')).toEqual([]);
    // Each run's input is its own message (sequence n carries n).
    for (const run of after.values()) expect(run.input).toEqual({ n: Number(run.id.split('.').at(-1)) });
    // Runs started before the kill were not started again: same record, same creation time…
    for (const [key, run] of atKill) expect(after.get(key)!.createdAt).toBe(run.createdAt);
    // …and the new engine started exactly the others; every redelivered one found its run.
    expect(status.runsStarted).toBe(MESSAGES - atKill.size);
    expect(status.duplicates).toBeGreaterThanOrEqual(atKill.size);
    expect(status.failed).toBe(0);
    // Derived ids are ordinary run ids.
    expect((await cluster.get<RunView>('/runs/on-stream.orders.1')).output).toBe(1);
    process.stdout.write(
      `stream trigger: ${atKill.size} runs stored at the kill, ${status.runsStarted} started after the restart, ${status.duplicates} redeliveries found their run\n`,
    );
  });
});
