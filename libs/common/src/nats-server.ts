import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  leafAccountsConfig,
  NatsTrustFiles,
  processNatsTrust,
  resolverConfig,
  serverAuthConfig,
  type NatsTrust,
} from './nats-trust';

export const NATS_SERVER_INSTALL_HINT = [
  'nats-server was not found on PATH. Install it with one of:',
  '  Debian/Ubuntu:  sudo apt-get install -y nats-server',
  '  macOS:          brew install nats-server',
  '  any OS:         run the compose stack (compose/docker-compose.yml), which brings its own NATS',
  'or point Yunbian at a running server with NATS_URL=nats://host:4222 (JetStream enabled).',
].join('\n');

export function findNatsServer(): string | undefined {
  const explicit = process.env.NATS_SERVER_BIN;
  if (explicit) return explicit;
  for (const dir of (process.env.PATH ?? '')
    .split(path.delimiter)
    .concat(['/usr/sbin', '/usr/local/sbin', '/usr/bin'])) {
    const candidate = path.join(dir, 'nats-server');
    if (spawnSync('test', ['-x', candidate]).status === 0) return candidate;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

export interface NatsServerOptions {
  /** JetStream store directory; a temporary one (deleted on stop) when omitted. */
  storeDir?: string;
  port?: number;
  /** Extra nats-server arguments (a config file for leaf nodes, say). */
  args?: string[];
  /** Where the server's own log goes; discarded when omitted. */
  log?: (line: string) => void;
  /** The NATS trust the server runs with (operator mode); default: the process's (`processNatsTrust`). */
  trust?: NatsTrust;
}

/**
 * Writes `<dir>/trust/`: `server-auth.conf` (the operator part every config includes as
 * `include ./trust/server-auth.conf`), `leaf-accounts.conf` (what a leaf node's remotes bind
 * to) and the system user's credentials (a leaf node's system-account remote), for `trust`,
 * unless they are already there.
 */
export async function writeServerAuthInclude(dir: string, trust: NatsTrust): Promise<void> {
  const folder = path.join(dir, 'trust');
  if (existsSync(path.join(folder, NatsTrustFiles.serverAuth))) return;
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, NatsTrustFiles.leafAccounts), leafAccountsConfig(trust));
  copyFileSync(path.join(trust.dir, NatsTrustFiles.systemCreds), path.join(folder, NatsTrustFiles.systemCreds));
  writeFileSync(path.join(folder, NatsTrustFiles.serverAuth), await serverAuthConfig(trust));
}

/** A real nats-server with JetStream on a loopback port, for the local stack and tests. */
export class LocalNatsServer {
  private constructor(
    readonly url: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly tempDir?: string,
    private readonly configDir?: string,
    /** The trust it runs with: `issueNatsUser(server.trust, …)` makes credentials for it. */
    readonly trust?: NatsTrust,
  ) {}

  static async start(options: NatsServerOptions = {}): Promise<LocalNatsServer> {
    const bin = findNatsServer();
    if (!bin) throw new Error(NATS_SERVER_INSTALL_HINT);
    const port = options.port ?? (await freePort());
    const tempDir = options.storeDir ? undefined : mkdtempSync(path.join(os.tmpdir(), 'yunbian-nats-'));
    const storeDir = options.storeDir ?? tempDir!;
    mkdirSync(storeDir, { recursive: true });
    // Authorization is always on (operator mode): a config of the caller's (`-c file`) includes
    // the trust itself (`include ./trust/server-auth.conf`, written beside it here); otherwise a
    // config holding only that and the resolver is written to a folder of its own.
    const trust = options.trust ?? (await processNatsTrust());
    const args = [...(options.args ?? [])];
    const given = args.indexOf('-c');
    let configDir: string | undefined;
    if (given >= 0) {
      await writeServerAuthInclude(path.dirname(args[given + 1]!), trust);
    } else {
      configDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-nats-conf-'));
      await writeServerAuthInclude(configDir, trust);
      const conf = path.join(configDir, 'nats.conf');
      writeFileSync(conf, `include ./trust/server-auth.conf\n${resolverConfig(path.join(storeDir, 'jwt'))}\n`);
      args.push('-c', conf);
    }
    const child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      options.log?.(text.trimEnd());
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    // A server its owner never stopped (a test whose setup timed out half-way) must neither keep
    // this process alive nor outlive it: the child and its pipes hold no reference on the event
    // loop, and it is killed when this process exits.
    child.unref();
    (child.stdout as (NodeJS.ReadableStream & { unref?: () => void }) | null)?.unref?.();
    (child.stderr as (NodeJS.ReadableStream & { unref?: () => void }) | null)?.unref?.();
    const killOnExit = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    const server = new LocalNatsServer(`nats://127.0.0.1:${port}`, port, child, tempDir, configDir, trust);
    await waitForPort(port, 10_000, () => child.exitCode !== null).catch((err: Error) => {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not start on port ${port}: ${err.message}\n${output.join('')}`);
    });
    return server;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends `signal` (SIGKILL by default: a crash) and waits for the process to exit; the store stays. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    if (this.configDir) rmSync(this.configDir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error('the process exited');
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not open after ${timeoutMs} ms`);
}
