import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { JsonLogger } from '@yunbian/common';
import { WorkerEnv, type AgentToWorker, type StartInstanceCommand, type WorkerToAgent } from '@yunbian/contracts';

export const DEFAULT_SHARED_WORKER_ENTRY = path.resolve(__dirname, '../../worker/src/shared-worker.js');

/**
 * What the supervisor needs of a worker: a forked process, or one instance inside the
 * shared worker, which looks the same from outside (messages, exit, drain, kill).
 */
export interface WorkerProcess {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly connected: boolean;
  send(message: AgentToWorker): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', listener: (message: WorkerToAgent) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  /** Why it went away, when its exit code and signal alone would mislead (a shared worker crash). */
  readonly exitReason?: string;
}

/** One instance in the shared worker, seen by the supervisor as if it were a process. */
export class SharedInstance extends EventEmitter implements WorkerProcess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  exitReason?: string;

  constructor(
    private readonly host: SharedWorkerHost,
    readonly instanceId: string,
    readonly worker: ChildProcess,
  ) {
    super();
  }

  get pid(): number | undefined {
    return this.worker.pid;
  }

  get connected(): boolean {
    return this.exitCode === null && this.signalCode === null && this.worker.connected;
  }

  /** `drain` drains this instance only; the process keeps serving the others. */
  send(message: AgentToWorker): boolean {
    if (message.type !== 'drain' || !this.connected) return false;
    return this.host.post(this.worker, { type: 'remove', instanceId: this.instanceId, timeoutMs: message.timeoutMs });
  }

  /**
   * Ends this instance at once (the supervisor's last resort after a drain deadline): the
   * worker is told to let it go, and the supervisor sees it gone. Other instances stay.
   */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    this.host.post(this.worker, { type: 'remove', instanceId: this.instanceId, timeoutMs: 0 });
    this.exited(null, signal);
    return true;
  }

  /** @internal */
  exited(code: number | null, signal: NodeJS.Signals | null, reason?: string): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.exitReason = reason;
    this.host.forget(this);
    this.emit('exit', code, signal);
  }
}

export interface SharedWorkerOptions {
  nodeId: string;
  natsUrl: string;
  logger: JsonLogger;
  entry?: string;
  /** Wraps the environment of the forked process (the supervisor's env, with its own additions). */
  env?: NodeJS.ProcessEnv;
  /** Node.js flags of the shared process. */
  execArgv?: string[];
  /** Called with the shared process right after it is forked (e.g. to place it in a cgroup). */
  onFork?: (child: ChildProcess) => void;
}

/**
 * The node's shared worker process: forked when the first shared instance starts, stopped
 * when the last one is gone. Instances are added and removed over IPC; a crash of the
 * process ends every instance in it, each with the reason, and the supervisor restarts
 * them (into a new shared process) with its usual backoff.
 */
export class SharedWorkerHost {
  private child?: ChildProcess;
  private readonly instances = new Map<string, SharedInstance>();
  /** The shared process's last metrics report (prom-client JSON): one per process, not per instance. */
  metrics?: unknown[];

  constructor(private readonly options: SharedWorkerOptions) {}

  /** The shared process's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Instances in the current shared process. */
  get size(): number {
    return [...this.instances.values()].filter((i) => i.worker === this.child).length;
  }

  /** Starts `command` in the shared worker (forking it first if none runs). */
  attach(command: StartInstanceCommand, file?: string): SharedInstance {
    const worker = this.child ?? this.fork();
    const instance = new SharedInstance(this, command.instanceId, worker);
    this.instances.set(command.instanceId, instance);
    this.post(worker, { type: 'add', command, file });
    return instance;
  }

  /** @internal */
  post(worker: ChildProcess, message: AgentToWorker): boolean {
    if (!worker.connected) return false;
    try {
      return worker.send(message);
    } catch {
      return false;
    }
  }

  /** @internal Called once an instance is gone; the process stops when it hosts nothing. */
  forget(instance: SharedInstance): void {
    if (this.instances.get(instance.instanceId) === instance) this.instances.delete(instance.instanceId);
    const worker = instance.worker;
    if (worker === this.child && this.size === 0) {
      // Nothing left to host: give the memory back. A later shared instance forks anew.
      this.child = undefined;
      this.metrics = undefined;
      this.post(worker, { type: 'drain', timeoutMs: 1_000 });
      setTimeout(() => worker.exitCode === null && worker.signalCode === null && worker.kill('SIGKILL'), 5_000).unref();
    }
  }

  private fork(): ChildProcess {
    const child = fork(this.options.entry ?? DEFAULT_SHARED_WORKER_ENTRY, [], {
      env: {
        ...(this.options.env ?? process.env),
        NATS_URL: this.options.natsUrl,
        [WorkerEnv.nodeId]: this.options.nodeId,
        [WorkerEnv.mode]: 'shared',
      },
      execArgv: this.options.execArgv ?? process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.options.onFork?.(child);
    child.on('message', (message: WorkerToAgent) => this.route(child, message));
    child.on('error', (err) => this.options.logger.warn('shared worker process error', { error: err.message }));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    this.options.logger.info('shared worker started', { pid: child.pid });
    return child;
  }

  private route(child: ChildProcess, message: WorkerToAgent): void {
    if (message.type === 'metrics') {
      if (child === this.child) this.metrics = message.metrics;
      return;
    }
    const instance = message.instanceId ? this.instances.get(message.instanceId) : undefined;
    if (!instance || instance.worker !== child) return;
    if (message.type === 'removed') instance.exited(message.clean ? 0 : 1, null);
    else instance.emit('message', message);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child === this.child) {
      this.child = undefined;
      this.metrics = undefined;
    }
    const hit = [...this.instances.values()].filter((i) => i.worker === child);
    if (hit.length === 0) return;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const reason = `the shared worker (pid ${child.pid}) ${how}, ending all ${hit.length} instances in it`;
    this.options.logger.error('shared worker stopped unexpectedly', {
      pid: child.pid,
      how,
      instances: hit.map((i) => i.instanceId),
    });
    for (const instance of hit) instance.exited(code, signal, reason);
  }

  /** Stops the shared process (instances should have been drained through the supervisor first). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (!this.post(child, { type: 'drain', timeoutMs: 1_000 })) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  }
}
