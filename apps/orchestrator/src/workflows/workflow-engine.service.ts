import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { ValidateFunction } from 'ajv';
import { createAjv, envInt, formatDuration, formatIssues, JsonLogger, schemaIssues } from '@yunbian/common';
import type { ErrorBody, InstanceRecord } from '@yunbian/contracts';
import {
  endSpan,
  isTracingEnabled,
  spanCarrier,
  startSpan,
  traceContextFrom,
  traceIdOf,
  withActiveSpan,
  yunbianMetrics,
} from '@yunbian/observability';
import type { Span } from '@opentelemetry/api';
import { IDEMPOTENCY_HEADER } from '@yunbian/service-sdk';
import {
  isPayloadRef,
  NatsTransport,
  PAYLOAD_BUCKET,
  PayloadStore,
  YunbianError,
  type PayloadRef,
  type TimedReply,
} from '@yunbian/transport';
import {
  abandonedChildRuns,
  apply,
  applyResult,
  cancelRun,
  createRun,
  decide,
  dependenciesOf,
  isTerminalRun,
  LIMITS,
  outstandingAttempt,
  parseRef,
  resumeRun,
  type Action,
  type AttemptResult,
  type Durability,
  type RunRecord,
  type RunStatus,
} from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { STEP_ROUTER, type StepRouter } from '../placement/step-router';
import { RunStore } from './run-store';
import { WorkflowRegistry } from './workflow-registry.service';

type Dispatch = Extract<Action, { type: 'dispatch' }>;

export interface StartOptions {
  version?: number;
  durability?: Durability;
  parent?: RunRecord['parent'];
  depth?: number;
  /** The node the run's input comes from. */
  originNodeId?: string;
  dataTier?: RunRecord['dataTier'];
}

/** Keeps this many finished runs in memory for GET /runs (durable ones are also in KV). */
const FINISHED_RUNS_KEPT = 10_000;
const DAY_MS = 24 * 3_600_000;

/**
 * The executor: persists what the decider decided, then carries it out — routes each
 * dispatch through the placement seam, sends it over NATS with its idempotency key, and
 * feeds every outcome back. Durable runs are written before anything is sent.
 */
@Injectable()
export class WorkflowEngine implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('engine');
  private readonly runs = new Map<string, RunRecord>();
  private readonly finishedOrder: string[] = [];
  private readonly locks = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly waiters = new Map<string, ((run: RunRecord) => void)[]>();
  /** Results waiting for their run's lock, applied together. */
  private readonly pendingResults = new Map<string, AttemptResult[]>();
  /** instance id → attempts out on it, so a dying instance fails them at once. */
  private readonly onInstance = new Map<string, Set<string>>();
  private readonly inputValidators = new Map<string, ValidateFunction>();
  private readonly ajv = createAjv({ useDefaults: true });
  private store!: RunStore;
  private payloads!: PayloadStore;
  /** Large values of active runs, fetched from the object store once. */
  private readonly resolved = new Map<string, Map<string, unknown>>();
  /** Runs that put anything in the object store, to clean up when they end. */
  private readonly withPayloads = new Set<string>();
  /** Input size of each dispatch, measured when its input was serialised for the size check. */
  private readonly inputBytes = new WeakMap<Dispatch, number>();
  /** Values fetched from the object store, by identity, to send them on as their reference. */
  private readonly refOf = new WeakMap<object, PayloadRef>();
  /** Stored values with their references resolved, by identity of the stored value. */
  private readonly expanded = new WeakMap<object, object>();
  /** Open run spans (a run resumed after a restart continues its trace without one). */
  private readonly runSpans = new Map<string, Span>();
  private readonly metrics = yunbianMetrics();
  /** Runs whose end was already announced (metrics, waiters, parent), so it happens once per ending. */
  private readonly announced = new WeakSet<RunRecord>();
  private stopped = false;
  /**
   * How long finished runs stay readable: in memory, in the finished-runs bucket (the
   * server expires them) and, for large final outputs, in the object store.
   */
  readonly retentionMs = envInt('YUNBIAN_RUN_RETENTION_MS', 7 * DAY_MS);
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowRegistry) private readonly registry: WorkflowRegistry,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(STEP_ROUTER) private readonly router: StepRouter,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.store = await RunStore.open(this.transport, this.retentionMs);
    this.payloads = await PayloadStore.open(this.transport);
    this.catalog.onInstanceLost((instance, reason) => this.instanceLost(instance, reason));
    const stored = await this.store.loadAll();
    // Oldest first, so the retention sweep can stop at the first run still within it.
    stored.sort((a, b) => (a.finishedAt ?? a.updatedAt).localeCompare(b.finishedAt ?? b.updatedAt));
    for (const run of stored) this.remember(run);
    this.sweepTimer = setInterval(
      () => void this.sweep().catch((err: Error) => this.logger.warn('run sweep failed', { error: err.message })),
      Math.max(1_000, Math.min(this.retentionMs / 2, 10 * 60_000)),
    ).unref();
    const active = stored.filter((r) => r.status === 'running');
    this.logger.info('runs restored', { runs: stored.length, resuming: active.length });
    // Give agents a moment to re-announce their instances before routing resumed work.
    setTimeout(() => {
      for (const run of active) void this.resume(run);
    }, 500).unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  // ---- public API ---------------------------------------------------------

  async start(name: string, input: unknown, options: StartOptions = {}): Promise<RunRecord> {
    const stored = this.registry.get(name, options.version);
    const definition = stored.definition;
    this.validateInput(stored.name, stored.version, definition.input, input);
    if ((options.depth ?? 0) > LIMITS.subWorkflowDepth) {
      throw new YunbianError('BAD_REQUEST', `sub-workflows nest deeper than ${LIMITS.subWorkflowDepth} levels`);
    }
    const id = randomUUID();
    const run = createRun({
      id,
      definition,
      input: await this.offload(id, input ?? {}, `${id}.input`),
      durability: options.durability,
      now: new Date(),
      parent: options.parent,
      depth: options.depth,
      origin: options.originNodeId
        ? { nodeId: options.originNodeId, site: this.catalog.node(options.originNodeId).site }
        : undefined,
      dataTier: options.dataTier,
    });
    const parentRun = options.parent ? this.runs.get(options.parent.runId) : undefined;
    const span = startSpan(
      `run ${stored.name}`,
      {
        'yunbian.run.id': id,
        'yunbian.workflow.name': stored.name,
        'yunbian.workflow.version': stored.version,
        'yunbian.run.durability': run.durability,
      },
      parentRun?.traceContext ? { parent: traceContextFrom(parentRun.traceContext) } : { root: true },
    );
    run.traceId = traceIdOf(span);
    run.traceContext = spanCarrier(span);
    this.runSpans.set(id, span);
    this.runs.set(run.id, run);
    // The first round stores the run together with its first dispatches (one write, not two)
    // before anything is sent; a run that cannot be stored is not accepted.
    await this.locked(run.id, () => this.step(run.id, true));
    return run;
  }

  get(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw this.unknownRun(id);
    return run;
  }

  /** A run from memory, or (durable runs no longer held in memory) from the store. */
  async find(id: string): Promise<RunRecord> {
    const run = this.runs.get(id) ?? (await this.store.load(id));
    if (!run) throw this.unknownRun(id);
    return run;
  }

  private unknownRun(id: string): YunbianError {
    return new YunbianError(
      'NOT_FOUND',
      `unknown run "${id}": never started, or finished more than ${formatDuration(this.retentionMs)} ago (YUNBIAN_RUN_RETENTION_MS)`,
    );
  }

  list(filter: { workflow?: string; status?: RunStatus; limit?: number }): RunRecord[] {
    const limit = Math.min(filter.limit ?? 100, 1_000);
    return [...this.runs.values()]
      .filter((r) => !filter.workflow || r.workflow.name === filter.workflow)
      .filter((r) => !filter.status || r.status === filter.status)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, limit);
  }

  /** Resolves with the run once finished, or after `timeoutMs` with it as it is. */
  waitFor(id: string, timeoutMs: number): Promise<RunRecord> {
    const run = this.get(id);
    if (isTerminalRun(run.status) || timeoutMs <= 0) return Promise.resolve(run);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.get(id)), timeoutMs);
      const list = this.waiters.get(id) ?? [];
      list.push((finished) => {
        clearTimeout(timer);
        resolve(finished);
      });
      this.waiters.set(id, list);
    });
  }

  async cancel(id: string, reason = 'cancelled by request'): Promise<RunRecord> {
    const run = this.get(id);
    await this.locked(id, async () => {
      if (!cancelRun(run, Date.now(), reason)) {
        throw new YunbianError('CONFLICT', `run ${id} is ${run.status}; only running runs can be cancelled`);
      }
      await this.persist(run);
    });
    for (const child of this.children(run))
      if (child.status === 'running')
        await this.cancel(child.id, `parent run ${id} was cancelled`).catch(() => undefined);
    this.finished(run);
    return run;
  }

  async retry(id: string): Promise<RunRecord> {
    const run = this.get(id);
    await this.locked(id, async () => {
      if (!resumeRun(run, Date.now())) {
        throw new YunbianError('CONFLICT', `run ${id} is ${run.status}; only failed or cancelled runs can be retried`);
      }
      this.announced.delete(run);
      await this.persist(run);
    });
    void this.advance(id);
    return run;
  }

  // ---- the loop -----------------------------------------------------------

  private locked(id: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.then(fn);
    const settled = next.catch(() => undefined);
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return next;
  }

  private advance(id: string): Promise<void> {
    return this.locked(id, () => this.step(id)).catch((err: Error) =>
      this.logger.error('run could not advance', { run_id: id, error: err.stack ?? err.message }),
    );
  }

  /**
   * Decides and applies until the run waits on something. State is written once before
   * any dispatch leaves (and once at the end if it changed), not after every action.
   */
  private async step(id: string, changed = false): Promise<void> {
    const run = this.runs.get(id);
    if (!run || this.stopped) return;
    let dirty = changed;
    for (;;) {
      await this.prefetch(run);
      const now = Date.now();
      const decision = await decide(run, now, (value) => this.resolveCached(run.id, value));
      if (decision.actions.length === 0) {
        this.scheduleWake(run, decision.wakeAt);
        break;
      }
      const dispatches: Dispatch[] = [];
      for (const action of decision.actions) {
        apply(run, action, now);
        if (action.type === 'dispatch') dispatches.push(action);
      }
      dirty = true;
      // A large result stays in the object store (under a name cleanup leaves alone).
      if (run.status === 'succeeded') run.output = await this.payloads.offload(run.output, `${run.id}-result`);
      if (dispatches.length === 0) continue;
      await this.offloadInputs(run, dispatches);
      const routed = dispatches.map((d) => this.prepare(run, d));
      await this.persist(run);
      dirty = false;
      for (const r of routed) r();
      // Sending changes nothing another decision could act on; the replies will.
      if (dispatches.length === decision.actions.length) {
        this.scheduleWake(run, decision.wakeAt);
        break;
      }
    }
    if (dirty) await this.persist(run);
    if (isTerminalRun(run.status)) this.finished(run);
  }

  private scheduleWake(run: RunRecord, wakeAt: number | undefined): void {
    clearTimeout(this.timers.get(run.id));
    this.timers.delete(run.id);
    if (wakeAt === undefined || run.status !== 'running') return;
    this.timers.set(
      run.id,
      setTimeout(
        () => {
          this.timers.delete(run.id);
          void this.advance(run.id);
        },
        Math.max(0, wakeAt - Date.now()),
      ),
    );
  }

  /**
   * Routes a dispatch (recording the placement in the attempt before it is persisted) and
   * returns the function that sends it once the state is stored.
   */
  private prepare(run: RunRecord, dispatch: Dispatch): () => void {
    const task = run.steps[dispatch.stepId].tasks[dispatch.task];
    const attempt = task.attempts.at(-1)!;
    const result = (outcome: { ok: true; output: unknown } | { ok: false; error: ErrorBody }) =>
      this.onResult(run.id, { stepId: dispatch.stepId, task: dispatch.task, attempt: attempt.n, ...outcome });

    if (dispatch.kind === 'workflow') {
      return () => void this.startChild(run, dispatch, result);
    }
    let decision;
    try {
      const avoid = task.attempts.filter((a) => a.error && a.instanceId).map((a) => a.instanceId!);
      const input = (attempt as { input?: unknown }).input ?? task.input;
      decision = this.router.route({
        service: dispatch.attempt.target,
        hints: dispatch.placement,
        avoid,
        inputBytes:
          this.inputBytes.get(dispatch) ??
          (isPayloadRef(input) ? input.$ybRef.bytes : input === undefined ? 0 : JSON.stringify(input).length),
        origin: this.originOf(run, dispatch.stepId),
        dataTier: dispatch.placement?.dataTier ?? run.dataTier,
      });
      this.metrics.placementDecisions.inc({ strategy: decision.strategy, outcome: 'placed' });
    } catch (err) {
      this.metrics.placementDecisions.inc({
        strategy: dispatch.placement?.strategy ?? 'default',
        outcome: 'unsatisfiable',
      });
      const error = YunbianError.from(err).toBody();
      attempt.error = error;
      return () => result({ ok: false, error });
    }
    Object.assign(attempt, {
      service: `${decision.instance.service}@${decision.instance.version}`,
      instanceId: decision.instance.id,
      nodeId: decision.node.id,
      placement: { strategy: decision.strategy, reason: decision.reason, candidates: decision.candidates },
    });
    const placement = { strategy: decision.strategy, reason: decision.reason };
    return () =>
      this.send(run.id, dispatch.stepId, dispatch.task, decision.instance, dispatch.timeoutMs, placement, result);
  }

  /** Where a step's input is: the node of the dependency that finished last, else the run's origin. */
  private originOf(run: RunRecord, stepId: string): { nodeId?: string; site: string } | undefined {
    let latest: { at: string; nodeId: string } | undefined;
    for (const dep of dependenciesOf(run.definition).get(stepId) ?? []) {
      for (const task of run.steps[dep].tasks) {
        const done = task.attempts.filter((a) => a.nodeId && a.finishedAt && !a.error).at(-1);
        if (done && (!latest || done.finishedAt! > latest.at)) latest = { at: done.finishedAt!, nodeId: done.nodeId! };
      }
    }
    if (!latest) return run.origin;
    try {
      return { nodeId: latest.nodeId, site: this.catalog.node(latest.nodeId).site };
    } catch {
      return run.origin;
    }
  }

  private send(
    runId: string,
    stepId: string,
    taskIndex: number,
    instance: InstanceRecord,
    timeoutMs: number,
    placement: { strategy: string; reason: string },
    result: (outcome: { ok: true; output: unknown } | { ok: false; error: ErrorBody }) => void,
  ): void {
    const run = this.runs.get(runId)!;
    const task = run.steps[stepId].tasks[taskIndex];
    const attempt = outstandingAttempt(task);
    if (!attempt) return;
    attempt.startedAt = new Date().toISOString();
    const key = attempt.idempotencyKey;
    this.track(instance.id, `${runId}|${stepId}|${taskIndex}|${attempt.n}`, true);
    this.router.sent(instance.id);
    const started = performance.now();
    const service = `${instance.service}@${instance.version}`;
    // With tracing off there is no span to build (the no-op API would still cost its attributes).
    const span = isTracingEnabled()
      ? startSpan(
          `step ${stepId}`,
          {
            'yunbian.run.id': runId,
            'yunbian.step.id': stepId,
            'yunbian.step.attempt': attempt.n,
            'yunbian.step.purpose': attempt.purpose,
            ...(task.index === null ? {} : { 'yunbian.step.item': task.index }),
            'yunbian.service.ref': service,
            'yunbian.placement.node': instance.nodeId,
            'yunbian.placement.instance': instance.id,
            'yunbian.placement.strategy': placement.strategy,
            'yunbian.placement.reason': placement.reason,
          },
          { parent: traceContextFrom(run.traceContext) },
        )
      : undefined;
    const observe = (outcome: string) =>
      this.metrics.stepDuration.observe(
        { service, node: instance.nodeId, outcome },
        (performance.now() - started) / 1000,
      );
    let timed: TimedReply<unknown> | undefined;
    const call = () =>
      this.transport
        .requestTimed(instance.subject, attempt.input ?? task.input, {
          timeoutMs,
          headers: { [IDEMPOTENCY_HEADER]: key },
        })
        .then((reply) => (timed = reply).value);
    (span ? withActiveSpan(span, call) : call())
      .then(
        (output) => {
          observe('ok');
          if (span) endSpan(span);
          result({ ok: true, output });
        },
        (err: unknown) => {
          const error = YunbianError.from(err);
          const body = error.toBody();
          if (error.code === 'TIMEOUT')
            body.message = `step ${stepId} got no reply from instance ${instance.id} within ${timeoutMs} ms`;
          observe(error.code);
          if (span) endSpan(span, error);
          result({ ok: false, error: body });
        },
      )
      .finally(() => {
        this.track(instance.id, `${runId}|${stepId}|${taskIndex}|${attempt.n}`, false);
        this.router.settled(instance.id, performance.now() - started, timed);
      });
  }

  private track(instanceId: string, key: string, add: boolean): void {
    let set = this.onInstance.get(instanceId);
    if (add) {
      if (!set) this.onInstance.set(instanceId, (set = new Set()));
      set.add(key);
    } else if (set) {
      set.delete(key);
      if (set.size === 0) this.onInstance.delete(instanceId);
    }
  }

  /** Attempts out on an instance that died fail now (and retry elsewhere) instead of at their deadline. */
  private instanceLost(instance: InstanceRecord, reason: string): void {
    const keys = this.onInstance.get(instance.id);
    if (!keys) return;
    for (const key of [...keys]) {
      const [runId, stepId, task, attempt] = key.split('|');
      this.track(instance.id, key, false);
      void this.onResult(runId, {
        stepId,
        task: Number(task),
        attempt: Number(attempt),
        ok: false,
        error: {
          code: 'UNAVAILABLE',
          message: `instance ${instance.id} on node ${instance.nodeId} was lost mid-request (${reason})`,
        },
      });
    }
  }

  /**
   * Results that arrive while the run is busy (a state write in flight, say) wait together
   * and are applied in one round: one decision and one write for all of them, not one each.
   */
  private onResult(runId: string, outcome: AttemptResult): Promise<void> {
    const waiting = this.pendingResults.get(runId);
    if (waiting) {
      waiting.push(outcome);
      return Promise.resolve();
    }
    const batch = [outcome];
    this.pendingResults.set(runId, batch);
    return this.locked(runId, async () => {
      this.pendingResults.delete(runId);
      const run = this.runs.get(runId);
      if (!run) return;
      let changed = false;
      for (const result of batch) if (applyResult(run, result, Date.now())) changed = true;
      if (changed) await this.step(runId, true);
    }).catch((err: Error) => this.logger.error('result could not be applied', { run_id: runId, error: err.message }));
  }

  // ---- sub-workflows ------------------------------------------------------

  private async startChild(
    parent: RunRecord,
    dispatch: Dispatch,
    result: (outcome: { ok: true; output: unknown } | { ok: false; error: ErrorBody }) => void,
  ): Promise<void> {
    const { name, range } = parseRef(dispatch.attempt.target);
    try {
      const child = await this.start(name, dispatch.input, {
        version: range === '*' ? undefined : Number(range),
        durability: parent.durability,
        parent: { runId: parent.id, stepId: dispatch.stepId, taskIndex: dispatch.task, attempt: dispatch.attempt.n },
        depth: parent.depth + 1,
      });
      let wanted = false;
      await this.locked(parent.id, async () => {
        const attempt = outstandingAttempt(parent.steps[dispatch.stepId].tasks[dispatch.task]);
        if (attempt?.n === dispatch.attempt.n) {
          wanted = true;
          Object.assign(attempt, { childRunId: child.id, startedAt: new Date().toISOString() });
          await this.persist(parent);
        }
      });
      // The parent ended (or gave up on this attempt) while the child started.
      if (!wanted && child.status === 'running')
        await this.cancel(child.id, `parent run ${parent.id} no longer waits for it`).catch(() => undefined);
    } catch (err) {
      result({ ok: false, error: YunbianError.from(err).toBody() });
    }
  }

  private children(run: RunRecord): RunRecord[] {
    return [...this.runs.values()].filter((r) => r.parent?.runId === run.id);
  }

  // ---- completion, persistence, recovery ----------------------------------

  // ---- large payloads -----------------------------------------------------

  /** Inputs too large for a message (and for the run record) go to the object store first. */
  private async offloadInputs(run: RunRecord, dispatches: Dispatch[]): Promise<void> {
    for (const d of dispatches) {
      const task = run.steps[d.stepId].tasks[d.task];
      const attempt = task.attempts.at(-1) as { input?: unknown; idempotencyKey: string };
      const input = this.reuseReferences(attempt.input);
      // Serialised once here: the size check and placement's input size both use it.
      const json = input === undefined ? undefined : JSON.stringify(input);
      const stored = await this.offload(run.id, input, `${attempt.idempotencyKey}.in`, json);
      this.inputBytes.set(d, isPayloadRef(stored) ? stored.$ybRef.bytes : (json?.length ?? 0));
      if (stored !== attempt.input) {
        if (task.input === attempt.input) task.input = stored;
        attempt.input = stored;
      }
    }
  }

  private async offload(runId: string, value: unknown, name: string, json?: string): Promise<unknown> {
    const stored = await this.payloads.offload(value, name, json);
    if (stored !== value) this.withPayloads.add(runId);
    return stored;
  }

  private async prefetch(run: RunRecord): Promise<void> {
    const refs: string[] = [];
    const collect = (value: unknown) => {
      if (isPayloadRef(value)) refs.push(value.$ybRef.name);
      else if (value !== null && typeof value === 'object') {
        // Arrays of references (forEach outputs) and objects whose large fields were moved out.
        for (const v of Object.values(value)) if (isPayloadRef(v)) refs.push(v.$ybRef.name);
      }
    };
    collect(run.input);
    for (const state of Object.values(run.steps)) {
      collect(state.output);
      for (const task of state.tasks) {
        collect(task.primaryOutput);
        if (isPayloadRef(task.input)) this.withPayloads.add(run.id);
      }
    }
    if (refs.length === 0) return;
    this.withPayloads.add(run.id);
    let cache = this.resolved.get(run.id);
    if (!cache) this.resolved.set(run.id, (cache = new Map()));
    while (refs.length > 0) {
      const name = refs.pop()!;
      if (cache.has(name)) continue;
      const ref = { $ybRef: { bucket: PAYLOAD_BUCKET, name, bytes: 0 } };
      const value = await this.payloads.resolve(ref);
      cache.set(name, value);
      if (value !== null && typeof value === 'object') {
        this.refOf.set(value, ref);
        collect(value);
      }
    }
  }

  /** Plain values for expressions: references (top-level, in arrays, in fields) replaced by what they hold. */
  private resolveCached(runId: string, value: unknown): unknown {
    const cache = this.resolved.get(runId);
    if (!cache || value === null || typeof value !== 'object') return value;
    if (isPayloadRef(value)) return this.resolveCached(runId, cache.get(value.$ybRef.name));
    const known = this.expanded.get(value);
    if (known) return known;
    const entries = Object.entries(value);
    if (!entries.some(([, v]) => isPayloadRef(v))) return value;
    const plain: unknown = Array.isArray(value)
      ? value.map((v) => (isPayloadRef(v) ? cache.get(v.$ybRef.name) : v))
      : Object.fromEntries(entries.map(([k, v]) => [k, isPayloadRef(v) ? cache.get(v.$ybRef.name) : v]));
    // Same object every time, so values passed on unchanged are recognised by `reuseReferences`.
    this.expanded.set(value, plain as object);
    return plain;
  }

  /** A value read from a stored payload and passed on unchanged travels as its reference again. */
  private reuseReferences(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    const whole = this.refOf.get(value);
    if (whole) return whole;
    if (Array.isArray(value)) return value;
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const ref = v !== null && typeof v === 'object' ? this.refOf.get(v) : undefined;
      out[k] = ref ?? v;
      if (ref) changed = true;
    }
    return changed ? out : value;
  }

  private finished(run: RunRecord): void {
    if (this.announced.has(run)) return;
    this.announced.add(run);
    this.metrics.workflowRuns.inc({ workflow: run.workflow.name, status: run.status });
    const span = this.runSpans.get(run.id);
    if (span) {
      span.setAttribute('yunbian.run.status', run.status);
      endSpan(
        span,
        run.status === 'succeeded'
          ? undefined
          : new YunbianError(run.error?.code ?? 'INTERNAL', run.error?.message ?? run.status),
      );
      this.runSpans.delete(run.id);
    }
    this.resolved.delete(run.id);
    if (this.withPayloads.delete(run.id)) {
      // A run's payloads are named after it (inputs, and outputs by idempotency key).
      this.payloads
        .deleteWithPrefix(`${run.id}.`)
        .then(() => this.payloads.deleteWithPrefix(`${run.id}:`))
        .catch((err: Error) => this.logger.warn('payload cleanup failed', { run_id: run.id, error: err.message }));
    }
    clearTimeout(this.timers.get(run.id));
    this.timers.delete(run.id);
    // Sub-workflows a failed run abandoned end with it (a cancel ends its children itself).
    for (const childId of run.status === 'failed' ? abandonedChildRuns(run) : [])
      if (this.runs.get(childId)?.status === 'running')
        void this.cancel(childId, `parent run ${run.id} failed`).catch(() => undefined);
    for (const resolve of this.waiters.get(run.id) ?? []) resolve(run);
    this.waiters.delete(run.id);
    if (run.parent) {
      const p = run.parent;
      const outcome =
        run.status === 'succeeded'
          ? { ok: true as const, output: run.output }
          : {
              ok: false as const,
              error: {
                code: run.error?.code ?? 'INTERNAL',
                message: `sub-workflow run ${run.id} ${run.status}: ${run.error?.message ?? ''}`,
                details: run.error?.details,
              } as ErrorBody,
            };
      void this.onResult(p.runId, { stepId: p.stepId, task: p.taskIndex ?? 0, attempt: p.attempt, ...outcome });
    }
    this.finishedOrder.push(run.id);
    while (this.finishedOrder.length > FINISHED_RUNS_KEPT) this.runs.delete(this.finishedOrder.shift()!);
  }

  /**
   * Forgets finished runs past retention: from memory here (the finished-runs bucket
   * expires them on the server), with large final outputs kept in the object store.
   */
  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.retentionMs;
    while (this.finishedOrder.length > 0) {
      const run = this.runs.get(this.finishedOrder[0]);
      const ended = run && isTerminalRun(run.status) ? Date.parse(run.finishedAt ?? run.updatedAt) : undefined;
      if (ended !== undefined && ended > cutoff) break;
      this.finishedOrder.shift();
      // A run retried since it was listed here is running again and listed anew when it ends.
      if (ended !== undefined) this.runs.delete(run!.id);
    }
    await this.payloads.deleteOlderThan(cutoff, (name) => name.endsWith('-result'));
    await this.store.compact();
  }

  private remember(run: RunRecord): void {
    this.runs.set(run.id, run);
    if (isTerminalRun(run.status)) this.finishedOrder.push(run.id);
  }

  private async persist(run: RunRecord): Promise<void> {
    if (run.durability === 'durable') await this.store.save(run);
  }

  /** After a restart: send again what was out when we stopped (same attempt, same key), then go on. */
  private async resume(run: RunRecord): Promise<void> {
    await this.locked(run.id, async () => {
      const resend: (() => void)[] = [];
      for (const step of run.definition.steps) {
        for (const [i, task] of run.steps[step.id].tasks.entries()) {
          const attempt = outstandingAttempt(task);
          if (!attempt) continue;
          if (attempt.childRunId) {
            const child = this.runs.get(attempt.childRunId);
            if (child && isTerminalRun(child.status)) this.finished(child);
            continue;
          }
          const dispatch: Dispatch = {
            type: 'dispatch',
            stepId: step.id,
            task: i,
            kind: step.workflow && attempt.purpose === 'primary' ? 'workflow' : 'service',
            attempt,
            input: (attempt as { input?: unknown }).input ?? task.input,
            timeoutMs: step.timeoutMs ?? 30_000,
            placement: step.placement ?? run.definition.placement,
          };
          resend.push(this.prepare(run, dispatch));
        }
      }
      await this.persist(run);
      for (const send of resend) send();
      await this.step(run.id);
    });
  }

  private validateInput(
    name: string,
    version: number,
    schema: Record<string, unknown> | undefined,
    input: unknown,
  ): void {
    if (!schema) return;
    const key = `${name}@${version}`;
    let validate = this.inputValidators.get(key);
    if (!validate) this.inputValidators.set(key, (validate = this.ajv.compile(schema)));
    if (!validate(input)) {
      const issues = schemaIssues(validate, input);
      throw new YunbianError(
        'VALIDATION_FAILED',
        `run input does not match the input schema of ${key}: ${formatIssues(issues)}`,
        {
          issues,
        },
      );
    }
  }
}
