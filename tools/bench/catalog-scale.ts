/**
 * Catalogue scale: N simulated agents (default 1,000, sharing this process) heartbeat
 * every 2 s for 60 s against one orchestrator process. Prints the orchestrator's CPU and
 * memory, heartbeat delay p50/p99 (sent → processed by the catalogue) against the raw
 * NATS delivery delay of the same heartbeats to a plain subscriber (the baseline), and
 * how many nodes were falsely marked dead.
 *
 *   npm run bench:catalog            # BENCH_AGENTS=1000 BENCH_SECONDS=60 by default
 */
import path from 'node:path';
import { processUsage } from './os';
import {
  envInt,
  freePort,
  JsonLogger,
  LocalNatsServer,
  percentile,
  round,
  spawnNode,
  stopChild,
  waitUntil,
} from '@yunbian/common';
import { Subjects, type NodeDescriptor, type NodeHeartbeat, type NodeRecord } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { NodeAgent, noInstances } from '../../apps/agent/src/node-agent';
import type { CatalogStats } from '../../apps/orchestrator/src/catalog/catalog.service';
import { apiFetch, orchestratorKeyEnv } from '../common/api-key';

const DIST = path.resolve(__dirname, '../..');
const AGENTS = envInt('BENCH_AGENTS', 1000);
const SECONDS = envInt('BENCH_SECONDS', 60);
const HEARTBEAT_MS = envInt('BENCH_HEARTBEAT_MS', 2000);
const SITES = envInt('BENCH_SITES', 10);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 20);
const PROBE_MS = envInt('BENCH_PROBE_MS', 10_000);

async function main(): Promise<void> {
  const print = (line = '') => process.stdout.write(line + '\n');
  const nats = await LocalNatsServer.start();
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const orchestrator = spawnNode(path.join(DIST, 'apps/orchestrator/src/main.js'), [], {
    env: {
      ...process.env,
      NATS_URL: nats.url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      ...orchestratorKeyEnv(),
      YUNBIAN_RATE_LIMIT_PER_MIN: '1000000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitUntil(async () => (await apiFetch(`${api}/health/ready`)).ok, 30_000, 'orchestrator');
    const transports = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) => NatsTransport.connect({ servers: nats.url, name: `bench ${i}` })),
    );

    // Baseline: the same heartbeats as seen by a bare subscriber on its own connection.
    const baselineDelays: number[] = [];
    const observer = await NatsTransport.connect({ servers: nats.url, name: 'bench observer' });
    let measuring = false;
    observer.subscribe<NodeHeartbeat>(Subjects.nodeHeartbeatAll, (h) => {
      if (measuring) baselineDelays.push(Date.now() - h.sentAt);
    });

    const logger = new JsonLogger('bench');
    process.env.LOG_LEVEL = 'warn';
    const agents: NodeAgent[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < AGENTS; i++) {
      const node: NodeDescriptor = {
        id: `sim-${String(i).padStart(4, '0')}`,
        site: `site-${i % SITES}`,
        tier: i % SITES === 0 ? 'cloud' : 'edge',
        arch: 'x86_64',
        tags: i % 7 === 0 ? ['gpu'] : ['camera'],
        cpuCores: 4,
        memoryMb: 4096,
        costPerHour: i % SITES === 0 ? 2 : 0.05,
        labels: {},
      };
      const agent = new NodeAgent(transports[i % CONNECTIONS], node, [], noInstances, {
        heartbeatIntervalMs: HEARTBEAT_MS,
        probeIntervalMs: PROBE_MS,
        logger,
      });
      agents.push(agent);
      await agent.start();
      // Spread the agents' heartbeat phases over one interval, as real nodes would be.
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS / AGENTS));
    }
    await waitUntil(
      async () => {
        const stats = (await (await apiFetch(`${api}/catalog/stats`)).json()) as CatalogStats;
        return stats.nodes.alive === AGENTS;
      },
      60_000,
      `${AGENTS} nodes alive`,
    );
    print(`${AGENTS} agents joined in ${round((Date.now() - startedAt) / 1000, 1)} s; measuring for ${SECONDS} s…`);

    const statsBefore = (await (await apiFetch(`${api}/catalog/stats`)).json()) as CatalogStats;
    const usageBefore = processUsage(orchestrator.pid!);
    const t0 = performance.now();
    measuring = true;
    const rssSamples: number[] = [];
    const cpuSamples: number[] = [];
    let last = usageBefore;
    let lastT = t0;
    let sawNonAlive = 0;
    for (let s = 0; s < SECONDS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = performance.now();
      const usage = processUsage(orchestrator.pid!);
      cpuSamples.push((100 * (usage.cpuSeconds - last.cpuSeconds)) / ((now - lastT) / 1000));
      rssSamples.push(usage.rssMb);
      last = usage;
      lastT = now;
      const stats = (await (await apiFetch(`${api}/catalog/stats`)).json()) as CatalogStats;
      sawNonAlive = Math.max(sawNonAlive, stats.nodes.suspect + stats.nodes.dead);
    }
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const usageAfter = processUsage(orchestrator.pid!);
    const stats = (await (await apiFetch(`${api}/catalog/stats`)).json()) as CatalogStats;
    const nodes = (await (await apiFetch(`${api}/nodes`)).json()) as NodeRecord[];
    const received = stats.heartbeats.received - statsBefore.heartbeats.received;

    print('');
    print(
      `agents                         ${AGENTS} (${SITES} sites, ${CONNECTIONS} NATS connections), heartbeat every ${HEARTBEAT_MS} ms, RTT probes every ${PROBE_MS} ms`,
    );
    print(
      `heartbeats processed           ${received} in ${round(elapsed, 1)} s (${round(received / elapsed, 0)}/s; expected ${round((AGENTS * 1000) / HEARTBEAT_MS, 0)}/s)`,
    );
    print(
      `orchestrator CPU               mean ${round(((usageAfter.cpuSeconds - usageBefore.cpuSeconds) / elapsed) * 100, 1)}% of one core, p50 ${round(percentile(cpuSamples, 50)!, 1)}%, max ${round(Math.max(...cpuSamples), 1)}%`,
    );
    print(
      `orchestrator RSS               p50 ${round(percentile(rssSamples, 50)!, 0)} MiB, max ${round(Math.max(...rssSamples), 0)} MiB`,
    );
    print(
      `heartbeat delay, catalogue     p50 ${stats.heartbeats.delayMs.p50} ms, p99 ${stats.heartbeats.delayMs.p99} ms, max ${stats.heartbeats.delayMs.max} ms (last ${Math.min(20000, stats.heartbeats.received)} heartbeats)`,
    );
    print(
      `heartbeat delay, raw NATS      p50 ${percentile(baselineDelays, 50)} ms, p99 ${percentile(baselineDelays, 99)} ms (bare subscriber, same heartbeats: the baseline)`,
    );
    print(
      `false dead marks               ${stats.deadMarks} (max suspect+dead seen at once: ${sawNonAlive}); alive at end ${nodes.filter((n) => n.status === 'alive').length}/${AGENTS}`,
    );

    for (const agent of agents) await agent.stop('benchmark over', 0);
    await observer.close();
    await Promise.all(transports.map((t) => t.close()));
  } finally {
    await stopChild(orchestrator);
    await nats.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:catalog failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
