import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { backoffDelay, type JsonLogger } from '@yunbian/common';
import {
  serviceRef,
  Subjects,
  WorkerEnv,
  type AgentToWorker,
  type InstanceReport,
  type ServiceIsolation,
  type StartInstanceCommand,
  type WorkerToAgent,
} from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { SharedWorkerHost, type WorkerProcess } from './shared-worker-host';
import type { ResourceEnforcer } from './cgroups';
import { effectiveDrainTimeoutMs } from './drain-timeout';

/** The cgroup of the node's shared worker process, beside the per-instance groups. */
const SHARED_WORKER_GROUP = 'shared-worker';

export const DEFAULT_WORKER_ENTRY = path.resolve(__dirname, '../../worker/src/main.js');

export interface SupervisorOptions {
  nodeId: string;
  natsUrl: string;
  /** The inbox prefix of the node's site, handed to its workers (`WorkerEnv.inboxPrefix`). */
  inboxPrefix?: string;
  workerEntry?: string;
  logger: JsonLogger;
  /** Called on every status change, and with removed=true once an instance is gone. */
  onChange: (report: InstanceReport, removed: boolean) => void;
  /** A worker that stays up this long has its restart backoff reset. */
  stableAfterMs?: number;
  /** The node's service library by `name@version`: each service's file and isolation. */
  library?: Map<string, { file: string; isolation?: ServiceIsolation }>;
  /** false: every instance gets its own process whatever its service declares. Default true. */
  sharedWorker?: boolean;
  sharedWorkerEntry?: string;
  /** Node.js flags for every worker process (the young-generation size, see the agent's config). */
  workerExecArgv?: string[];
  /** Confines each worker to its instance's resources (cgroups); none: workers run unconfined. */
  limits?: ResourceEnforcer;
}

interface Managed {
  command: StartInstanceCommand;
  /** The worker's last metrics report (prom-client JSON). */
  metrics?: unknown[];
  report: InstanceReport;
  child?: WorkerProcess;
  attempt: number;
  stopping?: Promise<void>;
  restartTimer?: NodeJS.Timeout;
  stableTimer?: NodeJS.Timeout;
}

/**
 * Starts, watches and stops the worker processes of one node. A worker that crashes is
 * restarted with exponential backoff (0.5 s, 1 s, 2 s … 30 s); the backoff resets once a
 * worker has stayed up for a while.
 */
export class InstanceSupervisor {
  private readonly instances = new Map<string, Managed>();
  /** Hosts the instances of `isolation: 'shared'` services in one process. */
  readonly shared?: SharedWorkerHost;

  constructor(private readonly options: SupervisorOptions) {
    if (options.sharedWorker !== false) {
      this.shared = new SharedWorkerHost({
        nodeId: options.nodeId,
        natsUrl: options.natsUrl,
        ...(options.inboxPrefix ? { env: { ...process.env, [WorkerEnv.inboxPrefix]: options.inboxPrefix } } : {}),
        logger: options.logger,
        entry: options.sharedWorkerEntry,
        execArgv: options.workerExecArgv,
        // One group for the shared process: its instances cannot be confined one by one.
        onFork: (child) => {
          if (child.pid !== undefined) options.limits?.attach(SHARED_WORKER_GROUP, child.pid, undefined);
        },
      });
    }
  }

  reports(): InstanceReport[] {
    // An instance in the shared worker is given an equal share of that process's memory.
    const sharedMb = rssMb(this.shared?.pid);
    const sharedCount = this.shared?.size ?? 0;
    return [...this.instances.values()].map((m) => ({
      ...m.report,
      memoryMb:
        m.report.isolation === 'shared'
          ? sharedMb !== undefined && sharedCount > 0 && m.child?.pid === this.shared?.pid
            ? Math.round(sharedMb / sharedCount)
            : undefined
          : rssMb(m.child?.pid),
    }));
  }

  /** Resident memory of the shared worker process in MiB, while one runs. */
  sharedWorkerMemoryMb(): number | undefined {
    return rssMb(this.shared?.pid);
  }

  /** Every running worker's last metrics report, for aggregation (the shared worker's once). */
  workerMetrics(): unknown[][] {
    const own = [...this.instances.values()].flatMap((m) => (m.metrics ? [m.metrics] : []));
    return this.shared?.metrics ? [...own, this.shared.metrics] : own;
  }

  get(instanceId: string): InstanceReport | undefined {
    return this.instances.get(instanceId)?.report;
  }

  start(command: StartInstanceCommand): InstanceReport {
    if (this.instances.has(command.instanceId)) {
      throw new YunbianError(
        'CONFLICT',
        `instance ${command.instanceId} already exists on node ${this.options.nodeId}`,
      );
    }
    const managed: Managed = {
      command,
      attempt: 0,
      report: {
        id: command.instanceId,
        service: command.service,
        version: command.version,
        status: 'starting',
        subject: Subjects.instance(command.instanceId),
        inFlight: 0,
        queued: 0,
        restarts: 0,
        startedAt: new Date().toISOString(),
        resources: command.resources,
        ...(command.owner ? { owner: command.owner } : {}),
      },
    };
    this.instances.set(command.instanceId, managed);
    this.spawn(managed);
    return { ...managed.report };
  }

  /** The library changed (services added, rebuilt or removed): instances started from now on use it. */
  setLibrary(library: Map<string, { file: string; isolation?: ServiceIsolation }>): void {
    this.options.library = library;
  }

  /** Where an instance of this service runs: `shared` only when it declares so and sharing is on. */
  private isolationOf(command: StartInstanceCommand): ServiceIsolation {
    const declared = this.options.library?.get(serviceRef({ name: command.service, version: command.version }));
    return this.shared && declared?.isolation === 'shared' ? 'shared' : 'process';
  }

  private spawn(managed: Managed): void {
    const { command } = managed;
    const file = this.options.library?.get(serviceRef({ name: command.service, version: command.version }))?.file;
    managed.report.isolation = this.isolationOf(command);
    const child: WorkerProcess =
      managed.report.isolation === 'shared'
        ? this.shared!.attach(command, file)
        : fork(this.options.workerEntry ?? DEFAULT_WORKER_ENTRY, [], {
            env: {
              ...process.env,
              NATS_URL: this.options.natsUrl,
              ...(this.options.inboxPrefix ? { [WorkerEnv.inboxPrefix]: this.options.inboxPrefix } : {}),
              [WorkerEnv.instanceId]: command.instanceId,
              [WorkerEnv.service]: command.service,
              [WorkerEnv.version]: command.version,
              [WorkerEnv.serviceFile]: file ?? '',
              [WorkerEnv.nodeId]: this.options.nodeId,
              [WorkerEnv.config]: JSON.stringify(command.config ?? {}),
            },
            execArgv: this.options.workerExecArgv ?? process.execArgv,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
    // Into its cgroup at once, in the tick fork returned: the worker is still in Node's own
    // start-up and has loaded none of its service, so all it does later is counted there.
    // (The shared worker process is confined as a whole when it is forked.)
    if (managed.report.isolation === 'process' && child.pid !== undefined) {
      this.options.limits?.attach(command.instanceId, child.pid, command.resources);
    }
    managed.child = child;
    managed.report.pid = child.pid;
    managed.report.inFlight = 0;
    managed.report.queued = 0;
    this.update(managed, 'starting');

    child.on('message', (message: WorkerToAgent) => {
      if (message.type === 'ready') {
        // A restarted worker loads its model again: the report says what it serves now.
        if (message.model) managed.report.model = message.model;
        else delete managed.report.model;
        this.update(managed, 'ready');
        managed.stableTimer = setTimeout(() => (managed.attempt = 0), this.options.stableAfterMs ?? 10_000);
      } else if (message.type === 'load') {
        managed.report.inFlight = message.inFlight;
        managed.report.queued = message.queued;
        managed.report.latencyMs = message.latencyMs;
      } else if (message.type === 'model') {
        if (message.model) managed.report.model = message.model;
        else delete managed.report.model;
        // Announced at once (not at the next heartbeat): routing by model must follow a swap.
        this.update(managed, managed.report.status);
      } else if (message.type === 'metrics') {
        managed.metrics = message.metrics;
      } else if (message.type === 'failed') {
        managed.report.lastError = message.error;
      }
    });
    child.on('error', (err) => {
      managed.report.lastError = `worker process error: ${err.message}`;
    });
    child.once('exit', (code, signal) => this.onExit(managed, child, code, signal));
  }

  private onExit(managed: Managed, child: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(managed.stableTimer);
    if (managed.child !== child) return;
    managed.child = undefined;
    if (managed.stopping) return;
    const how = child.exitReason ?? (signal ? `killed by ${signal}` : `exited with code ${code}`);
    const delay = backoffDelay(managed.attempt++);
    const memoryKill =
      managed.report.isolation === 'process' ? this.options.limits?.memoryKill(managed.report.id, signal) : undefined;
    managed.report.lastError =
      child.exitReason ??
      memoryKill ??
      (managed.report.lastError && code === 1 ? managed.report.lastError : `worker ${how}`);
    managed.report.restarts++;
    this.options.logger.warn('worker stopped unexpectedly; restarting', {
      instance_id: managed.report.id,
      how,
      error: memoryKill,
      restart_in_ms: delay,
      restarts: managed.report.restarts,
    });
    this.update(managed, 'failed');
    managed.restartTimer = setTimeout(() => {
      managed.restartTimer = undefined;
      if (!managed.stopping) this.spawn(managed);
    }, delay);
  }

  private update(managed: Managed, status: InstanceReport['status']): void {
    managed.report.status = status;
    this.options.onChange({ ...managed.report }, false);
  }

  /** Drains the instance (running requests finish), then stops it; SIGKILL after the deadline. */
  stop(instanceId: string, requestedDrainMs?: number): Promise<void> {
    // Clamped: a stop from the bus may carry any value, and past 2^31-1 ms the kill timer fires at once.
    const drainTimeoutMs = effectiveDrainTimeoutMs(requestedDrainMs);
    const managed = this.instances.get(instanceId);
    if (!managed) {
      return Promise.reject(
        new YunbianError('NOT_FOUND', `instance ${instanceId} is not running on node ${this.options.nodeId}`),
      );
    }
    managed.stopping ??= this.drainAndStop(managed, drainTimeoutMs);
    return managed.stopping;
  }

  private async drainAndStop(managed: Managed, drainTimeoutMs: number): Promise<void> {
    clearTimeout(managed.restartTimer);
    clearTimeout(managed.stableTimer);
    this.update(managed, 'draining');
    const child = managed.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'drain', timeoutMs: drainTimeoutMs } satisfies AgentToWorker);
      else child.kill('SIGTERM');
      // The worker has drainTimeoutMs to finish its requests, plus a moment to close.
      const killer = setTimeout(() => child.kill('SIGKILL'), drainTimeoutMs + 2_000);
      await exited;
      clearTimeout(killer);
    }
    this.instances.delete(managed.report.id);
    this.options.limits?.release(managed.report.id);
    this.options.onChange({ ...managed.report }, true);
  }

  async stopAll(drainTimeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.instances.keys()].map((id) => this.stop(id, drainTimeoutMs).catch(() => undefined)));
    await this.shared?.stop();
  }
}

/** Resident memory of a process in MiB, from /proc (undefined where /proc is absent). */
function rssMb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : undefined;
  } catch {
    return undefined;
  }
}
