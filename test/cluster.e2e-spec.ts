import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { LocalNatsCluster, LocalNatsServer } from '@yunbian/common';
import type { DurabilityReport } from '@yunbian/contracts';
import { createKv, NatsTransport } from '@yunbian/transport';
import { TestCluster } from './support/cluster';

jest.setTimeout(240_000);

/** Runs in flight when a server dies, each two steps of STEP_MS. */
const RUNS = 24;
const STEP_MS = 1_500;

interface RunView {
  id: string;
  status: string;
  output?: unknown;
}

interface Jsz {
  account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[];
}

interface Connz {
  connections?: { name?: string }[];
}

/**
 * Issue 12 item 5, end to end: the orchestrator and an agent on a real 3-server JetStream
 * cluster on loopback with YUNBIAN_JS_REPLICAS=3 (every process given all three URLs).
 * Every bucket is R3; kill -9 one server with durable runs in flight and every run
 * completes; the server comes back and its replicas catch up.
 */
describe('a 3-server NATS cluster with R3 buckets', () => {
  let nats: LocalNatsCluster;
  let cluster: TestCluster;
  let jsm: JetStreamManager;
  let natsLogs: string;

  beforeAll(async () => {
    // The servers' logs go to a folder of their own, named when a wait fails.
    natsLogs = mkdtempSync(path.join(os.tmpdir(), 'yunbian-cluster-nats-'));
    nats = await LocalNatsCluster.start({ logDir: natsLogs });
    cluster = TestCluster.on(nats);
    const env = { YUNBIAN_JS_REPLICAS: '3', YUNBIAN_NATS_MONITOR_URL: nats.members[0].monitorUrl };
    await cluster.startOrchestrator(env);
    cluster.startAgent(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { ...env, YUNBIAN_HEARTBEAT_MS: '500' },
    );
    await cluster.waitFor(async () => (await cluster.node('edge-a'))?.status === 'alive', 30_000, 'agent');
    await cluster.deploy('slow-echo@1.0.0', 'edge-a');
    const step = (id: string, value: string) => ({
      id,
      service: 'slow-echo@^1',
      input: { value, delayMs: '=$input.delayMs' },
      // A reply lost with a dying server is asked for again (a new attempt) after this.
      timeoutMs: 10_000,
    });
    const { status, body } = await cluster.call('POST', '/workflows', {
      name: 'two-slow',
      steps: [step('a', '=$input.value'), { ...step('b', '=$steps.a.output.value'), after: ['a'] }],
      output: '$steps.b.output.value',
    });
    expect({ status, body }).toMatchObject({ status: 201 });
    jsm = await jetstreamManager((await cluster.client()).connection);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const streamInfo = (stream: string): Promise<StreamInfo> => jsm.streams.info(stream);
  /** A server's own replica of `stream`, from its monitoring. */
  const localStream = async (member: string, stream: string) => {
    const jsz = await nats.monitoring<Jsz>(member, '/jsz?accounts=true&streams=true');
    return jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === stream)?.state;
  };

  it('creates every bucket with three replicas and says so in GET /health/durability', async () => {
    const report = await cluster.get<DurabilityReport>('/health/durability');
    expect(report.replicas).toEqual({ setting: 3, explicit: true, variable: 'YUNBIAN_JS_REPLICAS' });
    expect(report.server).toMatchObject({ cluster: 'yunbian', clusterSize: 3, version: '2.9.10' });
    // The installed 2.9.10 has no sync_interval: /varz says nothing, i.e. the two-minute default.
    expect(report.sync.interval).toBe('2 min');
    expect(report.buckets.length).toBeGreaterThanOrEqual(9);
    for (const bucket of report.buckets) expect(bucket).toMatchObject({ replicas: 3, current: 3 });
    expect(report.summary).toMatch(/3 replicas.*losing 1 server loses nothing acknowledged/);

    // The streams themselves, read from the server rather than from the orchestrator.
    for (const stream of ['KV_yb-runs', 'KV_yb-catalog', 'OBJ_yb-payloads', 'KV_yb-workflows']) {
      const info = await streamInfo(stream);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas).toHaveLength(2);
    }
  });

  it('brings an existing bucket to the replica count set, and leaves it alone when the count is not set', async () => {
    const transport = await cluster.client();
    const kvm = new Kvm(transport.connection);
    await createKv(kvm, 'replica-check', { history: 1 }, { replicas: 1, explicit: true });
    expect((await streamInfo('KV_replica-check')).config.num_replicas).toBe(1);
    await createKv(kvm, 'replica-check', { history: 1 }, { replicas: 3, explicit: true });
    expect((await streamInfo('KV_replica-check')).config.num_replicas).toBe(3);
    // Unset (the default of 1): an existing R3 bucket is not scaled down.
    await createKv(kvm, 'replica-check', { history: 1 }, { replicas: 1, explicit: false });
    expect((await streamInfo('KV_replica-check')).config.num_replicas).toBe(3);
  });

  it('completes every durable run in flight when one server is killed (-9), and the server catches up after its restart', async () => {
    // The victim: a server without the orchestrator's connection (not the one it is connected
    // to, so the test is about replication rather than the client's failover), made the
    // leader of the running-runs bucket first (the leader steps down until one of those is
    // elected): its death interrupts the run store's writes until a new leader is elected.
    const hosts = await Promise.all(
      nats.members.map(async (m) => {
        const connz = await nats.monitoring<Connz>(m.name, '/connz?limit=1024');
        return { name: m.name, orchestrator: (connz.connections ?? []).some((c) => c.name === 'orchestrator') };
      }),
    );
    const candidates = hosts.filter((h) => !h.orchestrator).map((h) => h.name);
    expect(candidates.length).toBeGreaterThan(0);
    const client = (await cluster.client()).connection;
    const victim = await cluster.waitFor(
      async () => {
        const leader = (await streamInfo('KV_yb-runs')).cluster?.leader;
        if (leader && candidates.includes(leader)) return leader;
        if (leader) await client.request(`$JS.API.STREAM.LEADER.STEPDOWN.KV_yb-runs`, undefined, { timeout: 5_000 });
        await new Promise((r) => setTimeout(r, 1_000));
        return undefined;
      },
      60_000,
      `a leader of KV_yb-runs among ${candidates.join(', ')}`,
    );

    const started = await Promise.all(
      Array.from({ length: RUNS }, async (_, i) => {
        const { status, body } = await cluster.call('POST', '/workflows/two-slow/runs', {
          input: { value: i, delayMs: STEP_MS },
          durability: 'durable',
        });
        expect(status).toBe(202);
        return (body as unknown as RunView).id;
      }),
    );
    await cluster.waitFor(
      async () => (await cluster.get<RunView[]>('/runs?workflow=two-slow&limit=100')).length === RUNS,
      20_000,
      'the runs to be listed',
    );

    const running = (await cluster.get<RunView[]>('/runs?workflow=two-slow&limit=100')).filter(
      (r) => r.status === 'running',
    );
    // 24 runs of two 1.5 s steps on 8 handler slots take ≥ 9 s: most are still running.
    expect(running.length).toBeGreaterThanOrEqual(RUNS / 2);

    await nats.kill(victim);

    const ended = await cluster.waitFor(
      async () => {
        const runs = await Promise.all(started.map((id) => cluster.get<RunView>(`/runs/${id}`)));
        return runs.every((r) => r.status !== 'running') ? runs : undefined;
      },
      120_000,
      `all ${RUNS} runs to end after ${victim}, the leader of KV_yb-runs, was killed`,
    );
    expect(ended.map((r) => r.status)).toEqual(started.map(() => 'succeeded'));
    expect(ended.map((r) => r.output)).toEqual(started.map((_, i) => i));

    // Two servers keep the quorum: the run bucket has a leader and answers.
    const during = await streamInfo('KV_yb-runs');
    expect(during.cluster?.leader).toBeDefined();
    expect(during.cluster?.leader).not.toBe(victim);

    // Every run's final record is stored (in the finished bucket), not only reported by the orchestrator.
    const finished = await new Kvm((await cluster.client()).connection).open('yb-runs-finished');
    const stored = await Promise.all(started.map(async (id) => (await finished.get(`run.${id}`))?.json<RunView>()));
    expect(stored.map((r) => r?.status)).toEqual(started.map(() => 'succeeded'));

    await nats.restart(victim);
    await nats.waitForMetaLeader(30_000);
    // The restarted server's own copy of the finished-runs stream (its /jsz, not the leader's
    // answer) reaches the leader's last sequence.
    const leaderState = (await streamInfo('KV_yb-runs-finished')).state;
    await cluster.waitFor(
      async () => {
        const local = await localStream(victim, 'KV_yb-runs-finished');
        return local !== undefined && local.last_seq >= leaderState.last_seq && local.messages >= leaderState.messages;
      },
      60_000,
      `${victim} to catch up on the finished-runs bucket (its logs in ${natsLogs})`,
    );
  });
});

describe('asking for more replicas than the setup has', () => {
  it('refuses with what was asked, what the server said and what to change', async () => {
    const server = await LocalNatsServer.start();
    const transport = await NatsTransport.connect({ servers: server.url, name: 'replicas on one server' });
    try {
      await expect(
        createKv(new Kvm(transport.connection), 'too-many', { history: 1 }, { replicas: 3, explicit: true }),
      ).rejects.toThrow(
        /cannot create JetStream bucket too-many with 3 replicas \(YUNBIAN_JS_REPLICAS=3\): .*needs a JetStream cluster with at least 3 servers up/,
      );
    } finally {
      await transport.close();
      await server.stop();
    }
  });
});

describe('one nats-server, killed -9', () => {
  it('keeps every acknowledged write', async () => {
    const storeDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-kill9-'));
    const first = await LocalNatsServer.start({ storeDir });
    const WRITES = 500;
    let transport = await NatsTransport.connect({ servers: first.url, name: 'writer' });
    const kv = await createKv(new Kvm(transport.connection), 'kill9', { history: 1 });
    for (let i = 0; i < WRITES; i++) await kv.put(`k.${i}`, String(i));
    // No flush, no drain: kill at once after the last acknowledgement.
    await first.kill('SIGKILL');
    await transport.close();
    const second = await LocalNatsServer.start({ storeDir, port: first.port });
    transport = await NatsTransport.connect({ servers: second.url, name: 'reader' });
    try {
      const after = await new Kvm(transport.connection).open('kill9');
      const values = await Promise.all(
        Array.from({ length: WRITES }, async (_, i) => (await after.get(`k.${i}`))?.string()),
      );
      expect(values).toEqual(Array.from({ length: WRITES }, (_, i) => String(i)));
    } finally {
      await transport.close();
      await second.stop();
      rmSync(storeDir, { recursive: true, force: true });
    }
  });
});
