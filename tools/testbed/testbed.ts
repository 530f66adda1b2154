/**
 * The edge testbed: one machine emulating a cloud site, edge sites and device sites with
 * real processes in network namespaces, links shaped in bandwidth (tc tbf), delayed (a
 * user-space TCP proxy; the kernel has no netem) and lossy (iptables), and a NATS leaf node
 * per site as in compose/docker-compose.edge.yml. Programmatic API:
 *
 *   const bed = await Testbed.start(topology, { port: 3000 });
 *   await bed.setLink('factory-sz', { upMbps: 100, rttMs: 10 });
 *   await bed.cut('factory-sz'); await bed.restore('factory-sz');
 *   const edge = await bed.siteEngineApi('factory-sz'); // a site engine per edge site
 *   await bed.stop();
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  bearer,
  findNatsServer,
  generateApiKey,
  issueNatsUser,
  NATS_CREDS_VARIABLE,
  NATS_SERVER_INSTALL_HINT,
  NatsTrustFiles,
  processNatsTrust,
  resolverConfig,
  waitUntil,
  writeServerAuthInclude,
} from '@yunbian/common';
import { ADMIN_KEY_VARIABLE, siteLeafDenyExports, type NetworkView, type NodeRecord } from '@yunbian/contracts';
import { ProcessSupervisor, type ProcessExit } from '../common/supervisor';
import { scanServiceLibrary } from '../../apps/agent/src/service-library-scan';
import {
  createLink,
  createNamespace,
  listNamespaces,
  preflight,
  qdiscs,
  removeCgroupTree,
  removeNamespace,
  run,
  setLinkRules,
  shapeLink,
  yunbianCgroupRoots,
} from './netns';
import { planTestbed, PORTS, startOrder, type LinkPlan, type SitePlan, type TestbedPlan } from './plan';
import { loadTopology, parseTopology, type LinkShape, type Topology } from './topology';
import { forwardTcpToUnix } from './unix-forward';

// The built files (entry points of the processes in the namespaces), also when this module
// is loaded from source (the e2e tests): dist/tools/testbed.
const HERE = __dirname.split(path.sep).includes('dist')
  ? __dirname
  : path.resolve(__dirname, '../../dist/tools/testbed');
const DIST = path.resolve(HERE, '../..');
const ROOT = path.resolve(DIST, '..');

export class TestbedUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TestbedUnavailableError';
  }
}

export interface TestbedOptions {
  /** Host port of the orchestrator's REST (on 127.0.0.1); 0 picks a free one. Default 3000. */
  port?: number;
  /**
   * How long to wait for another live testbed on this machine to end before giving up
   * (default `YUNBIAN_TESTBED_WAIT_MS`, else 15 min; 0: fail at once).
   */
  waitForOtherMs?: number;
  /** Agents' heartbeat interval (YUNBIAN_HEARTBEAT_MS); default the agents' own (2000). */
  heartbeatMs?: number;
  /** Extra environment for every agent (and the workers it forks). */
  agentEnv?: NodeJS.ProcessEnv;
  /** Extra environment for the orchestrator. */
  orchestratorEnv?: NodeJS.ProcessEnv;
  /** The admin key of the orchestrator and the site engines (default YUNBIAN_ADMIN_KEY, else a generated one). */
  adminKey?: string;
  /** Start a site engine (the orchestrator in site mode, on the site's leaf) per edge site (default true). */
  siteEngines?: boolean;
  /** Extra environment for the site engines. */
  siteEngineEnv?: NodeJS.ProcessEnv;
  /** Where the state file lives, for cleaning up after a SIGKILL (default <tmp>/yunbian-testbed). */
  stateDir?: string;
  /** Where progress and process exits are reported (default: nowhere). */
  say?: (line: string) => void;
  /** Called on every process exit (the testbed restarts agents itself). */
  onExit?: (exit: ProcessExit) => void;
  /** How long to wait for every node to be alive (default 60 s). */
  readyTimeoutMs?: number;
  /** Start the agents (default true); false leaves it to `startAgents()`, e.g. after measuring the bare links. */
  agents?: boolean;
}

export interface LinkState extends LinkShape {
  site: string;
  uplink: string;
  cut: boolean;
}

export interface LinkMeasurement {
  site: string;
  rttMs: number;
  upMbps: number;
  downMbps: number;
}

interface StateFile {
  pid: number;
  runId: string;
  startedAt: string;
  workDir: string;
  namespaces: string[];
  cgroupDirs: string[];
}

const RUN_ENV = 'YUNBIAN_TESTBED_RUN';
/**
 * The testbed's REST callers are the specs and tools driving it, polling many routes with one
 * key: the per-credential limit (default 600/min) is lifted (orchestratorEnv can set it back).
 */
const TESTBED_RATE_LIMIT = { YUNBIAN_RATE_LIMIT_PER_MIN: '1000000' };

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Testbed {
  readonly api: string;
  /** The bootstrap admin key the orchestrator and site engines use (printed when the testbed starts). */
  readonly adminKey: string;
  private readonly links = new Map<string, { plan: LinkPlan; state: LinkState }>();
  private readonly hostServers: net.Server[] = [];
  private readonly forwards = new Map<string, string>();
  private probes = 0;
  private stopping?: Promise<void>;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];

  private constructor(
    readonly topology: Topology,
    readonly plan: TestbedPlan,
    readonly workDir: string,
    readonly port: number,
    private readonly supervisor: ProcessSupervisor,
    private readonly stateFile: string,
    private readonly cgroupDirs: string[],
    private readonly say: (line: string) => void,
    private readonly options: TestbedOptions,
  ) {
    this.api = `http://127.0.0.1:${port}`;
    this.adminKey = options.adminKey ?? (process.env[ADMIN_KEY_VARIABLE] || generateApiKey().key);
    for (const link of plan.links) {
      this.links.set(link.site, {
        plan: link,
        state: { site: link.site, uplink: link.uplinkSite, ...link.shape, cut: false },
      });
    }
  }

  get logDir(): string {
    return path.join(this.workDir, 'logs');
  }

  /** Builds the network, starts every process and waits until every node is alive in the catalogue. */
  static async start(topologyOrFile: Topology | string, options: TestbedOptions = {}): Promise<Testbed> {
    const unavailable = await preflight();
    if (unavailable) throw new TestbedUnavailableError(unavailable);
    const topology =
      typeof topologyOrFile === 'string' ? loadTopology(topologyOrFile) : parseTopology(topologyOrFile, 'topology');
    const say = options.say ?? (() => undefined);
    const natsServer = findNatsServer();
    if (!natsServer) throw new TestbedUnavailableError(NATS_SERVER_INSTALL_HINT);

    const stateDir = options.stateDir ?? path.join(os.tmpdir(), 'yunbian-testbed');
    mkdirSync(stateDir, { recursive: true });
    const stateFile = path.join(stateDir, 'state.json');
    await Testbed.waitForOthers(stateFile, options.waitForOtherMs ?? envWaitMs(), say);

    const plan = planTestbed(topology);
    const runId = randomUUID();
    const workDir = mkdtempSync(path.join(os.tmpdir(), 'yb-testbed-'));
    const cgroupDirs = yunbianCgroupRoots().flatMap((root) =>
      topology.sites.flatMap((s) => s.nodes.map((n) => path.join(root, n.id))),
    );
    const state: StateFile = {
      pid: process.pid,
      runId,
      startedAt: new Date().toISOString(),
      workDir,
      namespaces: plan.sites.map((s) => s.namespace),
      cgroupDirs,
    };
    // Written before anything exists, so a SIGKILL at any point is cleaned at the next start.
    writeFileSync(stateFile, JSON.stringify(state, null, 2));

    const supervisor = new ProcessSupervisor({
      logDir: path.join(workDir, 'logs'),
      say,
      baseEnv: { ...process.env, [RUN_ENV]: runId },
      stopGraceMs: 10_000,
      onExit: options.onExit,
    });
    const port = options.port ?? 3000;
    const bed = new Testbed(
      topology,
      plan,
      workDir,
      port === 0 ? await freeLoopbackPort() : port,
      supervisor,
      stateFile,
      cgroupDirs,
      say,
      options,
    );
    // Installed before anything starts: Ctrl-C during the build tears down what exists.
    bed.installSignalHandlers();
    try {
      await bed.build(natsServer, options);
    } catch (err) {
      say(`testbed: ${(err as Error).message}; tearing down (logs in ${bed.logDir})`);
      await bed.stop({ keepLogs: true });
      throw err;
    }
    return bed;
  }

  /**
   * One testbed per machine: while another live one holds the state file, waits for it to end
   * (polling every 2 s, at most `waitMs`; tests on a shared machine queue instead of failing),
   * then cleans up what a killed one left.
   */
  static async waitForOthers(stateFile: string, waitMs: number, say: (line: string) => void): Promise<void> {
    const deadline = Date.now() + waitMs;
    let told = false;
    for (;;) {
      try {
        await Testbed.cleanStale(stateFile, say);
        return;
      } catch (err) {
        if (
          !(err instanceof TestbedUnavailableError) ||
          !err.message.startsWith('another testbed') ||
          Date.now() >= deadline
        )
          throw err;
        if (!told) say(`${err.message.split(';')[0]}: waiting up to ${Math.round(waitMs / 1000)} s for it to end`);
        told = true;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  /** Removes what a testbed killed without its teardown left: processes, namespaces, cgroups. */
  static async cleanStale(stateFile: string, say: (line: string) => void = () => undefined): Promise<void> {
    let state: StateFile | undefined;
    if (existsSync(stateFile)) {
      try {
        state = JSON.parse(readFileSync(stateFile, 'utf8')) as StateFile;
      } catch {
        state = undefined;
      }
    }
    if (state && state.pid !== process.pid && pidAlive(state.pid) && isTestbedProcess(state.pid)) {
      throw new TestbedUnavailableError(
        `another testbed is running (pid ${state.pid}, started ${state.startedAt}); stop it (Ctrl-C or kill ${state.pid}) first`,
      );
    }
    const namespaces = new Set([...(state?.namespaces ?? []), ...(await listNamespaces())]);
    if (namespaces.size) say(`cleaning up after an earlier testbed: ${[...namespaces].join(', ')}`);
    for (const ns of namespaces) await removeNamespace(ns);
    for (const dir of state?.cgroupDirs ?? []) removeCgroupTree(dir);
    if (state?.workDir?.startsWith(path.join(os.tmpdir(), 'yb-testbed-'))) {
      rmSync(state.workDir, { recursive: true, force: true });
    }
    rmSync(stateFile, { force: true });
  }

  private async build(natsServer: string, options: TestbedOptions): Promise<void> {
    const { plan } = this;
    for (const dir of ['logs', 'nats', 'nodes', 'sockets'])
      mkdirSync(path.join(this.workDir, dir), { recursive: true });
    this.say(`building ${plan.sites.length} namespaces and ${plan.links.length} links`);
    for (const site of plan.sites) await createNamespace(site.namespace);
    for (const link of plan.links) await createLink(link);

    for (const site of startOrder(plan)) await this.startSiteNetwork(site, natsServer);

    // The orchestrator on the hub, its REST forwarded to the host's loopback.
    const ns = plan.cloud.namespace;
    this.supervisor.start({
      name: 'orchestrator',
      ...inNamespace(ns, process.execPath, [path.join(DIST, 'apps/orchestrator/src/main.js')]),
      cwd: ROOT,
      env: {
        NATS_URL: `nats://127.0.0.1:${PORTS.nats}`,
        PORT: String(PORTS.orchestrator),
        // The cloud engine's site, for the choice of where runs execute.
        YUNBIAN_SITE: plan.cloud.site.name,
        [ADMIN_KEY_VARIABLE]: this.adminKey,
        ...TESTBED_RATE_LIMIT,
        ...options.orchestratorEnv,
      },
      echoStderr: false,
    });
    const socket = path.join(this.workDir, 'sockets', 'orchestrator.sock');
    this.supervisor.start({
      name: 'rest-forward',
      ...inNamespace(ns, process.execPath, [
        path.join(HERE, 'unix-forward.js'),
        '--unix',
        socket,
        '--to',
        `127.0.0.1:${PORTS.orchestrator}`,
      ]),
      echoStderr: false,
    });
    this.hostServers.push(await forwardTcpToUnix(this.port, socket));
    await this.waitFor(
      async () => (await this.fetch('/health/ready', { signal: AbortSignal.timeout(5_000) })).ok,
      60_000,
      'the orchestrator to be ready',
    );
    this.say(`orchestrator ready at ${this.api}; admin key: ${this.adminKey}`);

    if (options.siteEngines !== false) {
      for (const site of this.edgeSites()) await this.startSiteEngine(site);
    }
    if (options.agents !== false) await this.startAgents();
  }

  /** `fetch` of a route of the orchestrator's REST with the admin key. */
  fetch(route: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.api}${route}`, {
      ...init,
      headers: { ...bearer(this.adminKey), ...(init.headers as Record<string, string> | undefined) },
    });
  }

  /** Edge sites (kind edge): the ones that get a site engine. */
  private edgeSites(): SitePlan[] {
    return this.plan.sites.filter((s) => s.site.kind === 'edge');
  }

  /**
   * The orchestrator in site mode inside an edge site's namespace, on the site's leaf NATS
   * server: its runs in the site's JetStream domain, definitions read from the hub's. Its
   * REST is reached from the host through `siteEngineApi(site)`.
   */
  private async startSiteEngine(site: SitePlan): Promise<void> {
    const name = `engine-${site.site.name}`;
    this.supervisor.start({
      name,
      ...inNamespace(site.namespace, process.execPath, [path.join(DIST, 'apps/orchestrator/src/main.js')]),
      cwd: ROOT,
      env: {
        NATS_URL: `nats://127.0.0.1:${PORTS.nats}`,
        PORT: String(PORTS.siteEngine),
        YUNBIAN_ENGINE_MODE: 'site',
        YUNBIAN_SITE: site.site.name,
        YUNBIAN_HUB_DOMAIN: 'hub',
        [ADMIN_KEY_VARIABLE]: this.adminKey,
        ...TESTBED_RATE_LIMIT,
        ...this.options.siteEngineEnv,
      },
      echoStderr: false,
    });
    await this.waitForLog(name, /orchestrator listening/, 60_000);
    this.say(`site engine of ${site.site.name} ready`);
  }

  /** The host URL of a site engine's REST (forwarded into the site's namespace). */
  siteEngineApi(site: string): Promise<string> {
    if (!this.edgeSites().some((s) => s.site.name === site)) {
      return Promise.reject(
        new Error(
          `site "${site}" has no site engine; edge sites: ${this.edgeSites()
            .map((s) => s.site.name)
            .join(', ')}`,
        ),
      );
    }
    return this.forwardPort(site, PORTS.siteEngine);
  }

  /**
   * Starts every node's agent in its site's namespace and waits until all are alive in the
   * catalogue. `Testbed.start` does it unless `agents: false` (to measure the bare links first).
   */
  async startAgents(): Promise<void> {
    const options = this.options;
    if (this.supervisor.get(this.nodeIds()[0] ?? '')) throw new Error('the agents are already started');
    // Each node enrols (through the cloud orchestrator's REST API, from here: the nodes' namespaces
    // do not reach it) and runs with NATS credentials of its own, allowed only its own subjects.
    const library = await scanServiceLibrary(
      { ...process.env, ...options.agentEnv },
      path.join(DIST, 'apps/agent/src/service-library-scan.process.js'),
    );
    const services = [...new Set(library.services.map((s) => s.descriptor.name))];
    const credentials = new Map<string, string>();
    for (const site of this.plan.sites) {
      for (const node of site.site.nodes) credentials.set(node.id, await this.enrol(node.id, site.site.name, services));
    }
    for (const site of this.plan.sites) {
      site.site.nodes.forEach((node, k) => {
        const file = path.join(this.workDir, 'nodes', `${node.id}.json`);
        writeFileSync(file, JSON.stringify({ ...node, site: site.site.name }, null, 2));
        this.supervisor.start({
          name: node.id,
          ...inNamespace(site.namespace, process.execPath, [path.join(DIST, 'apps/agent/src/main.js'), '--node', file]),
          cwd: ROOT,
          env: {
            NATS_URL: `nats://127.0.0.1:${PORTS.nats}`,
            // Behind a leaf the registry's KV and object stores are in the hub's domain.
            ...(site.link ? { YUNBIAN_JS_DOMAIN: 'hub' } : {}),
            YUNBIAN_METRICS_PORT: String(PORTS.agentMetrics + k),
            ...(options.heartbeatMs ? { YUNBIAN_HEARTBEAT_MS: String(options.heartbeatMs) } : {}),
            [NATS_CREDS_VARIABLE]: credentials.get(node.id)!,
            ...options.agentEnv,
          },
          echoStderr: false,
        });
      });
    }
    const ids = this.nodeIds();
    await this.waitFor(
      async () => {
        const nodes = (await (
          await this.fetch('/nodes', { signal: AbortSignal.timeout(5_000) })
        ).json()) as NodeRecord[];
        return ids.every((id) => nodes.some((n) => n.id === id && n.status === 'alive'));
      },
      options.readyTimeoutMs ?? 60_000,
      `nodes ${ids.join(', ')} to be alive`,
    );
  }

  /** Enrols `nodeId` at `site` (a token, traded at once) and saves its credentials; returns the file. */
  private async enrol(nodeId: string, site: string, services: string[]): Promise<string> {
    const json = async (route: string, body: unknown) => {
      const response = await this.fetch(route, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`POST ${route} for node ${nodeId}: HTTP ${response.status} ${text}`);
      return JSON.parse(text) as Record<string, string>;
    };
    const { token } = await json('/nodes/enrolments', { nodeId, site });
    const { credentials } = await json('/nodes/enrol', { token, services });
    const file = path.join(this.workDir, 'nodes', `${nodeId}.creds`);
    writeFileSync(file, credentials!, { mode: 0o600 });
    return file;
  }

  private async startSiteNetwork(site: SitePlan, natsServer: string): Promise<void> {
    const name = site.site.name;
    const store = path.join(this.workDir, 'nats', name);
    mkdirSync(store, { recursive: true });
    const conf = path.join(this.workDir, 'nats', `${name}.conf`);
    const link = site.link;
    if (link) {
      const socket = path.join(this.workDir, 'sockets', `proxy-${name}.sock`);
      this.supervisor.start({
        name: `proxy-${name}`,
        ...inNamespace(site.namespace, process.execPath, [
          path.join(HERE, 'delay-proxy.js'),
          '--route',
          `127.0.0.1:${PORTS.proxyLeaf}=${link.uplinkAddress}:${PORTS.leaf}`,
          '--route',
          `127.0.0.1:${PORTS.proxyProbe}=${link.uplinkAddress}:${PORTS.probe}`,
          '--route',
          `127.0.0.1:${PORTS.proxyApp}=${link.uplinkAddress}:${PORTS.app}`,
          '--delay-ms',
          String(link.shape.rttMs / 2),
          '--control',
          socket,
        ]),
        echoStderr: false,
      });
      for (const port of [PORTS.proxyProbe, PORTS.proxyApp])
        await this.waitForLog(`proxy-${name}`, new RegExp(`delay proxy 127\\.0\\.0\\.1:${port} `), 15_000);
    }
    const trustDir = path.join(this.workDir, 'nats', 'trust');
    const trust = await processNatsTrust();
    await writeServerAuthInclude(path.join(this.workDir, 'nats'), trust);
    if (link) writeFileSync(leafCredsFile(trustDir, name), await issueNatsUser(trust, `leaf-${name}`, {}));
    writeFileSync(conf, natsConfig(site, store, trustDir));
    const server = `nats-${name}`;
    this.supervisor.start({
      name: server,
      ...inNamespace(site.namespace, natsServer, ['-c', conf]),
      echoStderr: false,
    });
    await this.waitForLog(server, /Server is ready/, 20_000);
    if (link) await this.waitForLog(server, /Leafnode connection created/, 20_000);
    this.say(`site ${name}: namespace ${site.namespace}, NATS ${link ? `leaf → ${link.uplinkSite}` : 'hub'}`);
  }

  nodeIds(site?: string): string[] {
    return this.topology.sites.filter((s) => !site || s.name === site).flatMap((s) => s.nodes.map((n) => n.id));
  }

  linkStates(): LinkState[] {
    return [...this.links.values()].map((l) => ({ ...l.state }));
  }

  private link(site: string): { plan: LinkPlan; state: LinkState } {
    const link = this.links.get(site);
    if (!link) {
      throw new Error(`site "${site}" has no uplink; sites with one: ${[...this.links.keys()].join(', ') || 'none'}`);
    }
    return link;
  }

  /** Changes a link's bandwidth, round trip or loss at run time; fields left out keep their value. */
  async setLink(site: string, change: Partial<LinkShape>): Promise<LinkState> {
    const { plan, state } = this.link(site);
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined) continue;
      const bad =
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        (key === 'rttMs' || key === 'lossPercent' ? value < 0 : value <= 0) ||
        (key === 'lossPercent' && value > 100);
      if (!['upMbps', 'downMbps', 'rttMs', 'lossPercent'].includes(key)) {
        throw new Error(`unknown link field "${key}"; accepted: upMbps, downMbps, rttMs, lossPercent`);
      }
      if (bad)
        throw new Error(
          `${key} must be a number ${key.endsWith('Mbps') ? '> 0' : '≥ 0'} (got ${JSON.stringify(value)})`,
        );
    }
    const next = { ...state, ...Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) };
    if (next.upMbps !== state.upMbps || next.downMbps !== state.downMbps) {
      await shapeLink(plan, next.upMbps, next.downMbps);
    }
    if (next.rttMs !== state.rttMs) await this.proxyControl(site, { delayMs: next.rttMs / 2 });
    if ((next.lossPercent ?? 0) !== (state.lossPercent ?? 0) && !state.cut) {
      await setLinkRules(plan, { cut: false, lossPercent: next.lossPercent });
    }
    Object.assign(state, next);
    this.say(`link ${site}: ${describeLink(state)}`);
    return { ...state };
  }

  /** Partitions a site from its uplink: every packet on the link is dropped, both ways. */
  async cut(site: string): Promise<void> {
    const { plan, state } = this.link(site);
    await setLinkRules(plan, { cut: true });
    state.cut = true;
    this.say(`link ${site}: cut`);
  }

  async restore(site: string): Promise<void> {
    const { plan, state } = this.link(site);
    await setLinkRules(plan, { cut: false, lossPercent: state.lossPercent });
    state.cut = false;
    this.say(`link ${site}: restored (${describeLink(state)})`);
  }

  /**
   * Raw TCP through the shaped path (delay proxy + veth), independent of Yunbian: the round
   * trip from small echoes and the throughput each way from a bulk transfer of about
   * `seconds` at the configured rate.
   */
  async measureLink(site: string, seconds = 1.5): Promise<LinkMeasurement> {
    const { plan, state } = this.link(site);
    if (state.cut) throw new Error(`link ${site} is cut; restore it before measuring`);
    const bytes = (mbps: number) =>
      Math.round(Math.min(Math.max((mbps * 1e6 * seconds) / 8, 256 * 1024), 64 * 1024 * 1024));
    const probe = path.join(HERE, 'link-probe.js');
    // A name of its own per measurement: its log starts empty, so "listening" is this server's.
    const name = `probe-server-${site}-${++this.probes}`;
    this.supervisor.start({
      name,
      ...inNamespace(plan.uplinkNamespace, process.execPath, [
        probe,
        'serve',
        '--listen',
        `${plan.uplinkAddress}:${PORTS.probe}`,
      ]),
      restart: false,
      echoStderr: false,
    });
    try {
      await this.waitForLog(name, /listening/, 15_000);
      const out = await run(
        [
          'ip',
          'netns',
          'exec',
          plan.siteNamespace,
          process.execPath,
          probe,
          'measure',
          '--connect',
          `127.0.0.1:${PORTS.proxyProbe}`,
          '--up-bytes',
          String(bytes(state.upMbps)),
          '--down-bytes',
          String(bytes(state.downMbps)),
        ],
        { timeoutMs: 120_000 },
      );
      return { site, ...(JSON.parse(out.trim().split('\n').pop()!) as Omit<LinkMeasurement, 'site'>) };
    } finally {
      await this.supervisor.stop(name);
    }
  }

  /**
   * A host URL for a port on a site's 127.0.0.1 (an agent's metrics, a NATS server's
   * monitoring): a forwarder inside the namespace on a Unix socket, and a host listener on
   * a free 127.0.0.1 port relaying to it. Started once per site and port.
   */
  async forwardPort(site: string, port: number): Promise<string> {
    const key = `${site}:${port}`;
    const known = this.forwards.get(key);
    if (known) return known;
    const plan = this.plan.sites.find((s) => s.site.name === site);
    if (!plan) throw new Error(`no site "${site}"; sites: ${this.plan.sites.map((s) => s.site.name).join(', ')}`);
    const name = `forward-${site}-${port}`;
    const socket = path.join(this.workDir, 'sockets', `${name}.sock`);
    this.supervisor.start({
      name,
      ...inNamespace(plan.namespace, process.execPath, [
        path.join(HERE, 'unix-forward.js'),
        '--unix',
        socket,
        '--to',
        `127.0.0.1:${port}`,
      ]),
      echoStderr: false,
    });
    await this.waitForLog(name, /forwarding/, 15_000);
    const hostPort = await freeLoopbackPort();
    this.hostServers.push(await forwardTcpToUnix(hostPort, socket));
    const url = `http://127.0.0.1:${hostPort}`;
    this.forwards.set(key, url);
    return url;
  }

  /** The metrics/health URL of a node's agent (its YUNBIAN_METRICS_PORT, forwarded to the host). */
  agentHttp(nodeId: string): Promise<string> {
    for (const site of this.topology.sites) {
      const k = site.nodes.findIndex((n) => n.id === nodeId);
      if (k >= 0) return this.forwardPort(site.name, PORTS.agentMetrics + k);
    }
    return Promise.reject(new Error(`no node "${nodeId}" in the topology; nodes: ${this.nodeIds().join(', ')}`));
  }

  /** Kills a supervised process (e.g. an agent by node id); the testbed restarts it after a backoff. */
  kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    return this.supervisor.kill(name, signal);
  }

  processes(): { name: string; pid?: number; running: boolean; restarts: number }[] {
    return this.supervisor
      .list()
      .map((p) => ({ name: p.spec.name, pid: p.pid, running: p.running, restarts: p.restarts }));
  }

  /** The links as the agents measure them: RTTs from GET /nodes, bandwidth from GET /network when the orchestrator has it. */
  async summary(): Promise<string[]> {
    const lines: string[] = [];
    const nodes = (await (await this.fetch('/nodes')).json()) as NodeRecord[];
    for (const link of this.linkStates()) {
      lines.push(`link ${link.site} → ${link.uplink}: configured ${describeLink(link)}`);
    }
    for (const n of nodes) {
      const sites = Object.entries(n.rtt?.sites ?? {})
        .map(([s, r]) => `${s} ${r.ms.toFixed(1)} ms`)
        .join(', ');
      lines.push(
        `node ${n.id.padEnd(12)} ${n.site.padEnd(14)} ${n.status.padEnd(7)} RTT orchestrator ${n.rtt?.orchestratorMs?.toFixed(1) ?? '?'} ms${sites ? `; sites: ${sites}` : ''}`,
      );
    }
    const network = await this.fetch('/network').catch(() => undefined);
    if (network?.ok) {
      const view = (await network.json()) as NetworkView;
      for (const l of view.links) {
        lines.push(
          `network ${l.from} → ${l.to}: RTT ${l.rttMs?.toFixed(1) ?? '?'} ms (${l.rttSource}), bandwidth ${l.bandwidthMbps?.toFixed(1) ?? '?'} Mbit/s (${l.bandwidthSource})`,
        );
      }
    } else {
      lines.push('network: GET /network is not available from this orchestrator (no measured bandwidths to show)');
    }
    return lines;
  }

  /** Tears everything down: processes, namespaces (with their veths, qdiscs and iptables rules), cgroups, the state file. */
  stop(options: { keepLogs?: boolean } = {}): Promise<void> {
    this.stopping ??= this.teardown(options.keepLogs ?? false);
    return this.stopping;
  }

  private async teardown(keepLogs: boolean): Promise<void> {
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    for (const server of this.hostServers) server.close();
    const agents = this.nodeIds();
    const sites = startOrder(this.plan).reverse();
    await this.supervisor.stopAll([
      agents,
      this.edgeSites().map((s) => `engine-${s.site.name}`),
      ['orchestrator', 'rest-forward'],
      sites.map((s) => `nats-${s.site.name}`),
      sites.map((s) => `proxy-${s.site.name}`),
    ]);
    for (const site of this.plan.sites) await removeNamespace(site.namespace);
    for (const dir of this.cgroupDirs) removeCgroupTree(dir);
    rmSync(this.stateFile, { force: true });
    if (!keepLogs) rmSync(this.workDir, { recursive: true, force: true });
  }

  /** What is left of this testbed on the machine (empty after stop): namespaces, its processes. */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const mine = new Set(this.plan.sites.map((s) => s.namespace));
    for (const ns of await listNamespaces()) if (mine.has(ns)) left.push(`namespace ${ns}`);
    for (const p of this.supervisor.list()) if (p.running) left.push(`process ${p.spec.name} (pid ${p.pid})`);
    for (const dir of this.cgroupDirs) if (existsSync(dir)) left.push(`cgroup ${dir}`);
    return left;
  }

  /** `tc qdisc show` of a namespace (empty string when the namespace is gone). */
  qdiscs(ns: string): Promise<string> {
    return qdiscs(ns).catch(() => '');
  }

  private installSignalHandlers(): void {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
      const handler = () => {
        this.say(`\n${signal}: tearing the testbed down…`);
        void this.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on(signal, handler);
      this.signalHandlers.push([signal, handler]);
    }
  }

  private async proxyControl(site: string, request: { delayMs?: number }): Promise<{ delayMs: number }> {
    const file = path.join(this.workDir, 'sockets', `proxy-${site}.sock`);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(file);
      let text = '';
      socket.setTimeout(5_000, () => socket.destroy(new Error(`the delay proxy of ${site} did not answer`)));
      socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('\n')) {
          socket.end();
          resolve(text.trim());
        }
      });
      socket.on('error', reject);
    });
    const parsed = JSON.parse(reply) as { ok: boolean; delayMs: number; error?: string };
    if (!parsed.ok) throw new Error(`delay proxy of ${site}: ${parsed.error}`);
    return parsed;
  }

  private waitFor<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
    return waitUntil(check, timeoutMs, `${what} (logs in ${this.logDir})`, 200);
  }

  /** Waits for a line in a process's log; fails early when the process exits. */
  private async waitForLog(name: string, pattern: RegExp, timeoutMs: number): Promise<void> {
    const file = this.supervisor.logFileOf(name);
    await waitUntil(
      () => {
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        if (pattern.test(text)) return true;
        const proc = this.supervisor.get(name);
        // Exited (or restarted) before it got there: a start-up failure, not slowness.
        if (proc && (!proc.running || proc.restarts > 0)) {
          throw new Error(`${name} exited: ${text.trim().split('\n').slice(-5).join(' | ')}`);
        }
        return false;
      },
      timeoutMs,
      `${name} (${pattern.source}) — log ${file}`,
      100,
    );
  }
}

/**
 * A process inside a site's network namespace. `nsenter --net` switches only the network
 * namespace; `ip netns exec` would also remount /sys, which hides /sys/fs/cgroup from the
 * agents that enforce their nodes' limits there.
 */
export function inNamespace(ns: string, command: string, args: string[]): { command: string; args: string[] } {
  return { command: 'nsenter', args: [`--net=/run/netns/${ns}`, '--', command, ...args] };
}

function isTestbedProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return false;
  }
}

export function describeLink(link: LinkShape & { cut?: boolean }): string {
  return `${link.upMbps} Mbit/s up, ${link.downMbps} Mbit/s down, RTT ${link.rttMs} ms${
    link.lossPercent ? `, loss ${link.lossPercent} %` : ''
  }${link.cut ? ', CUT' : ''}`;
}

/** Where a site's leaf node keeps the credentials of its connection to its uplink. */
export function leafCredsFile(trustDir: string, site: string): string {
  return path.join(trustDir, `leaf-${site}.creds`);
}

/**
 * The site's nats-server config: the hub as compose/nats/hub.conf, a leaf as leaf.conf. The
 * config's folder holds `trust/` (`writeServerAuthInclude`), and `trustDir` the leaf credentials.
 */
export function natsConfig(site: SitePlan, storeDir: string, trustDir: string): string {
  const common = [
    `port: ${PORTS.nats}`,
    `host: 127.0.0.1`,
    `http: 127.0.0.1:${PORTS.natsMonitor}`,
    // Leaf connections cross emulated links that can be cut; notice a dead one in seconds, not minutes.
    `ping_interval: "5s"`,
    `ping_max: 3`,
    // Authorization on, as compose/nats/*.conf: the testbed's NATS trust, in ./trust beside the config.
    `include ./trust/server-auth.conf`,
    resolverConfig(path.join(storeDir, 'jwt')),
  ];
  if (!site.link) {
    return [
      `server_name: hub`,
      ...common,
      `jetstream { store_dir: "${storeDir}", domain: hub }`,
      `leafnodes { listen: 0.0.0.0:${PORTS.leaf} }`,
      '',
    ].join('\n');
  }
  const acceptsLeaves = site.children.length > 0;
  return [
    `server_name: leaf-${site.site.name}`,
    ...common,
    // The site's own JetStream in its own domain, as compose/nats/leaf.conf.
    `jetstream { store_dir: "${storeDir}", domain: "${site.site.name}" }`,
    `include ./trust/leaf-accounts.conf`,
    `leafnodes {`,
    ...(acceptsLeaves ? [`  listen: 0.0.0.0:${PORTS.leaf}`] : []),
    // Through the site's delay proxy, which dials the uplink's end of the veth. The site's own
    // subjects (collections, payload and checkpoint buckets, inboxes) never cross it.
    // With the site leaf's own credentials, and the system account's (account updates: revocations).
    `  remotes: [`,
    `    { url: "nats-leaf://127.0.0.1:${PORTS.proxyLeaf}", credentials: "${leafCredsFile(trustDir, site.site.name)}", account: $YB_ACCOUNT, deny_exports: ${JSON.stringify(siteLeafDenyExports(site.site.name))} }`,
    `    { url: "nats-leaf://127.0.0.1:${PORTS.proxyLeaf}", credentials: "${path.join(trustDir, NatsTrustFiles.systemCreds)}", account: $YB_SYSTEM }`,
    `  ]`,
    `  reconnect: 1`,
    `}`,
    '',
  ].join('\n');
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `YUNBIAN_TESTBED_WAIT_MS`, else 15 minutes. */
function envWaitMs(): number {
  const raw = process.env.YUNBIAN_TESTBED_WAIT_MS;
  if (raw === undefined || raw.trim() === '') return 15 * 60_000;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0)
    throw new TestbedUnavailableError(`YUNBIAN_TESTBED_WAIT_MS="${raw}" must be a whole number of milliseconds ≥ 0`);
  return ms;
}
