import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { envInt, formatDuration, JsonLogger } from '@yunbian/common';
import { Executor, logListener, metricsListener, natsDispatcher, systemClock, tracingListener } from '@yunbian/engine';
import { NatsTransport, PayloadStore, RunStore } from '@yunbian/transport';
import { parseRef, RunInputValidator, type Durability, type RunRecord, type RunStatus } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { STEP_ROUTER, type StepRouter } from '../placement/step-router';
import { loadEngineConfig } from '../engine-config';
import { EngineTakeover } from './engine-takeover';
import { WorkflowRegistry } from './workflow-registry.service';

export interface StartOptions {
  version?: number;
  durability?: Durability;
  parent?: RunRecord['parent'];
  depth?: number;
  /** The node the run's input comes from… */
  originNodeId?: string;
  /** …or only its site (a trigger of that site). */
  originSite?: string;
  dataTier?: RunRecord['dataTier'];
  /** A caller-derived run id (triggers): a run with it that exists already is returned, not started again. */
  runId?: string;
}

const DAY_MS = 24 * 3_600_000;

/**
 * The orchestrator's engine: the executor of libs/engine over NATS ports — the JetStream
 * run store, the JetStream payload store, service calls over NATS request/reply, the
 * placement router, metrics, tracing and the log. It resolves workflow names to their
 * definitions and validates run input; executing runs is the executor's.
 */
@Injectable()
export class WorkflowEngine implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('engine');
  private readonly inputs = new RunInputValidator();
  private executor!: Executor;
  /**
   * How long finished runs stay readable: in memory, in the finished-runs bucket (the
   * server expires them) and, for large final outputs, in the object store.
   */
  readonly retentionMs = envInt('YUNBIAN_RUN_RETENTION_MS', 7 * DAY_MS);
  private sweepTimer?: NodeJS.Timeout;
  /** Durable runs of embedded engines that stopped go on here. */
  private takeover?: EngineTakeover;
  private markReady!: () => void;
  /** Resolves once stored runs are restored and runs can be started. */
  readonly ready = new Promise<void>((resolve) => (this.markReady = resolve));

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowRegistry) private readonly registry: WorkflowRegistry,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(STEP_ROUTER) private readonly router: StepRouter,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const store = await RunStore.open(this.transport, this.retentionMs);
    this.executor = new Executor(
      {
        store,
        payloads: await PayloadStore.open(this.transport),
        dispatcher: natsDispatcher(this.transport, async (request) => {
          const { name, range } = parseRef(request.target);
          return this.start(name, request.input, {
            version: range === '*' ? undefined : Number(range),
            durability: request.durability,
            parent: request.parent,
            depth: request.depth,
          });
        }),
        router: this.router,
        clock: systemClock,
        listeners: [metricsListener(), tracingListener(), logListener(this.logger)],
      },
      {
        unknownRunMessage: (id) =>
          `unknown run "${id}": never started, or finished more than ${formatDuration(this.retentionMs)} ago (YUNBIAN_RUN_RETENTION_MS)`,
      },
    );
    this.catalog.onInstanceLost((instance, reason) =>
      this.executor.instanceLost(
        instance.id,
        `instance ${instance.id} on node ${instance.nodeId} was lost mid-request (${reason})`,
      ),
    );
    // Runs an embedded engine executes share this store; they are that engine's (and the
    // takeover's, once it is gone), not this one's to resume.
    const { restored, running: active } = await this.executor.restore((run) => run.executedBy?.kind !== 'embedded');
    this.sweepTimer = setInterval(
      () =>
        void this.executor
          .sweep(Date.now() - this.retentionMs)
          .catch((err: Error) => this.logger.warn('run sweep failed', { error: err.message })),
      Math.max(1_000, Math.min(this.retentionMs / 2, 10 * 60_000)),
    ).unref();
    this.logger.info('runs restored', { runs: restored, resuming: active.length });
    const engine = loadEngineConfig();
    this.takeover = new EngineTakeover({
      transport: this.transport,
      store,
      executor: this.executor,
      self: { kind: engine.mode, id: engine.id, site: engine.site },
      logger: this.logger,
      lostAfterIntervals: envInt('YUNBIAN_ENGINE_LOST_AFTER_MISSED', 3),
    });
    this.takeover.start();
    this.markReady();
    // Give agents a moment to re-announce their instances before routing resumed work.
    setTimeout(() => {
      for (const run of active)
        void this.executor
          .resume(run.id)
          .catch((err: Error) => this.logger.error('run could not resume', { run_id: run.id, error: err.message }));
    }, 500).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweepTimer);
    this.takeover?.stop();
    this.executor?.stop();
  }

  // ---- public API ---------------------------------------------------------

  async start(name: string, input: unknown, options: StartOptions = {}): Promise<RunRecord> {
    return (await this.startOnce(name, input, options)).run;
  }

  /** Like `start`; with `runId`, says whether the run was started (`created`) or existed already. */
  async startOnce(
    name: string,
    input: unknown,
    options: StartOptions = {},
  ): Promise<{ run: RunRecord; created: boolean }> {
    const stored = this.registry.get(name, options.version);
    this.inputs.check(stored.definition, input);
    return this.executor.startOnce({
      id: options.runId,
      definition: stored.definition,
      input,
      durability: options.durability,
      parent: options.parent,
      depth: options.depth,
      origin: options.originNodeId
        ? { nodeId: options.originNodeId, site: this.catalog.node(options.originNodeId).site }
        : options.originSite
          ? { site: options.originSite }
          : undefined,
      dataTier: options.dataTier,
    });
  }

  get(id: string): RunRecord {
    return this.executor.get(id);
  }

  /** A run from memory, or (durable runs no longer held in memory) from the store. */
  find(id: string): Promise<RunRecord> {
    return this.executor.find(id);
  }

  list(filter: { workflow?: string; status?: RunStatus; limit?: number }): RunRecord[] {
    return this.executor.list(filter);
  }

  /** Resolves with the run once finished, or after `timeoutMs` with it as it is. */
  waitFor(id: string, timeoutMs: number): Promise<RunRecord> {
    return this.executor.waitFor(id, timeoutMs);
  }

  cancel(id: string, reason?: string): Promise<RunRecord> {
    return this.executor.cancel(id, reason);
  }

  retry(id: string): Promise<RunRecord> {
    return this.executor.retry(id);
  }
}
