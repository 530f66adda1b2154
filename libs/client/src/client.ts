import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import { CatalogRouter, CatalogView, followCatalog } from '@yunbian/catalog';
import { ModelAliasStore } from '@yunbian/models';
import { DEFAULT_NATS_URL, JsonLogger } from '@yunbian/common';
import {
  assertToken,
  RUN_CONTROL_ACTIONS,
  Subjects,
  YunbianError,
  type EngineAnnouncement,
  type EngineLeaving,
  type RunControlCommand,
} from '@yunbian/contracts';
import {
  Executor,
  logListener,
  metricsListener,
  natsDispatcher,
  systemClock,
  tracingListener,
  type RunListener,
  type RunStore as RunStorePort,
  type WorkflowStart,
} from '@yunbian/engine';
import { NatsTracePropagator } from '@yunbian/observability';
import { FINISHED_RUN_BUCKET, NatsTransport, PayloadStore, RunStore } from '@yunbian/transport';
import {
  checkDefinition,
  isTerminalRun,
  parseRef,
  RunInputValidator,
  type Durability,
  type RunEngine,
  type RunRecord,
  type StoredWorkflow,
  type WorkflowDefinition,
} from '@yunbian/workflow';
import { parseSource, subWorkflowNames, type WorkflowSource } from './definitions';
import { RegistryView } from './registry-view';

/** The orchestrator's default run retention (YUNBIAN_RUN_RETENTION_MS), used when no run store exists yet. */
const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;

export interface ClientOptions {
  /** NATS server(s); default NATS_URL, else nats://127.0.0.1:4222. Ignored when `transport` is given. */
  servers?: string | string[];
  /** An open connection to use instead (close() leaves it open). */
  transport?: NatsTransport;
  /**
   * This engine's id in its announcements and in the `executedBy` of its runs; unique per
   * process lifetime (a restarted process is another engine: the orchestrator takes over the
   * durable runs the previous one left). Default `embedded-<host>-<pid>-<random>`.
   */
  id?: string;
  /** The site this process runs at, when it runs at one (in its announcements). */
  site?: string;
  /** How often the engine announces itself (ms, default 2,000); the orchestrator takes its durable runs over after a few silent intervals. */
  heartbeatMs?: number;
  /** How long `connect` waits for the nodes to announce themselves (ms, default 2,000). */
  readyTimeoutMs?: number;
  /** Finished runs kept in memory for `get` (default 1,000; durable ones stay readable from the run store). */
  finishedRunsKept?: number;
  /** Also count runs, steps and placements in the process's Prometheus registry (default false). */
  metrics?: boolean;
  /** Where problems no caller awaits are logged (default: a JSON logger, component `yunbian-client`). */
  logger?: JsonLogger;
}

export interface RunOptions {
  /** A stored workflow's version (the latest when omitted); only with a name. */
  version?: number;
  /** `none`: in this process's memory only; `durable`: in the JetStream run store (default: the definition's, else durable). */
  durability?: Durability;
  /** The node the run's input comes from (placement keeps private data near it). */
  originNodeId?: string;
  dataTier?: RunRecord['dataTier'];
}

export interface WaitOptions {
  /** Give up waiting after this long (ms) and resolve with the run as it is; default: until it ends. */
  timeoutMs?: number;
}

/**
 * Runs workflows in the caller's process: the engine of the orchestrator (`Executor` of
 * libs/engine, the same validation, placement, retries, errors and traces) over a catalogue
 * view built from the nodes' own announcements and heartbeats, dispatching straight to
 * instances over NATS. Ephemeral runs (`durability: 'none'`) need nothing else; durable
 * runs are stored in the orchestrator's JetStream run store, so GET /runs/{id} shows them,
 * and when this process dies the orchestrator takes them over.
 *
 * ```ts
 * const yb = await YunbianClient.connect({ servers: 'nats://127.0.0.1:4222' });
 * const run = await yb.run('edge-report', input, { durability: 'none' });
 * await yb.close();
 * ```
 */
export class YunbianClient {
  private readonly view: CatalogView;
  private readonly router: CatalogRouter;
  private readonly executor: Executor;
  private readonly inputs = new RunInputValidator();
  private readonly checked = new Map<string, WorkflowDefinition & { version: number }>();
  private readonly startedAt = new Date().toISOString();
  private readonly engine: RunEngine;
  /**
   * Callers waiting for a run, rejected when the client closes first. A set, not a race with
   * one "closing" promise: every race adds a reaction to the losing promise, and one that
   * never settles would keep a reaction per run ever waited for until the client closes.
   */
  private readonly waiting = new Set<(err: Error) => void>();
  private subscriptions: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private runStore?: Promise<RunStore>;
  private closed = false;
  /** Model aliases for steps naming `name@alias`, followed from the registry's bucket. */
  private aliases?: ModelAliasStore;

  private constructor(
    private readonly transport: NatsTransport,
    private readonly ownsTransport: boolean,
    private readonly registry: RegistryView,
    payloads: PayloadStore,
    private readonly options: ClientOptions & { id: string; heartbeatMs: number },
  ) {
    this.engine = {
      kind: 'embedded',
      id: options.id,
      ...(options.site ? { site: options.site } : {}),
      reason: "started through @yunbian/client: executes in the caller's process",
    };
    this.view = new CatalogView();
    this.router = new CatalogRouter(this.view);
    const listeners: RunListener[] = [
      tracingListener(),
      logListener(options.logger ?? new JsonLogger('yunbian-client')),
      ...(options.metrics ? [metricsListener()] : []),
    ];
    this.executor = new Executor(
      {
        store: this.lazyRunStore(),
        payloads,
        dispatcher: natsDispatcher(transport, (request) => this.startChild(request)),
        router: this.router,
        // Timers that do not hold the process open: the NATS connection does while the client is
        // open, and once it is closed a pending wait must not keep a caller's process alive.
        clock: { ...systemClock, setTimer: (fn, delayMs) => setTimeout(fn, delayMs).unref() },
        listeners,
      },
      {
        finishedRunsKept: options.finishedRunsKept ?? 1_000,
        unknownRunMessage: (id) =>
          `unknown run "${id}": not started by this engine (${options.id}), and not in the run store`,
      },
    );
    this.view.onInstanceLost((instance, reason) =>
      this.executor.instanceLost(
        instance.id,
        `instance ${instance.id} on node ${instance.nodeId} was lost mid-request (${reason})`,
      ),
    );
    // While NATS is away no node is judged by its silence, nor an attempt by its missing reply;
    // once it is back, what is out is asked again (same attempt, same key).
    transport.onConnection((state) => {
      if (state === 'lost') {
        this.executor.disconnected();
        this.view.connectionLost();
      } else {
        this.view.connectionBack();
        this.executor.reconnected();
      }
    });
  }

  /** Connects, fills the catalogue view (nodes are asked to announce themselves) and starts announcing this engine. */
  static async connect(options: ClientOptions = {}): Promise<YunbianClient> {
    const id =
      options.id ??
      `embedded-${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`;
    assertToken(id, 'engine id');
    const heartbeatMs = options.heartbeatMs ?? 2_000;
    if (!(heartbeatMs >= 50))
      throw new YunbianError('BAD_REQUEST', `heartbeatMs must be at least 50 ms (got ${heartbeatMs})`);
    const transport =
      options.transport ??
      (await NatsTransport.connect({
        servers: options.servers ?? process.env.NATS_URL ?? DEFAULT_NATS_URL,
        name: `yunbian client ${id}`,
        propagator: new NatsTracePropagator(),
      }));
    try {
      const [registry, payloads, aliases] = await Promise.all([
        RegistryView.open(transport),
        PayloadStore.open(transport),
        ModelAliasStore.open(transport),
      ]);
      const client = new YunbianClient(transport, !options.transport, registry, payloads, {
        ...options,
        id,
        heartbeatMs,
      });
      client.aliases = aliases;
      client.router.useModelSources({ aliases });
      await client.begin(options.readyTimeoutMs ?? 2_000);
      return client;
    } catch (err) {
      if (!options.transport) await transport.close();
      throw err;
    }
  }

  /** This engine's id (the `executedBy.id` of its runs). */
  get id(): string {
    return this.options.id;
  }

  /** The catalogue as this engine sees it (nodes, services, instances). */
  get catalog(): CatalogView {
    return this.view;
  }

  private async begin(readyTimeoutMs: number): Promise<void> {
    this.subscriptions = await followCatalog(this.transport, this.view);
    // Cancel and retry sent to the orchestrator for this engine's runs are forwarded here.
    this.subscriptions.push(
      this.transport.serve<RunControlCommand, { record: RunRecord }>(
        Subjects.engineRunControl(this.options.id),
        async (command) => ({ record: await this.control(command) }),
      ),
    );
    // This view judges silent nodes by itself (the orchestrator's judgement is not published).
    this.timers.push(setInterval(() => this.view.sweep(), 250).unref());
    this.announce();
    this.timers.push(setInterval(() => this.announce(), this.options.heartbeatMs).unref());
    await settled(this.view, readyTimeoutMs);
  }

  private announce(): void {
    const announcement: EngineAnnouncement = {
      id: this.options.id,
      kind: 'embedded',
      ...(this.options.site ? { site: this.options.site } : {}),
      startedAt: this.startedAt,
      at: new Date().toISOString(),
      running: this.executor.list({ status: 'running', limit: 1_000 }).length,
      intervalMs: this.options.heartbeatMs,
    };
    this.transport.publish(Subjects.engineHeartbeat(this.options.id), announcement);
  }

  // ---- runs -----------------------------------------------------------------

  /** Runs a workflow to its end and resolves with its record (succeeded, failed or cancelled). */
  async run(workflow: WorkflowSource, input: unknown, options: RunOptions & WaitOptions = {}): Promise<RunRecord> {
    const id = await this.start(workflow, input, options);
    return this.waitFor(id, options);
  }

  /** Starts a run and resolves with its id once it is accepted (a durable one: stored). */
  async start(workflow: WorkflowSource, input: unknown, options: RunOptions = {}): Promise<string> {
    this.assertOpen();
    const definition = await this.definition(workflow, options.version);
    const value = input ?? {};
    this.inputs.check(definition, value);
    const run = await this.executor.start({
      definition,
      input: value,
      durability: options.durability,
      origin: options.originNodeId
        ? { nodeId: options.originNodeId, site: this.view.node(options.originNodeId).site }
        : undefined,
      dataTier: options.dataTier,
      executedBy: this.engine,
    });
    return run.id;
  }

  /** Resolves with the run once it ended (or after `timeoutMs` as it is); rejects if the client closes first. */
  async waitFor(id: string, options: WaitOptions = {}): Promise<RunRecord> {
    this.assertOpen();
    const run = await this.executor.find(id);
    if (isTerminalRun(run.status) || !this.holds(id)) return run;
    return new Promise<RunRecord>((resolve, reject) => {
      this.waiting.add(reject);
      const done = () => this.waiting.delete(reject);
      this.executor.waitFor(id, options.timeoutMs ?? Infinity).then(
        (finished) => {
          done();
          resolve(finished);
        },
        (err: Error) => {
          done();
          reject(err);
        },
      );
    });
  }

  /** A run this engine holds, or (a durable one) the run store's record. */
  get(id: string): Promise<RunRecord> {
    return this.executor.find(id);
  }

  cancel(id: string, reason?: string): Promise<RunRecord> {
    return this.executor.cancel(id, reason);
  }

  /** Resumes a failed or cancelled run this engine holds from its failed steps. */
  retry(id: string): Promise<RunRecord> {
    return this.executor.retry(id);
  }

  private control(command: RunControlCommand): Promise<RunRecord> {
    if (!command || !RUN_CONTROL_ACTIONS.includes(command.action) || typeof command.runId !== 'string')
      throw new YunbianError(
        'BAD_REQUEST',
        `expected { "action": ${RUN_CONTROL_ACTIONS.join(' | ')}, "runId": "<id>" }`,
      );
    if (!this.holds(command.runId))
      throw new YunbianError('NOT_FOUND', `run ${command.runId} is not held by embedded engine ${this.options.id}`);
    return command.action === 'cancel' ? this.cancel(command.runId, command.reason) : this.retry(command.runId);
  }

  private holds(id: string): boolean {
    try {
      this.executor.get(id);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops the engine and leaves: runs still going stop here — their waiters are rejected;
   * durable ones are taken over by the orchestrator, ephemeral ones are lost.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.executor.stop();
    const stopped = new YunbianError(
      'UNAVAILABLE',
      `the client (engine ${this.options.id}) closed while the run was going; a durable run goes on in the orchestrator (GET /runs/{id})`,
    );
    for (const reject of this.waiting) reject(stopped);
    this.waiting.clear();
    for (const s of this.subscriptions) s.unsubscribe();
    this.registry.close();
    this.aliases?.close();
    const leaving: EngineLeaving = { id: this.options.id, at: new Date().toISOString() };
    this.transport.publish(Subjects.engineLeaving(this.options.id), leaving);
    if (this.ownsTransport) await this.transport.drain();
    else await this.transport.flush();
  }

  private assertOpen(): void {
    if (this.closed) throw new YunbianError('UNAVAILABLE', `the client (engine ${this.options.id}) is closed`);
  }

  // ---- definitions ------------------------------------------------------------

  /** A stored workflow by name, or a definition checked as POST /workflows checks it (same errors). */
  private async definition(
    workflow: WorkflowSource,
    version: number | undefined,
  ): Promise<WorkflowDefinition & { version: number }> {
    const source = parseSource(workflow);
    if (source.kind === 'name') return (await this.registry.get(source.name, version)).definition;
    if (version !== undefined)
      throw new YunbianError(
        'BAD_REQUEST',
        'version applies to a stored workflow named by its name, not to a definition',
      );
    const key = JSON.stringify(source.raw);
    const known = this.checked.get(key);
    if (known) return known;
    const called = new Map<string, StoredWorkflow[]>();
    for (const name of subWorkflowNames(source.raw)) called.set(name, await this.registry.versions(name));
    const definition = checkDefinition(source.raw, {
      serviceVersions: (name) => this.view.serviceVersions(name).map((s) => s.version),
      workflowVersions: (name) => (called.get(name) ?? []).map((w) => w.version),
    });
    // A definition given here is not stored: its runs say version 0 unless it names one.
    const ready = { ...definition, version: definition.version ?? 0 };
    if (this.checked.size >= 100) this.checked.clear();
    this.checked.set(key, ready);
    return ready;
  }

  /** A sub-workflow step: the stored workflow it names runs in this engine too, as a child of its run. */
  private async startChild(request: WorkflowStart): Promise<{ id: string }> {
    const { name, range } = parseRef(request.target);
    const stored = await this.registry.get(name, range === '*' ? undefined : Number(range));
    this.inputs.check(stored.definition, request.input);
    return this.executor.start({
      definition: stored.definition,
      input: request.input,
      durability: request.durability,
      parent: request.parent,
      depth: request.depth,
      executedBy: this.engine,
    });
  }

  // ---- the run store, opened for the first durable run --------------------------

  private lazyRunStore(): RunStorePort {
    const store = () => (this.runStore ??= openRunStore(this.transport));
    return {
      save: async (run) => (await store()).save(run),
      load: async (id) => (await store()).load(id),
      loadAll: async () => (await store()).loadAll(),
      compact: async () => (await store()).compact(),
    };
  }
}

/**
 * The orchestrator's run store, with the retention its finished-runs bucket already has
 * (opening it with another would change the orchestrator's).
 */
async function openRunStore(transport: NatsTransport): Promise<RunStore> {
  let retentionMs = DEFAULT_RETENTION_MS;
  try {
    const jsm = await jetstreamManager(transport.connection);
    const maxAge = (await jsm.streams.info(`KV_${FINISHED_RUN_BUCKET}`)).config.max_age;
    if (maxAge > 0) retentionMs = maxAge / 1_000_000;
  } catch {
    // No run store yet: this engine creates it with the orchestrator's default retention.
  }
  return RunStore.open(transport, retentionMs);
}

/** Resolves once nodes have announced themselves and none has for a moment, or after `timeoutMs`. */
async function settled(view: CatalogView, timeoutMs: number): Promise<void> {
  const quietMs = 100;
  const deadline = Date.now() + timeoutMs;
  let count = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const now = view.listInstances().length + view.listNodes().length;
    if (now !== count) {
      count = now;
      since = Date.now();
    } else if (count > 0 && Date.now() - since >= quietMs) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
