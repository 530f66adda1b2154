import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, generateApiKey, LocalNatsServer, spawnNode, stopChild, waitUntil } from '@yunbian/common';
import type { InstanceRecord, NodeDescriptor } from '@yunbian/contracts';
import { RestClient } from './rest-client';
import { NatsTransport } from '@yunbian/transport';

export const ROOT = path.resolve(__dirname, '../..');
export const DIST = path.join(ROOT, 'dist');
export const FIXTURE_SERVICES = path.join(DIST, 'test/fixtures/services');

/** Starts a built app (`dist/<entry>`) with its output in `<logDir>/<name>.log`. */
export function spawnApp(logDir: string, name: string, entry: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const log = path.join(logDir, `${name}.log`);
  const out = createWriteStream(log, { flags: 'a' });
  const child = spawnNode(path.join(DIST, entry), args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return { name, child, log };
}

/**
 * What every orchestrator a test starts gets: the cluster's admin key (the bootstrap key, so
 * specs are admins unless they make other keys), and a rate limit no test reaches by polling
 * (specs that test the limit set their own).
 */
export function orchestratorAuthEnv(adminKey: string): NodeJS.ProcessEnv {
  return { YUNBIAN_ADMIN_KEY: adminKey, YUNBIAN_RATE_LIMIT_PER_MIN: '1000000' };
}

export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

/** The NATS a TestCluster's processes connect to: one server, or every server of a cluster (comma-separated). */
export interface TestNats {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real local cluster for cross-process tests: nats-server with JetStream on a free
 * port, the orchestrator and agents as separate processes built in dist/. Logs go to a
 * temp folder whose path failures print.
 */
export class TestCluster extends RestClient {
  readonly logDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-test-'));
  readonly procs: Proc[] = [];
  orchestrator?: Proc;
  private transport?: NatsTransport;

  private constructor(readonly nats: TestNats) {
    super();
    this.key = this.adminKey;
  }

  /** The admin key of the orchestrators this cluster starts (YUNBIAN_ADMIN_KEY); RestClient sends it. */
  readonly adminKey = generateApiKey().key;

  static async start(): Promise<TestCluster> {
    return new TestCluster(await LocalNatsServer.start());
  }

  /** On NATS started elsewhere (a `LocalNatsCluster`: `url` lists every server); `stop` stops it too. */
  static on(nats: TestNats): TestCluster {
    return new TestCluster(nats);
  }

  spawn(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    const proc = spawnApp(this.logDir, name, entry, args, { NATS_URL: this.nats.url, ...env });
    this.procs.push(proc);
    return proc;
  }

  async startOrchestrator(env: NodeJS.ProcessEnv = {}): Promise<Proc> {
    const port = await freePort();
    this.api = `http://127.0.0.1:${port}`;
    this.orchestrator = this.spawn('orchestrator', 'apps/orchestrator/src/main.js', [], {
      PORT: String(port),
      ...orchestratorAuthEnv(this.adminKey),
      ...env,
    });
    await waitUntil(
      async () => (await this.fetch('/health/ready')).ok,
      30_000,
      `orchestrator (log ${this.orchestrator.log})`,
    );
    return this.orchestrator;
  }

  startAgent(node: Partial<NodeDescriptor> & { id: string }, env: NodeJS.ProcessEnv = {}): Proc {
    const file = path.join(this.logDir, `${node.id}.json`);
    writeFileSync(file, JSON.stringify(node));
    return this.spawn(node.id, 'apps/agent/src/main.js', ['--node', file], {
      YUNBIAN_SERVICE_PATH: FIXTURE_SERVICES,
      ...env,
    });
  }

  /** Starts an agent for `node` and waits (20 s at most) until the orchestrator counts it alive. */
  async startAgentAlive(node: Partial<NodeDescriptor> & { id: string }, env: NodeJS.ProcessEnv = {}): Promise<Proc> {
    const proc = this.startAgent(node, env);
    await this.waitFor(async () => (await this.node(node.id))?.status === 'alive', 20_000, `agent ${node.id} alive`);
    return proc;
  }

  async client(): Promise<NatsTransport> {
    this.transport ??= await NatsTransport.connect({ servers: this.nats.url, name: 'test client' });
    return this.transport;
  }

  /** Starts `service` on `nodeId` and waits until the instance is ready. */
  async deploy(service: string, nodeId: string): Promise<InstanceRecord> {
    const { status, body } = await this.call('POST', '/instances', { service, nodeId });
    if (status !== 201) throw new Error(`POST /instances ${service} on ${nodeId}: ${status} ${JSON.stringify(body)}`);
    const id = (body as unknown as InstanceRecord).id;
    return this.waitFor(
      async () => {
        const instance = await this.get<InstanceRecord>(`/instances/${id}`);
        return instance.status === 'ready' ? instance : undefined;
      },
      20_000,
      `instance ${id} ready`,
    );
  }

  waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
    return waitUntil(check, timeoutMs, `${what} (logs in ${this.logDir})`, 50);
  }

  async stop(): Promise<void> {
    await this.transport?.close();
    await Promise.all(this.procs.map((p) => stopChild(p.child, 'SIGTERM', 5_000)));
    await this.nats.stop();
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
