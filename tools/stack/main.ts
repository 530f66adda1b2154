/**
 * `npm start`: the local Yunbian stack on one machine — a JetStream nats-server (unless
 * NATS_URL is set), the orchestrator on port 3000, and three agents (a cloud GPU node
 * and two edge nodes at different sites) — then a short demo. Ctrl-C stops it all.
 */
import { mkdirSync, createWriteStream } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  envInt,
  findNatsServer,
  LocalNatsServer,
  NATS_SERVER_INSTALL_HINT,
  spawnNode,
  stopChild,
  waitUntil,
} from '@yunbian/common';
import type { NodeRecord } from '@yunbian/contracts';
import { loadWorkflows, registerOcrModels, runDemo, runOcrDemo } from './demo';

const ROOT = path.resolve(__dirname, '../../..');
const DIST = path.resolve(__dirname, '../..');
const STATE_DIR = path.join(ROOT, '.yunbian');
const LOG_DIR = path.join(STATE_DIR, 'logs');
const NODES = ['cloud-1', 'edge-a', 'edge-b'];

const say = (line = '') => process.stdout.write(line + '\n');

async function main(): Promise<void> {
  const port = envInt('PORT', 3000);
  const api = `http://localhost:${port}`;
  mkdirSync(LOG_DIR, { recursive: true });
  const children: { name: string; child: ChildProcess }[] = [];
  let nats: LocalNatsServer | undefined;
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('\nstopping: agents drain their instances, then the orchestrator and NATS stop…');
    // Agents first (they drain workers), then the orchestrator, then NATS.
    await Promise.all(children.filter((c) => c.name !== 'orchestrator').map((c) => stopChild(c.child)));
    await Promise.all(children.filter((c) => c.name === 'orchestrator').map((c) => stopChild(c.child)));
    await nats?.stop();
    say('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const start = (name: string, entry: string, args: string[], env: NodeJS.ProcessEnv) => {
    const log = createWriteStream(path.join(LOG_DIR, `${name}.log`), { flags: 'a' });
    const child = spawnNode(path.join(DIST, entry), args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString()}`));
    child.once('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited (${signal ?? `code ${code}`}); see ${path.join(LOG_DIR, `${name}.log`)}`);
        void stopAll(1);
      }
    });
    children.push({ name, child });
  };

  try {
    let natsUrl = process.env.NATS_URL;
    if (!natsUrl) {
      if (!findNatsServer()) {
        process.stderr.write(NATS_SERVER_INSTALL_HINT + '\n');
        process.exit(1);
      }
      const natsPort = envInt('YUNBIAN_NATS_PORT', 4222);
      nats = await LocalNatsServer.start({
        port: natsPort,
        storeDir: path.join(STATE_DIR, 'nats'),
        args: ['-m', String(envInt('YUNBIAN_NATS_MONITOR_PORT', 8222))],
      }).catch((err: Error) => {
        throw new Error(
          `${err.message}\nIs port ${natsPort} taken? Set YUNBIAN_NATS_PORT to another port, or NATS_URL to use a running server.`,
        );
      });
      natsUrl = nats.url;
    }
    say(`NATS          ${natsUrl}${nats ? ` (JetStream data in ${path.join(STATE_DIR, 'nats')})` : ''}`);

    start('orchestrator', 'apps/orchestrator/src/main.js', [], { NATS_URL: natsUrl, PORT: String(port) });
    await waitUntil(
      async () => (await fetch(`${api}/health/ready`)).ok,
      30_000,
      `the orchestrator at ${api}/health/ready`,
      200,
    );
    say(`orchestrator  ${api}   (OpenAPI: ${api}/docs)`);

    const metricsBase = envInt('YUNBIAN_AGENT_METRICS_PORT', 9101);
    NODES.forEach((node, i) => {
      start(node, 'apps/agent/src/main.js', ['--node', path.join(ROOT, 'compose/nodes', `${node}.yaml`)], {
        NATS_URL: natsUrl,
        YUNBIAN_METRICS_PORT: String(metricsBase + i),
      });
    });
    const nodes = await waitUntil(
      async () => {
        const list = (await (await fetch(`${api}/nodes`)).json()) as NodeRecord[];
        const alive = list.filter((n) => NODES.includes(n.id) && n.status === 'alive');
        return alive.length === NODES.length ? alive : undefined;
      },
      30_000,
      'the three agents to join',
      200,
    );
    for (const n of nodes) {
      say(
        `node          ${n.id.padEnd(8)} ${n.tier.padEnd(5)} site ${n.site.padEnd(11)} tags ${n.tags.join(',').padEnd(20)} ${n.costPerHour}/h`,
      );
    }
    say(
      `metrics       ${api}/metrics · agents http://localhost:${metricsBase}-${metricsBase + NODES.length - 1}/metrics`,
    );
    say(
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT
        ? `traces        sent to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT} (Jaeger UI usually http://localhost:16686)`
        : 'traces        off; set OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 with Jaeger running to follow runs',
    );
    say(`logs          ${LOG_DIR}/<process>.log`);
    await registerOcrModels(api, ROOT, say);
    await loadWorkflows(api, path.join(ROOT, 'workflows'), say);

    if (process.env.YUNBIAN_DEMO !== '0') {
      await runDemo(api, natsUrl, say);
      await runOcrDemo(api, 'edge-a', say);
    }
    say('\nThe stack is up. Try:');
    say(`  curl -s ${api}/nodes | jq`);
    say(`  curl -s ${api}/instances | jq`);
    say(`  curl -s ${api}/workflows | jq`);
    say(`  curl -s ${api}/runs | jq`);
    say(
      `  curl -s -XPOST ${api}/instances -H 'content-type: application/json' -d '{"service":"json-transform@1.0.0","nodeId":"edge-b"}'`,
    );
    say('Ctrl-C stops everything.');
  } catch (err) {
    process.stderr.write(`yunbian stack: ${(err as Error).message}\n`);
    await stopAll(1);
  }
}

void main();
