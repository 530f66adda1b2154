import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  freePort,
  generateApiKey,
  issueNatsUser,
  LocalNatsServer,
  processNatsTrust,
  stopChild,
  waitUntil,
  writeServerAuthInclude,
} from '@yunbian/common';
import { siteLeafDenyExports, type NodeDescriptor } from '@yunbian/contracts';
import { RestClient } from './rest-client';
import { NatsTransport } from '@yunbian/transport';
import { FIXTURE_SERVICES, orchestratorAuthEnv, ROOT, spawnApp, type Proc } from './cluster';

const COMPOSE_NATS = path.join(ROOT, 'compose/nats');

export type Side = 'hub' | 'leaf';

/**
 * A cloud hub and one edge site's leaf node, as compose/docker-compose.edge.yml runs them:
 * two real nats-servers started from compose/nats/hub.conf and leaf.conf (ports moved to
 * free ones), the orchestrator on the hub, agents on the hub or the leaf. Logs go to a temp
 * folder whose path failures print.
 */
export class LeafCluster extends RestClient {
  readonly procs: Proc[] = [];
  /** Further sites' leaf nodes (`addLeaf`), by site. */
  readonly otherLeaves = new Map<string, LocalNatsServer>();
  private readonly clients = new Map<Side, NatsTransport>();

  private constructor(
    readonly logDir: string,
    readonly hub: LocalNatsServer,
    readonly leaf: LocalNatsServer,
    readonly monitor: Record<Side, string>,
    readonly site: string,
    private readonly hubLeafPort: number,
  ) {
    super();
    this.key = this.adminKey;
  }

  /** The admin key of the orchestrators (and site engines) started here; RestClient sends it. */
  readonly adminKey = generateApiKey().key;

  static async start(site: string): Promise<LeafCluster> {
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-leaf-test-'));
    const [hubMonitor, leafMonitor, hubLeafPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const serverLog = (name: string) => (line: string) => appendFileSync(path.join(logDir, `${name}.log`), `${line}\n`);

    // LocalNatsServer gives each server a temporary store (-sd), and nats-server refuses a
    // second store_dir from the file.
    const ownStore = { 'store_dir: /data': '' };
    // The configs include their sync setting from beside them: the repository's copy, which
    // nats-server 2.9.10 loads (compose mounts sync_interval: always in its place).
    copyFileSync(path.join(COMPOSE_NATS, 'jetstream-sync.conf'), path.join(logDir, 'jetstream-sync.conf'));
    // Both servers run with the run's NATS trust, its files in ./trust beside the configs as
    // compose mounts them; the leaf's hub connection has credentials of its own.
    const trust = await processNatsTrust();
    await writeServerAuthInclude(logDir, trust);
    writeFileSync(path.join(logDir, 'trust', 'leaf.creds'), await issueNatsUser(trust, `leaf-${site}`, {}));
    const hubConf = path.join(logDir, 'hub.conf');
    writeFileSync(
      hubConf,
      composeConfig('hub.conf', {
        ...ownStore,
        '/data/jwt': path.join(logDir, 'hub-jwt'),
        'http: 0.0.0.0:8222': `http: 127.0.0.1:${hubMonitor}`,
        'listen: 0.0.0.0:7422': `listen: 127.0.0.1:${hubLeafPort}`,
      }),
    );
    const leafConf = writeLeafConfig(logDir, site, hubLeafPort, leafMonitor, true);
    const hub = await LocalNatsServer.start({ args: ['-c', hubConf], log: serverLog('nats-hub') });
    const leaf = await LocalNatsServer.start({ args: ['-c', leafConf], log: serverLog('nats-leaf') }).catch(
      async (err: Error) => {
        await hub.stop();
        throw err;
      },
    );
    const cluster = new LeafCluster(
      logDir,
      hub,
      leaf,
      { hub: `http://127.0.0.1:${hubMonitor}`, leaf: `http://127.0.0.1:${leafMonitor}` },
      site,
      hubLeafPort,
    );
    await cluster.waitFor(
      async () => ((await cluster.monitoring<{ leafnodes: number }>('hub', '/leafz')).leafnodes ?? 0) >= 1,
      10_000,
      `the leaf node of ${site} to connect to the hub`,
    );
    return cluster;
  }

  /**
   * The leaf node of a second edge site, connected to the same hub with credentials of its own
   * and its own JetStream domain (the site's name), as leaf.conf runs every site.
   */
  async addLeaf(site: string): Promise<LocalNatsServer> {
    const trust = await processNatsTrust();
    writeFileSync(
      path.join(this.logDir, 'trust', `leaf-${site}.creds`),
      await issueNatsUser(trust, `leaf-${site}`, {}),
    );
    const conf = writeLeafConfig(this.logDir, site, this.hubLeafPort, await freePort(), false);
    const leaf = await LocalNatsServer.start({
      args: ['-c', conf],
      log: (line) => appendFileSync(path.join(this.logDir, `nats-leaf-${site}.log`), `${line}\n`),
    });
    this.otherLeaves.set(site, leaf);
    await this.waitFor(
      async () =>
        ((await this.monitoring<{ leafnodes: number }>('hub', '/leafz')).leafnodes ?? 0) >= 1 + this.otherLeaves.size,
      10_000,
      `the leaf node of ${site} to connect to the hub`,
    );
    return leaf;
  }

  url(side: Side): string {
    return side === 'hub' ? this.hub.url : this.leaf.url;
  }

  spawn(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    const proc = spawnApp(this.logDir, name, entry, args, env);
    this.procs.push(proc);
    return proc;
  }

  /**
   * A site engine (the orchestrator in site mode) on the leaf, with the cluster's admin key:
   * its REST base URL and process. It is not waited for: specs wait for what they need of it.
   */
  async startSiteEngine(site: string, env: NodeJS.ProcessEnv = {}): Promise<{ url: string; proc: Proc }> {
    const port = await freePort();
    const proc = this.spawn('site-engine', 'apps/orchestrator/src/main.js', [], {
      NATS_URL: this.url('leaf'),
      PORT: String(port),
      YUNBIAN_ENGINE_MODE: 'site',
      YUNBIAN_SITE: site,
      YUNBIAN_HUB_DOMAIN: 'hub',
      ...orchestratorAuthEnv(this.adminKey),
      ...env,
    });
    return { url: `http://127.0.0.1:${port}`, proc };
  }

  /** The orchestrator, on the hub like in the cloud. */
  async startOrchestrator(env: NodeJS.ProcessEnv = {}): Promise<Proc> {
    const port = await freePort();
    this.api = `http://127.0.0.1:${port}`;
    const proc = this.spawn('orchestrator', 'apps/orchestrator/src/main.js', [], {
      NATS_URL: this.hub.url,
      PORT: String(port),
      ...orchestratorAuthEnv(this.adminKey),
      ...env,
    });
    await this.waitFor(async () => (await this.fetch('/health/ready')).ok, 30_000, 'the orchestrator to be ready');
    return proc;
  }

  /** An agent connected to the hub (a cloud node) or to the leaf (a node of the edge site). */
  startAgent(node: Partial<NodeDescriptor> & { id: string }, side: Side, env: NodeJS.ProcessEnv = {}): Proc {
    const file = path.join(this.logDir, `${node.id}.json`);
    writeFileSync(file, JSON.stringify(node));
    return this.spawn(node.id, 'apps/agent/src/main.js', ['--node', file], {
      NATS_URL: this.url(side),
      YUNBIAN_SERVICE_PATH: FIXTURE_SERVICES,
      ...env,
    });
  }

  async client(side: Side): Promise<NatsTransport> {
    let client = this.clients.get(side);
    if (!client) {
      client = await NatsTransport.connect({ servers: this.url(side), name: `test client on the ${side}` });
      this.clients.set(side, client);
    }
    return client;
  }

  /** Names of the client connections a server holds (from its monitoring /connz). */
  async connectionNames(side: Side): Promise<string[]> {
    const connz = await this.monitoring<{ connections?: { name?: string }[] }>(side, '/connz');
    return (connz.connections ?? []).map((c) => c.name ?? '');
  }

  async monitoring<T>(side: Side, route: string): Promise<T> {
    const response = await fetch(`${this.monitor[side]}${route}`);
    if (!response.ok) throw new Error(`nats ${side} monitoring ${route}: ${response.status}`);
    return (await response.json()) as T;
  }

  waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
    return waitUntil(check, timeoutMs, `${what} (logs in ${this.logDir})`, 50);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    await Promise.all(this.procs.map((p) => stopChild(p.child, 'SIGTERM', 5_000)));
    await this.leaf.stop();
    for (const leaf of this.otherLeaves.values()) await leaf.stop();
    await this.hub.stop();
  }
}

/**
 * compose/nats/leaf.conf for `site` (monitoring on `monitorPort`), written to the log folder;
 * its path. leaf.conf takes its site settings from variables; defining them first is the same
 * as setting them in the environment, without leaking them into the processes spawned here.
 * The first site's leaf (`first`) uses leaf.creds, as compose mounts it; others leaf-<site>.creds.
 */
function writeLeafConfig(
  logDir: string,
  site: string,
  hubLeafPort: number,
  monitorPort: number,
  first: boolean,
): string {
  const conf = path.join(logDir, first ? 'leaf.conf' : `leaf-${site}.conf`);
  const replacements: Record<string, string> = {
    // LocalNatsServer gives each server a temporary store (-sd), and nats-server refuses a
    // second store_dir from the file.
    'store_dir: /data': '',
    '/etc/nats/trust/': `${path.join(logDir, 'trust')}/`,
    '/data/jwt': path.join(logDir, first ? 'leaf-jwt' : `leaf-${site}-jwt`),
    'http: 0.0.0.0:8222': `http: 127.0.0.1:${monitorPort}`,
  };
  if (!first) replacements['trust/leaf.creds'] = `trust/leaf-${site}.creds`;
  writeFileSync(
    conf,
    [
      `YUNBIAN_SITE: "${site}"`,
      `YUNBIAN_LEAF_NAME: "leaf-${site}"`,
      `YUNBIAN_HUB_LEAF_URL: "nats-leaf://127.0.0.1:${hubLeafPort}"`,
      `YUNBIAN_LEAF_DENY_EXPORTS: ${JSON.stringify(siteLeafDenyExports(site))}`,
      composeConfig('leaf.conf', replacements),
    ].join('\n'),
  );
  return conf;
}

/**
 * A compose/nats config file with some lines replaced. Each replaced text must be there, so
 * a change to the compose config breaks this test loudly instead of testing something else.
 */
function composeConfig(file: string, replacements: Record<string, string>): string {
  let text = readFileSync(path.join(COMPOSE_NATS, file), 'utf8');
  for (const [from, to] of Object.entries(replacements)) {
    if (!text.includes(from)) {
      throw new Error(
        `compose/nats/${file} no longer contains "${from}"; update test/support/leaf-cluster.ts to match`,
      );
    }
    text = text.split(from).join(to);
  }
  return text;
}
