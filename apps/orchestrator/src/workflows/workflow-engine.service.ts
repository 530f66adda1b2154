import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { envInt, formatDuration, JsonLogger } from '@yunbian/common';
import { Subjects, type RunEngineChoice, type RunWorkflowCommand } from '@yunbian/contracts';
import { Executor, logListener, metricsListener, natsDispatcher, systemClock, tracingListener } from '@yunbian/engine';
import { chooseExecutionSite, type ExecutionStep } from '@yunbian/placement';
import { DEFAULT_IDEMPOTENCY_WINDOW_MS } from '@yunbian/service-sdk';
import { NatsTransport, OutcomeStore, PayloadStore, RunStore, YunbianError } from '@yunbian/transport';
import {
  parseRef,
  RunInputValidator,
  type Durability,
  type RunEngine,
  type RunRecord,
  type RunStatus,
  type WorkflowDefinition,
} from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { SplitStepRunner } from '../models/split-step.runner';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { STEP_ROUTER, type StepRouter } from '../placement/step-router';
import { executedByReplica, executingReplicas } from '../replicas/replica-rules';
import { ReplicaService } from '../replicas/replicas.service';
import { EngineTakeover } from './engine-takeover';
import { EnginesService } from './engines.service';
import { SiteFactPublisher } from './site-facts/site-fact-publisher';
import { routeRun, type RunRoute } from './run-routing';
import { siteUplinkState } from './uplink';
import { HardExampleCollector } from './hard-example-collector';
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
  /** Why the run executes on this engine (its `executedBy.reason`). */
  reason?: string;
}

/** A top-level start (REST or NATS): it may execute here or be forwarded to the engine where it belongs. */
export interface RunStartOptions extends StartOptions {
  /** Which engine executes the run (`auto` by default; see `RunWorkflowCommand.engine`). */
  engine?: RunEngineChoice;
  /** How long the caller waits for the run to end (0: reply once it is started). */
  waitMs?: number;
  /** Set on a start another engine forwarded here: execute it here, for that reason. */
  forwarded?: { by: string; reason: string };
}

/** A forward's deadline beyond the time the caller waits for the run. */
const FORWARD_MARGIN_MS = 10_000;

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
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(ReplicaService) private readonly replicas: ReplicaService,
    @Inject(SiteFactPublisher) private readonly siteFacts: SiteFactPublisher,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {}

  /** The split step runner: the cloud orchestrator's (its registry), a site engine's (the cloud's registry through the leaf). */
  private splitRunner(): SplitStepRunner | undefined {
    try {
      return this.moduleRef.get(SplitStepRunner, { strict: false });
    } catch {
      return undefined;
    }
  }

  /** This engine, as run records name it. */
  get identity(): Omit<RunEngine, 'reason'> {
    return { kind: this.config.mode, id: this.config.id, site: this.config.site };
  }

  async onApplicationBootstrap(): Promise<void> {
    // A site engine's runs and payloads stay in its site's JetStream domain (on the leaf).
    const domain = this.config.runDomain;
    const store = await RunStore.open(this.transport, this.retentionMs, { domain });
    const dispatcher = natsDispatcher(
      this.transport,
      async (request) => {
        const { name, range } = parseRef(request.target);
        return this.start(name, request.input, {
          version: range === '*' ? undefined : Number(range),
          durability: request.durability,
          parent: request.parent,
          depth: request.depth,
          reason: `sub-workflow of run ${request.parent.runId}, which this engine executes`,
        });
      },
      // Workers store large outputs of this engine's runs where its payloads are (a site's domain).
      { payloadDomain: domain },
    );
    // Fencing: a replica writes run state and sends attempts only while its lease is valid
    // (right after a SIGCONT it waits for a renewal, and one that finds the lease taken over
    // releases every run here first, so the write or send never happens).
    const fence = this.replicas;
    const payloads = await PayloadStore.open(this.transport, undefined, { domain });
    // Hard examples of tiered steps with collect, kept where their privacy tier allows.
    const collector = new HardExampleCollector(
      this.transport,
      this.config,
      (value) => payloads.resolve(value),
      this.logger,
    );
    this.executor = new Executor(
      {
        store: {
          save: (run) => {
            const waiting = fence.whenFresh();
            return waiting ? waiting.then(() => store.save(run)) : store.save(run);
          },
          load: (id) => store.load(id),
          loadAll: () => store.loadAll(),
          compact: () => store.compact(),
        },
        // Outcomes workers of `durableResults` services kept, read before resending after a
        // restart: in this engine's domain (a site engine's, on its leaf, so it starts with its
        // uplink cut; workers keep them where the request's Yb-Payload-Domain says). Created
        // here with the workers' default window when no worker created it first.
        outcomes: await OutcomeStore.open(this.transport, DEFAULT_IDEMPOTENCY_WINDOW_MS, { domain }),
        payloads,
        dispatcher: {
          call: (request) => {
            const waiting = fence.whenFresh();
            return waiting ? waiting.then(() => dispatcher.call(request)) : dispatcher.call(request);
          },
          startWorkflow: (request) => dispatcher.startWorkflow(request),
        },
        router: this.router,
        split: this.splitRunner(),
        clock: systemClock,
        // A site engine's run facts also go to its site's stream, for the cloud's /metrics.
        listeners: [
          metricsListener(),
          tracingListener(),
          logListener(this.logger),
          ...this.siteFacts.listeners(),
          collector.listener(),
        ],
      },
      {
        unknownRunMessage: (id) =>
          `unknown run "${id}": never started, or finished more than ${formatDuration(this.retentionMs)} ago (YUNBIAN_RUN_RETENTION_MS)` +
          // Said only where other replicas are live: a single orchestrator has no one else to ask.
          (this.engines.others().some((e) => e.kind === 'cloud')
            ? `; a run that is not durable is known only to the orchestrator replica executing it, and no live replica holds it (GET /engines lists the replicas)`
            : ''),
      },
    );
    this.catalog.onInstanceLost((instance, reason) =>
      this.executor.instanceLost(
        instance.id,
        `instance ${instance.id} on node ${instance.nodeId} was lost mid-request (${reason})`,
      ),
    );
    // While NATS is away no attempt fails for want of a reply; once it is back, what is out is
    // asked again (same attempt, same key).
    this.transport.onConnection((state) => {
      if (state === 'lost') this.executor.disconnected();
      else this.executor.reconnected();
    });
    this.engines.countRunningWith(() => this.executor.runningCount());
    // Runs an embedded engine executes share this store; they are that engine's (and the
    // takeover's, once it is gone), not this one's to resume. In the cloud, the runs of other
    // replicas are theirs too (read from the store when asked for, taken over when their
    // lease expires): a replica restores only the runs its `executedBy` names.
    const {
      restored,
      running: active,
      runs,
    } = await this.executor.restore((run) =>
      this.config.mode === 'cloud' ? executedByReplica(run, this.config.id) : run.executedBy?.kind !== 'embedded',
    );
    this.siteFacts.resend(runs);
    this.sweepTimer = setInterval(
      () =>
        void this.executor
          // The shared store's housekeeping is the leader's; each replica forgets its own finished runs.
          .sweep(Date.now() - this.retentionMs, { housekeeping: this.replicas.decides() })
          .catch((err: Error) => this.logger.warn('run sweep failed', { error: err.message })),
      Math.max(1_000, Math.min(this.retentionMs / 2, 10 * 60_000)),
    ).unref();
    this.logger.info('runs restored', { runs: restored, resuming: active.length });
    // Embedded engines' durable runs are in the cloud's store: the cloud takes them over.
    if (this.config.mode === 'cloud') {
      this.takeover = new EngineTakeover({
        engines: this.engines,
        store,
        executor: this.executor,
        self: this.identity,
        logger: this.logger,
        startupGraceMs: (this.config.lostAfterIntervals ?? 3) * 2_000,
        decides: () => this.replicas.decides(),
      });
      this.takeover.start();
      const takeover = this.takeover;
      // A replica that becomes the leader looks for embedded engines' orphans as a start does.
      this.replicas.onLeadership((leading) => {
        if (leading) void takeover.orphans();
      });
      this.replicas.start({
        adopt: (engineId, why) => takeover.adoptRunsOf(engineId, why, 'cloud'),
        release: () => this.executor.release(),
        executingEngines: async () => executingReplicas(await store.loadRunning()),
      });
    }
    this.markReady();
    // Give agents a moment to re-announce their instances before routing resumed work.
    setTimeout(() => {
      for (const run of active)
        void this.executor
          .resume(run.id)
          .catch((err: Error) => this.logger.error('run could not resume', { run_id: run.id, error: err.message }));
    }, 500).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.takeover?.stop();
    this.executor?.stop();
    // Stopped first: the lease is marked left only once nothing here acts on a run.
    await this.replicas.leave();
  }

  // ---- public API ---------------------------------------------------------

  /**
   * Starts a run requested by a caller (REST, NATS): executed here, or forwarded to the
   * engine where it belongs (`route`) and that engine's record returned. Validation happens
   * here first, so a bad input is refused without a round trip.
   */
  async startRun(name: string, input: unknown, options: RunStartOptions = {}): Promise<RunRecord> {
    const stored = this.registry.get(name, options.version);
    this.inputs.check(stored.definition, input);
    const route = this.route(stored.definition, options);
    if (route.where === 'here') return this.startHere(stored.definition, input, options, route.reason);
    const needsCloud = this.config.mode === 'site' && route.subject === Subjects.workflowRun;
    // Cut off from the cloud: refused at once, saying so, instead of waiting out the forward's deadline.
    if (needsCloud) this.assertUplink(stored, route.reason);
    const command: RunWorkflowCommand = {
      workflow: stored.name,
      input,
      version: stored.version,
      durability: options.durability,
      waitMs: options.waitMs ?? 0,
      origin: options.originNodeId ? { nodeId: options.originNodeId } : undefined,
      dataTier: options.dataTier,
      engine: options.engine,
      reply: 'record',
      forwarded: { by: this.config.id, reason: route.reason },
    };
    try {
      const reply = await this.transport.request<{ record: RunRecord }>(route.subject, command, {
        timeoutMs: (options.waitMs ?? 0) + FORWARD_MARGIN_MS,
      });
      return reply.record;
    } catch (err) {
      const error = YunbianError.from(err);
      // The forward itself is evidence: with the cloud silent, its failure is the uplink's.
      if (needsCloud && (error.code === 'NO_RESPONDERS' || error.code === 'TIMEOUT')) {
        this.assertUplink(stored, route.reason, 0);
      }
      // Nobody listens (the engine just stopped): nothing started there, so the cloud runs it.
      if (error.code === 'NO_RESPONDERS' && this.config.mode === 'cloud') {
        return this.startHere(
          stored.definition,
          input,
          options,
          `${route.reason}, but ${route.to} did not answer (${error.message}): executed in the cloud instead`,
        );
      }
      throw new YunbianError(
        error.code === 'NO_RESPONDERS' ? 'UNAVAILABLE' : error.code,
        `run of ${stored.name}@${stored.version} was to execute on ${route.to} (${route.reason}) but forwarding it failed: ${error.message}`,
        { engine: route.to },
      );
    }
  }

  /**
   * A site engine's start that needs the cloud: `UNAVAILABLE` naming the site's uplink when
   * `uplinkState` says it is down (`graceMs` 0 when a forward has just failed).
   */
  private assertUplink(stored: { name: string; version: number }, reason: string, graceMs?: number): void {
    const state = siteUplinkState({
      site: this.config.site,
      now: Date.now(),
      cloud: this.engines.cloudEvidence(),
      nodes: this.catalog.listNodes(),
      graceMs,
    });
    if (!state.down) return;
    throw new YunbianError(
      'UNAVAILABLE',
      `run of ${stored.name}@${stored.version} needs the cloud (${reason}), but the uplink of site ${this.config.site} to the cloud is down: ${state.because}; start it again once the link is back, or start a workflow whose steps all place at ${this.config.site}`,
      { uplink: 'down', site: this.config.site },
    );
  }

  /**
   * Where a run executes (see docs/workflows.md, "Where runs execute"). The cloud forwards a
   * run to the site engine of the site where every step places (the origin's site first; with
   * no origin, the cloud itself first, then the live site engines by name); a site engine
   * executes a run whose steps all place at its site and forwards the others to the cloud.
   */
  route(definition: WorkflowDefinition, options: RunStartOptions): RunRoute {
    if (options.forwarded) return { where: 'here', reason: options.forwarded.reason };
    const originSite = options.originNodeId ? this.catalog.node(options.originNodeId).site : undefined;
    return routeRun({
      mode: this.config.mode,
      here: this.config.site,
      engine: options.engine ?? 'auto',
      originSite,
      dataTier: mostPrivate([options.dataTier, ...executionSteps(definition).map((s) => s.hints?.dataTier)]),
      siteEngines: this.engines
        .others()
        .filter((e) => e.kind === 'site' && e.site)
        .map((e) => e.site!),
      choose: (sites) =>
        chooseExecutionSite({
          steps: executionSteps(definition),
          origin: originSite ? { nodeId: options.originNodeId, site: originSite } : undefined,
          dataTier: options.dataTier,
          sites,
          catalog: this.catalog.view(),
        }),
    });
  }

  private startHere(
    definition: WorkflowDefinition & { version: number },
    input: unknown,
    options: StartOptions,
    reason: string,
  ): Promise<RunRecord> {
    return this.executor.start({
      definition,
      input,
      durability: options.durability,
      parent: options.parent,
      depth: options.depth,
      origin: this.originOf(options.originNodeId),
      dataTier: options.dataTier,
      executedBy: { ...this.identity, reason },
    });
  }

  /** The origin of a run started here: the given node, or for a site engine its site. */
  private originOf(nodeId: string | undefined): RunRecord['origin'] {
    if (nodeId) return { nodeId, site: this.catalog.node(nodeId).site };
    return this.config.mode === 'site' ? { site: this.config.site } : undefined;
  }

  /** Starts a run on this engine (sub-workflows, triggers, callers that chose the engine themselves). */
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
      origin:
        options.originNodeId || !options.originSite
          ? this.originOf(options.originNodeId)
          : { site: options.originSite },
      dataTier: options.dataTier,
      executedBy: { ...this.identity, reason: options.reason ?? 'started on this engine' },
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
  /** This engine's own runs (not those of other engines; see RemoteRuns). */
  holds(id: string): boolean {
    try {
      this.executor.get(id);
      return true;
    } catch {
      return false;
    }
  }
}

/** The steps of a definition as the choice of the executing site reads them. */
const TIER_ORDER = ['public', 'edge-private', 'user-private'] as const;

/** The most private of the tiers given (undefined when none is). */
export function mostPrivate(tiers: (string | undefined)[]): (typeof TIER_ORDER)[number] | undefined {
  const ranks = tiers.map((t) => TIER_ORDER.indexOf(t as (typeof TIER_ORDER)[number])).filter((r) => r >= 0);
  return ranks.length ? TIER_ORDER[Math.max(...ranks)] : undefined;
}

export function executionSteps(definition: WorkflowDefinition): ExecutionStep[] {
  return definition.steps.map((step) => {
    // A tiered step is judged by its tier 0 (its primary call); higher tiers are reached over NATS.
    const hints = step.tiers?.[0].placement ?? step.placement ?? definition.placement;
    return {
      id: step.id,
      service: step.service ?? step.tiers?.[0].service,
      workflow: step.workflow,
      split: step.split && { model: step.split.model, between: step.split.between },
      hints: hints && {
        tier: hints.tier,
        site: hints.site,
        tags: hints.tags,
        anyTags: hints.anyTags,
        dataTier: hints.dataTier,
      },
    };
  });
}
