import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, LocalNatsServer } from './nats-server';
import { waitUntil } from './processes';

/** One server of a `LocalNatsCluster`: its fixed ports and store survive a kill and a restart. */
export interface ClusterMember {
  name: string;
  port: number;
  url: string;
  clusterPort: number;
  /** HTTP monitoring (`/varz`, `/jsz`, `/connz`). */
  monitorUrl: string;
  storeDir: string;
  /** The running process; undefined while the member is down. */
  server?: LocalNatsServer;
}

export interface NatsClusterOptions {
  /** Number of servers (default 3). */
  size?: number;
  /** Cluster name (default `yunbian`). */
  name?: string;
  /** Folder for each server's log (`<name>.log`); none when omitted. */
  logDir?: string;
}

/** What `/jsz` says about the JetStream meta group (the cluster-wide Raft group). */
interface MetaCluster {
  name?: string;
  leader?: string;
  cluster_size?: number;
}

/**
 * A real JetStream cluster on loopback: `size` nats-servers with routes to each other,
 * JetStream on, each with its own store under a temporary folder (deleted on stop) and its
 * own free ports, monitoring included. `start` resolves once the meta group has a leader
 * that every server agrees on. A member can be killed (-9) and restarted on the same ports
 * and store, as a crashed and recovered server would be.
 */
export class LocalNatsCluster {
  private constructor(
    readonly name: string,
    readonly members: ClusterMember[],
    private readonly root: string,
    private readonly logDir: string | undefined,
  ) {}

  static async start(options: NatsClusterOptions = {}): Promise<LocalNatsCluster> {
    const size = options.size ?? 3;
    const name = options.name ?? 'yunbian';
    const root = mkdtempSync(path.join(os.tmpdir(), 'yunbian-nats-cluster-'));
    const members: ClusterMember[] = [];
    for (let i = 1; i <= size; i++) {
      const [port, clusterPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
      const storeDir = path.join(root, `n${i}`);
      mkdirSync(storeDir, { recursive: true });
      members.push({
        name: `n${i}`,
        port,
        url: `nats://127.0.0.1:${port}`,
        clusterPort,
        monitorUrl: `http://127.0.0.1:${monitorPort}`,
        storeDir,
      });
    }
    const cluster = new LocalNatsCluster(name, members, root, options.logDir);
    try {
      await Promise.all(members.map((m) => cluster.launch(m)));
      await cluster.waitForMetaLeader(30_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every member's client URL, comma-separated: what NATS_URL takes. */
  get url(): string {
    return this.urls.join(',');
  }

  get urls(): string[] {
    return this.members.map((m) => m.url);
  }

  member(name: string): ClusterMember {
    const found = this.members.find((m) => m.name === name);
    if (!found) throw new Error(`no cluster member ${name} (members: ${this.members.map((m) => m.name).join(', ')})`);
    return found;
  }

  private async launch(member: ClusterMember): Promise<void> {
    const routes = this.members.map((m) => `nats-route://127.0.0.1:${m.clusterPort}`).join(',');
    const log = this.logDir
      ? (line: string) => appendFileSync(path.join(this.logDir!, `nats-${member.name}.log`), `${line}\n`)
      : undefined;
    member.server = await LocalNatsServer.start({
      port: member.port,
      storeDir: member.storeDir,
      log,
      args: [
        '-n',
        member.name,
        '--cluster_name',
        this.name,
        '--cluster',
        `nats://127.0.0.1:${member.clusterPort}`,
        '--routes',
        routes,
        '-m',
        new URL(member.monitorUrl).port,
      ],
    });
  }

  /** kill -9: the process dies at once; its store stays for `restart`. */
  async kill(name: string): Promise<void> {
    const member = this.member(name);
    await member.server?.kill('SIGKILL');
    member.server = undefined;
  }

  /** Starts a killed member again on its ports and store. */
  async restart(name: string): Promise<void> {
    const member = this.member(name);
    if (member.server) throw new Error(`cluster member ${name} is running`);
    await this.launch(member);
  }

  /** GET on a member's monitoring port, as JSON. */
  async monitoring<T>(name: string, route: string): Promise<T> {
    const response = await fetch(`${this.member(name).monitorUrl}${route}`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) throw new Error(`${route} on ${name}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** The meta group's leader, once every running member names the same one and sees the whole cluster. */
  async waitForMetaLeader(timeoutMs: number): Promise<string> {
    return waitUntil(
      async () => {
        const running = this.members.filter((m) => m.server);
        const metas = await Promise.all(
          running.map(
            async (m) => (await this.monitoring<{ meta_cluster?: MetaCluster }>(m.name, '/jsz')).meta_cluster,
          ),
        );
        const leader = metas[0]?.leader;
        const agreed = metas.every((meta) => meta?.leader === leader && meta?.cluster_size === this.members.length);
        return leader && agreed ? leader : undefined;
      },
      timeoutMs,
      `a JetStream meta leader in the ${this.members.length}-server cluster ${this.name}`,
      100,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.server?.stop()));
    for (const m of this.members) m.server = undefined;
    rmSync(this.root, { recursive: true, force: true });
  }
}
