import path from 'node:path';
import { createInbox, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { freePort, LocalNatsCluster, LocalNatsServer, spawnNode, stopChild, waitUntil } from '@yunbian/common';
import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { IDEMPOTENCY_HEADER } from '@yunbian/service-sdk';
import { NatsTransport } from '@yunbian/transport';
import { apiFetch, orchestratorKeyEnv } from '../common/api-key';

const DIST = path.resolve(__dirname, '../..');

/** A one-node local stack for benchmarks: nats-server, the orchestrator and one agent (`bench-node`). */
export interface BenchStack {
  api: string;
  transport: NatsTransport;
  /** The orchestrator's process id (for its CPU figures). */
  orchestratorPid: number;
  /** Process id of each agent, by node id (`bench-node` and the `extraAgents`). */
  agentPids: Record<string, number>;
  /** POSTs JSON (or a raw body with its content type); throws with the answer on 4xx/5xx. */
  post<T>(route: string, body: unknown, contentType?: string): Promise<T>;
  /** Starts `service` on the bench node (or `nodeId`) and waits until it is ready. */
  deploy(service: string, config?: Record<string, unknown>, nodeId?: string): Promise<InstanceRecord>;
  stop(): Promise<void>;
}

export async function startBenchStack(
  options: {
    agentEnv?: NodeJS.ProcessEnv;
    /** More agents in the same site, by node id, with their own extra environment. */
    extraAgents?: Record<string, NodeJS.ProcessEnv>;
    /** Servers of NATS (default 1); more: a JetStream cluster on loopback, every bucket with that many replicas. */
    natsServers?: number;
  } = {},
): Promise<BenchStack> {
  const servers = options.natsServers ?? 1;
  const nats = servers > 1 ? await LocalNatsCluster.start({ size: servers }) : await LocalNatsServer.start();
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    NATS_URL: nats.url,
    LOG_LEVEL: 'warn',
    ...(servers > 1 ? { YUNBIAN_JS_REPLICAS: String(servers) } : {}),
  };
  const orchestrator = spawnNode(path.join(DIST, 'apps/orchestrator/src/main.js'), [], {
    // BENCH_PROFILE_DIR writes a CPU profile of the orchestrator when it stops.
    execArgv: process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
    // Benchmarks measure throughput, not the per-credential rate limit.
    env: { ...env, PORT: String(port), ...orchestratorKeyEnv(), YUNBIAN_RATE_LIMIT_PER_MIN: '1000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agents = Object.entries({ 'bench-node': {}, ...options.extraAgents }).map(([nodeId, extra]) => ({
    nodeId,
    child: spawnNode(path.join(DIST, 'apps/agent/src/main.js'), [], {
      env: {
        ...env,
        YUNBIAN_NODE_ID: nodeId,
        YUNBIAN_NODE_SITE: 'bench',
        YUNBIAN_NODE_TIER: 'edge',
        YUNBIAN_NODE_COST_PER_HOUR: '0',
        ...options.agentEnv,
        ...extra,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  }));
  const transport = await NatsTransport.connect({ servers: nats.url, name: 'bench' });
  const stop = async () => {
    await transport.close();
    await Promise.all(agents.map((a) => stopChild(a.child)));
    await stopChild(orchestrator);
    await nats.stop();
  };
  const post = async <T>(route: string, body: unknown, contentType = 'application/json'): Promise<T> => {
    const response = await apiFetch(`${api}${route}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: contentType === 'application/json' ? JSON.stringify(body) : (body as string | Buffer),
    });
    if (response.status >= 400) throw new Error(`POST ${route}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  try {
    await waitUntil(async () => (await apiFetch(`${api}/health/ready`)).ok, 30_000, 'orchestrator');
    await waitUntil(
      async () =>
        ((await (await apiFetch(`${api}/nodes`)).json()) as NodeRecord[]).filter((n) => n.status === 'alive').length ===
        agents.length,
      30_000,
      'agents',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    api,
    transport,
    orchestratorPid: orchestrator.pid!,
    agentPids: Object.fromEntries(agents.map((a) => [a.nodeId, a.child.pid!])),
    post,
    async deploy(service, config, nodeId = 'bench-node') {
      const instance = await post<InstanceRecord>('/instances', { service, nodeId, config });
      return waitUntil(
        async () => {
          const current = (await (await apiFetch(`${api}/instances/${instance.id}`)).json()) as InstanceRecord;
          return current.status === 'ready' ? current : undefined;
        },
        120_000,
        `${service} ready`,
      );
    },
    stop,
  };
}

/**
 * The benchmarks' baseline: the 3-step echo pipeline as three sequential calls straight to
 * `subject`, over one multiplexed reply subscription on `nc`.
 */
export function directPipeline(nc: NatsConnection, subject: string, payload: { value: string }): () => Promise<void> {
  const prefix = createInbox();
  const pending = new Map<string, (data: Uint8Array) => void>();
  nc.subscribe(`${prefix}.*`, {
    callback: (_err, msg) => {
      const id = msg.subject.slice(prefix.length + 1);
      pending.get(id)?.(msg.data);
      pending.delete(id);
    },
  });
  let seq = 0;
  const call = (body: unknown, key: string) =>
    new Promise<{ value: string }>((resolve) => {
      const id = String(++seq);
      pending.set(id, (data) => resolve(JSON.parse(new TextDecoder().decode(data)) as { value: string }));
      const h = natsHeaders();
      h.set(IDEMPOTENCY_HEADER, key);
      nc.publish(subject, JSON.stringify(body), { reply: `${prefix}.${id}`, headers: h });
    });
  return async () => {
    const a = await call(payload, 'b:a:1');
    const b = await call({ value: a.value }, 'b:b:1');
    await call({ value: b.value }, 'b:c:1');
  };
}
