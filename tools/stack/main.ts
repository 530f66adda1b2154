/**
 * `npm start`: the local Yunbian stack on one machine — a JetStream nats-server (unless
 * NATS_URL is set), the orchestrator on port 3000, and three agents (a cloud GPU node
 * and two edge nodes at different sites) — then a short demo. A process that dies is
 * reported and restarted after a backoff (kill -9 an agent to watch its node go dead and
 * come back); a failing demo step is reported and the stack stays up. Ctrl-C stops it all.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  envInt,
  findNatsServer,
  generateApiKey,
  ensureNatsTrust,
  LocalNatsServer,
  NATS_CREDS_VARIABLE,
  NATS_TRUST_DIR_VARIABLE,
  NatsTrustFiles,
  NATS_SERVER_INSTALL_HINT,
  waitUntil,
} from '@yunbian/common';
import { ADMIN_KEY_VARIABLE, NODE_JOIN_TOKEN_VARIABLE, type NodeRecord } from '@yunbian/contracts';
import { ProcessSupervisor } from '../common/supervisor';
import { loadWorkflows, registerOcrModels, runDemo, runOcrDemo } from './demo';
import { apiFetch, orchestratorKeyEnv, toolKey, useToolKey } from '../common/api-key';

const ROOT = path.resolve(__dirname, '../../..');
const DIST = path.resolve(__dirname, '../..');
const NODES = ['cloud-1', 'edge-a', 'edge-b'];

const say = (line = '') => process.stdout.write(line + '\n');

async function main(): Promise<void> {
  const port = envInt('PORT', 3000);
  const api = `http://localhost:${port}`;
  const stateDir = process.env.YUNBIAN_STATE_DIR || path.join(ROOT, '.yunbian');
  const logDir = path.join(stateDir, 'logs');
  // YUNBIAN_RESTART=0: a process that dies stays down (the stack keeps running without it).
  const restart = process.env.YUNBIAN_RESTART !== '0';
  // The first restart waits longer than the orchestrator takes to declare a node dead
  // (3 missed 2 s heartbeats), so a killed agent is seen to die before it comes back.
  const supervisor = new ProcessSupervisor({
    logDir,
    say,
    baseEnv: process.env,
    initialBackoffMs: envInt('YUNBIAN_RESTART_DELAY_MS', 10_000),
    maxBackoffMs: 60_000,
  });
  const startedAt = Date.now();
  let nats: LocalNatsServer | undefined;
  let stopping = false;

  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('\nstopping: agents drain their instances, then the orchestrator and NATS stop…');
    // Agents first (they drain workers), then the orchestrator, then NATS.
    await supervisor.stopAll([NODES, ['orchestrator']]);
    await nats?.stop();
    say('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const start = (name: string, entry: string, args: string[], env: NodeJS.ProcessEnv) =>
    supervisor.start({
      name,
      command: process.execPath,
      args: [path.join(DIST, entry), ...args],
      cwd: ROOT,
      env,
      restart,
    });

  try {
    let natsUrl = process.env.NATS_URL;
    if (!natsUrl) {
      if (!findNatsServer()) {
        process.stderr.write(NATS_SERVER_INSTALL_HINT + '\n');
        process.exit(1);
      }
      const natsPort = envInt('YUNBIAN_NATS_PORT', 4222);
      // The stack's NATS trust is kept with its data (a new one would be a new account, whose
      // JetStream is empty); its processes connect with the admin credentials unless given their own.
      if (!process.env[NATS_TRUST_DIR_VARIABLE]) {
        const trust = await ensureNatsTrust(path.join(stateDir, 'nats-trust'));
        process.env[NATS_TRUST_DIR_VARIABLE] = trust.dir;
        process.env[NATS_CREDS_VARIABLE] ??= path.join(trust.dir, NatsTrustFiles.adminCreds);
      }
      nats = await LocalNatsServer.start({
        port: natsPort,
        storeDir: path.join(stateDir, 'nats'),
        args: ['-m', String(envInt('YUNBIAN_NATS_MONITOR_PORT', 8222))],
      }).catch((err: Error) => {
        throw new Error(
          `${err.message}\nIs port ${natsPort} taken? Set YUNBIAN_NATS_PORT to another port, or NATS_URL to use a running server.`,
        );
      });
      natsUrl = nats.url;
    }
    say(`NATS          ${natsUrl}${nats ? ` (JetStream data in ${path.join(stateDir, 'nats')})` : ''}`);

    useToolKey(stackAdminKey(stateDir));
    // The agents enrol themselves with a join token made for this run: each gets NATS
    // credentials of its own (kept in <state>/nodes/), allowed only its own subjects.
    const joinToken = process.env[NODE_JOIN_TOKEN_VARIABLE]?.trim() || randomBytes(24).toString('hex');
    start('orchestrator', 'apps/orchestrator/src/main.js', [], {
      NATS_URL: natsUrl,
      PORT: String(port),
      [NODE_JOIN_TOKEN_VARIABLE]: joinToken,
      ...orchestratorKeyEnv(),
    });
    await waitUntil(
      async () => (await apiFetch(`${api}/health/ready`)).ok,
      30_000,
      `the orchestrator at ${api}/health/ready`,
      200,
    );
    say(`orchestrator  ${api}   (OpenAPI: ${api}/docs, console: ${api}/console)`);
    say(
      `admin key     ${toolKey()}   (${process.env[ADMIN_KEY_VARIABLE]?.trim() ? 'from YUNBIAN_ADMIN_KEY' : `kept in ${path.join(stateDir, 'admin-key')}`}; send it as Authorization: Bearer <key>)`,
    );

    const metricsBase = envInt('YUNBIAN_AGENT_METRICS_PORT', 9101);
    NODES.forEach((node, i) => {
      start(node, 'apps/agent/src/main.js', ['--node', path.join(ROOT, 'compose/nodes', `${node}.yaml`)], {
        NATS_URL: natsUrl,
        YUNBIAN_METRICS_PORT: String(metricsBase + i),
        [NODE_JOIN_TOKEN_VARIABLE]: joinToken,
        YUNBIAN_ORCHESTRATOR_URL: api,
        [NATS_CREDS_VARIABLE]: path.join(stateDir, 'nodes', `${node}.creds`),
      });
    });
    // Only the agents this stack started count: the orchestrator may still hold a node of the
    // same id from an earlier run as alive during its grace period.
    const nodes = await waitUntil(
      async () => {
        const list = (await (await apiFetch(`${api}/nodes`)).json()) as NodeRecord[];
        const joined = list.filter(
          (n) => NODES.includes(n.id) && n.status === 'alive' && Date.parse(n.agentStartedAt) >= startedAt,
        );
        return joined.length === NODES.length ? joined : undefined;
      },
      60_000,
      'the three agents to join',
      200,
    );
    for (const n of nodes) {
      say(
        `node          ${n.id.padEnd(8)} ${n.tier.padEnd(6)} site ${n.site.padEnd(11)} tags ${n.tags.join(',').padEnd(20)} ${`${n.costPerHour}/h`.padEnd(7)} agent pid ${supervisor.get(n.id)?.pid}`,
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
    say(`logs          ${logDir}/<process>.log`);
    await registerOcrModels(api, ROOT, say);
    await loadWorkflows(api, path.join(ROOT, 'workflows'), say);

    if (process.env.YUNBIAN_DEMO !== '0') {
      // A demo that fails says why; the stack it demonstrates stays up.
      for (const demo of [() => runDemo(api, natsUrl, say), () => runOcrDemo(api, 'edge-a', say)]) {
        await demo().catch((err: Error) => say(`demo failed: ${err.message} (the stack keeps running)`));
      }
    }
    say('\nThe stack is up. Try:');
    say(`  export YUNBIAN_API_KEY=${toolKey()}`);
    say(`  curl -s ${api}/nodes -H "authorization: Bearer $YUNBIAN_API_KEY" | jq`);
    say(`  curl -s ${api}/instances -H "authorization: Bearer $YUNBIAN_API_KEY" | jq`);
    say(`  curl -s ${api}/workflows -H "authorization: Bearer $YUNBIAN_API_KEY" | jq`);
    say(`  curl -s ${api}/runs -H "authorization: Bearer $YUNBIAN_API_KEY" | jq`);
    say(
      `  curl -s -XPOST ${api}/instances -H "authorization: Bearer $YUNBIAN_API_KEY" -H 'content-type: application/json' -d '{"service":"json-transform@1.0.0","nodeId":"edge-b"}'`,
    );
    say(
      'A process that dies is restarted after a backoff (YUNBIAN_RESTART=0: it stays down). Ctrl-C stops everything.',
    );
  } catch (err) {
    process.stderr.write(`yunbian stack: ${(err as Error).message}\n`);
    await stopAll(1);
  }
}

void main();

/**
 * The stack's admin key: YUNBIAN_ADMIN_KEY when set, else the one saved in `<state>/admin-key`
 * at the first start (mode 600), else a new one saved there — so it stays the same across
 * restarts of the stack, like the JetStream data beside it.
 */
function stackAdminKey(stateDir: string): string {
  const given = process.env[ADMIN_KEY_VARIABLE]?.trim();
  if (given) return given;
  const file = path.join(stateDir, 'admin-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = generateApiKey().key;
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
