import { randomUUID } from 'node:crypto';
import {
  isPayloadRef,
  PAYLOAD_BUCKET,
  RemoteError,
  YunbianError,
  type ErrorBody,
  type InstanceRecord,
  type PayloadRef,
} from '@yunbian/contracts';
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
  placeAttempt,
  resumeDecision,
  resumeRun,
  startAttempt,
  type AttemptResult,
  type DispatchAction,
  type Durability,
  type RunEngine,
  type RunRecord,
  type RunStatus,
  type WorkflowDefinition,
} from '@yunbian/workflow';
import type {
  AttemptScope,
  Clock,
  ExchangeTiming,
  ExecutorPorts,
  OutcomeSource,
  PayloadStore,
  RouteDecision,
  RunListener,
  RunStore,
  SplitRunner,
  SentAttempt,
  StepDispatcher,
  StepRouter,
  TimerHandle,
} from './ports';

export interface StartRequest {
  /**
   * The run's id, when the caller derives it (a trigger, from the message that starts the
   * run). A run with this id that already exists — in memory or in the run store — is
   * returned instead of starting a second one. Without it the executor makes a new id.
   */
  id?: string;
  /** The definition the run starts with (kept whole in the run). */
  definition: WorkflowDefinition & { version: number };
  input: unknown;
  durability?: Durability;
  parent?: RunRecord['parent'];
  depth?: number;
  /** Where the run's input comes from (a node and its site). */
  origin?: RunRecord['origin'];
  dataTier?: RunRecord['dataTier'];
  /** The engine executing the run, and why there. */
  executedBy?: RunEngine;
}

export interface ExecutorOptions {
  /** Finished runs kept in memory for `get` and `list` (durable ones are also in the store). */
  finishedRunsKept?: number;
  /** The message of the NOT_FOUND error for a run this executor does not know. */
  unknownRunMessage?: (id: string) => string;
  /** Run ids (random UUIDs unless given). */
  newId?: () => string;
  /**
   * How long one request of an attempt waits for its reply before the same attempt is asked
   * again — same idempotency key, same instance — ms (default 5 s). The step's timeout bounds
   * the attempt; the worker answers a repeated key with the first execution's reply.
   */
  reRequestMs?: number;
  /**
   * How long an attempt's instance may have no responders (its worker reconnecting to NATS)
   * before the attempt fails and a new one goes elsewhere, ms (default 5 s).
   */
  noRespondersGraceMs?: number;
}

/** Defaults of the re-request policy and of the backoff between failed state writes. */
export const RE_REQUEST_MS = 5_000;
export const NO_RESPONDERS_GRACE_MS = 5_000;
const RESEND_BACKOFF_MS = { first: 250, max: 2_000 };
const SAVE_BACKOFF_MS = { first: 500, max: 10_000 };

/** Where an attempt goes: placement's decision, or the instance it was out on (a resend). */
type Target = Pick<RouteDecision, 'instance' | 'strategy' | 'reason'>;

/** One attempt out on an instance, requested once or more (same key, same instance). */
interface OutstandingAttempt {
  run: RunRecord;
  dispatch: DispatchAction;
  sent: SentAttempt;
  instance: InstanceRecord;
  /** What every request of the attempt carries… */
  input: unknown;
  /** …and its JSON when the size check made it. */
  inputJson?: string;
  /** When the step's timeout for this attempt ends (clock ms). */
  deadline: number;
  /** `performance.now()` at the first request. */
  started: number;
  scopes?: AttemptScope[];
  /** The latest request's number: only its failure counts (an older one's success does). */
  request: number;
  exchange?: ExchangeTiming;
  /** A re-request waiting out its backoff. */
  timer?: TimerHandle;
  /** Consecutive failed deliveries (backoff), and since when the instance had no responders. */
  failures: number;
  noRespondersSince?: number;
  done: boolean;
}

type Outcome = { ok: true; output: unknown } | { ok: false; error: ErrorBody };

/**
 * The executor: applies what the decider decides and carries it out over its ports. One
 * round decides, applies the actions, stores the run once (durable runs are written
 * before anything of the round is sent), then routes and sends each dispatch and feeds
 * every outcome back as the next round's input. Every change to a run's state is an
 * action of the decider (`apply`), placement and send times included.
 */
export class Executor {
  private readonly store: RunStore;
  private readonly split?: SplitRunner;
  private readonly dispatcher: StepDispatcher;
  private readonly payloads: PayloadStore;
  private readonly router: StepRouter;
  private readonly clock: Clock;
  private readonly outcomes?: OutcomeSource;
  private readonly listeners: RunListener[];
  private readonly finishedRunsKept: number;
  private readonly unknownRunMessage: (id: string) => string;
  private readonly newId: () => string;

  private readonly runs = new Map<string, RunRecord>();
  private readonly finishedOrder: string[] = [];
  private readonly locks = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly waiters = new Map<string, ((run: RunRecord) => void)[]>();
  /** Runs with a caller-given id being started (store lookup, first write), so a second start waits for the first. */
  private readonly starting = new Map<string, Promise<RunRecord>>();
  /** Results waiting for their run's lock, applied together. */
  private readonly pendingResults = new Map<string, AttemptResult[]>();
  /** Large values of active runs, fetched from the payload store once. */
  private readonly resolved = new Map<string, Map<string, unknown>>();
  /** Runs that put anything in the payload store, to clean up when they end. */
  private readonly withPayloads = new Set<string>();
  /** Input size of each dispatch, measured when its input was serialised for the size check. */
  private readonly inputBytes = new WeakMap<DispatchAction, number>();
  /** That serialisation, when the input stayed in the message: the dispatcher sends it as is. */
  private readonly inputJson = new WeakMap<DispatchAction, string>();
  /** A sub-workflow dispatch's input before it was offloaded: the child gets the value itself. */
  private readonly plainInputs = new WeakMap<DispatchAction, unknown>();
  /** Values fetched from the payload store, by identity, to send them on as their reference. */
  private readonly refOf = new WeakMap<object, PayloadRef>();
  /** Stored values with their references resolved, by identity of the stored value. */
  private readonly expanded = new WeakMap<object, object>();
  /** Runs whose end was already announced (listeners, waiters, parent), so it happens once per ending. */
  private readonly announced = new WeakSet<RunRecord>();
  /** Attempts out on instances, by idempotency key (re-requested after a reconnect or a lost reply). */
  private readonly outstanding = new Map<string, OutstandingAttempt>();
  /** Durable runs whose first write has not landed: a failure there refuses the run instead of retrying. */
  private readonly unaccepted = new Set<string>();
  private readonly reRequestMs: number;
  private readonly noRespondersGraceMs: number;
  /** Since when the connection to the services is away (`disconnected`), if it is. */
  private disconnectedAt?: number;
  private stopped = false;

  constructor(ports: ExecutorPorts, options: ExecutorOptions = {}) {
    this.store = ports.store;
    this.dispatcher = ports.dispatcher;
    this.payloads = ports.payloads;
    this.router = ports.router;
    this.clock = ports.clock;
    this.outcomes = ports.outcomes;
    this.split = ports.split;
    this.listeners = ports.listeners ?? [];
    this.finishedRunsKept = options.finishedRunsKept ?? 10_000;
    this.unknownRunMessage = options.unknownRunMessage ?? ((id) => `unknown run "${id}"`);
    this.newId = options.newId ?? randomUUID;
    this.reRequestMs = options.reRequestMs ?? RE_REQUEST_MS;
    this.noRespondersGraceMs = options.noRespondersGraceMs ?? NO_RESPONDERS_GRACE_MS;
  }

  /**
   * Loads every stored run (or those `owned` accepts: a store shared with other engines holds
   * theirs too, and those are theirs to execute); returns how many, the running ones (for
   * `resume` once instances are known again), and all of them.
   */
  async restore(
    owned: (run: RunRecord) => boolean = () => true,
  ): Promise<{ restored: number; running: RunRecord[]; runs: RunRecord[] }> {
    const stored = (await this.store.loadAll()).filter(owned);
    // Oldest first, so the retention sweep can stop at the first run still within it.
    stored.sort((a, b) => (a.finishedAt ?? a.updatedAt).localeCompare(b.finishedAt ?? b.updatedAt));
    for (const run of stored) {
      this.runs.set(run.id, run);
      if (isTerminalRun(run.status)) this.finishedOrder.push(run.id);
    }
    return { restored: stored.length, running: stored.filter((r) => r.status === 'running'), runs: stored };
  }

  /** Stops deciding and clears timers; replies that still arrive change nothing. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) this.clock.clearTimer(timer);
    this.timers.clear();
    for (const out of this.outstanding.values()) if (out.timer !== undefined) this.clock.clearTimer(out.timer);
  }

  /**
   * The connection to the services is lost (NATS is away): no attempt out fails for want of
   * a reply until it is back — the time away does not count against the steps' timeouts.
   */
  disconnected(): void {
    this.disconnectedAt ??= this.clock.now();
  }

  /**
   * The connection to the services came back (a NATS reconnect): a reply sent while it was
   * down is lost, so every attempt out is requested again now — the same attempt, with its
   * key, on its instance (which answers from its result cache if it ran it already) — with
   * its deadline moved on by the time the connection was away.
   */
  reconnected(): void {
    const away = this.disconnectedAt === undefined ? 0 : this.clock.now() - this.disconnectedAt;
    this.disconnectedAt = undefined;
    if (this.stopped) return;
    for (const out of this.outstanding.values()) {
      if (out.timer !== undefined) this.clock.clearTimer(out.timer);
      out.timer = undefined;
      out.deadline += away;
      this.request(out);
    }
  }

  // ---- public API ---------------------------------------------------------

  async start(request: StartRequest): Promise<RunRecord> {
    return (await this.startOnce(request)).run;
  }

  /**
   * Starts a run, or — when `request.id` names a run that already exists in memory or in the
   * store, or is being started right now — returns that one (`created: false`). When it
   * resolves with `created: true`, a durable run's first record is stored: a caller that
   * acknowledges a message only then never loses the run, and one that sees the same message
   * again gets the same run back.
   */
  startOnce(request: StartRequest): Promise<{ run: RunRecord; created: boolean }> {
    const id = request.id;
    if (id === undefined) return this.create(this.newId(), request).then((run) => ({ run, created: true }));
    // Being started: wait for its first write (the run is in memory before it is stored).
    const starting = this.starting.get(id);
    if (starting) return starting.then((run) => ({ run, created: false }));
    const known = this.runs.get(id);
    if (known) return Promise.resolve({ run: known, created: false });
    const started = (async () => {
      try {
        const stored = await this.store.load(id);
        if (stored) return { run: stored, created: false };
        return { run: await this.create(id, request), created: true };
      } finally {
        this.starting.delete(id);
      }
    })();
    const run = started.then((s) => s.run);
    run.catch(() => undefined);
    this.starting.set(id, run);
    return started;
  }

  private async create(id: string, request: StartRequest): Promise<RunRecord> {
    if (this.stopped) throw new YunbianError('UNAVAILABLE', 'the engine is stopping; no run is started');
    if ((request.depth ?? 0) > LIMITS.subWorkflowDepth) {
      throw new YunbianError('BAD_REQUEST', `sub-workflows nest deeper than ${LIMITS.subWorkflowDepth} levels`);
    }
    const run = createRun({
      id,
      definition: request.definition,
      input: await this.offload(id, request.input ?? {}, `${id}.input`),
      durability: request.durability,
      now: new Date(this.clock.now()),
      parent: request.parent,
      depth: request.depth,
      origin: request.origin,
      dataTier: request.dataTier,
      executedBy: request.executedBy,
    });
    const parentRun = request.parent ? this.runs.get(request.parent.runId) : undefined;
    for (const listener of this.listeners) {
      const annotations = listener.runCreating?.(run, parentRun);
      if (annotations) Object.assign(run, annotations);
    }
    this.runs.set(run.id, run);
    if (run.durability === 'durable') this.unaccepted.add(run.id);
    // The first round stores the run together with its first dispatches (one write, not two)
    // before anything is sent; a run that cannot be stored is not accepted.
    try {
      await this.locked(run.id, () => this.step(run.id, true));
    } catch (err) {
      this.unaccepted.delete(run.id);
      // A durable run never stored was not accepted: forgotten, so a caller trying again with
      // the same id (a redelivered message) starts it anew instead of finding a run no store holds.
      if (run.durability === 'durable' && this.runs.get(run.id) === run) {
        const stored = await this.store.load(run.id).catch(() => undefined);
        if (!stored) this.runs.delete(run.id);
      }
      throw err;
    }
    return run;
  }

  get(id: string): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new YunbianError('NOT_FOUND', this.unknownRunMessage(id));
    return run;
  }

  /** A run from memory, or (durable runs no longer held in memory) from the store. */
  async find(id: string): Promise<RunRecord> {
    const run = this.runs.get(id) ?? (await this.store.load(id));
    if (!run) throw new YunbianError('NOT_FOUND', this.unknownRunMessage(id));
    return run;
  }

  list(filter: { workflow?: string; status?: RunStatus; limit?: number }): RunRecord[] {
    const limit = Math.min(filter.limit ?? 100, 1_000);
    return [...this.runs.values()]
      .filter((r) => !filter.workflow || r.workflow.name === filter.workflow)
      .filter((r) => !filter.status || r.status === filter.status)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, limit);
  }

  /** How many runs this executor holds that are running. */
  runningCount(): number {
    let n = 0;
    for (const run of this.runs.values()) if (run.status === 'running') n++;
    return n;
  }

  /** Resolves with the run once finished, or after `timeoutMs` (Infinity: no limit) with it as it is. */
  waitFor(id: string, timeoutMs: number): Promise<RunRecord> {
    const run = this.get(id);
    if (isTerminalRun(run.status) || timeoutMs <= 0) return Promise.resolve(run);
    return new Promise((resolve) => {
      // No timer for a wait without a limit (an embedded caller's `run`): one less per run.
      const timer = timeoutMs === Infinity ? undefined : this.clock.setTimer(() => resolve(this.get(id)), timeoutMs);
      const list = this.waiters.get(id) ?? [];
      list.push((finished) => {
        if (timer !== undefined) this.clock.clearTimer(timer);
        resolve(finished);
      });
      this.waiters.set(id, list);
    });
  }

  async cancel(id: string, reason = 'cancelled by request'): Promise<RunRecord> {
    const run = this.get(id);
    await this.locked(id, async () => {
      if (!cancelRun(run, this.clock.now(), reason)) {
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
      if (!resumeRun(run, this.clock.now())) {
        throw new YunbianError('CONFLICT', `run ${id} is ${run.status}; only failed or cancelled runs can be retried`);
      }
      this.announced.delete(run);
      await this.persist(run);
    });
    void this.advance(id);
    return run;
  }

  /**
   * The outcome of an attempt. Results that arrive while the run is busy (a state write in
   * flight, say) wait together and are applied in one round: one decision and one write
   * for all of them, not one each.
   */
  report(runId: string, outcome: AttemptResult): Promise<void> {
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
      const now = this.clock.now();
      for (const result of batch) if (applyResult(run, result, now)) changed = true;
      if (changed) await this.step(runId, true);
    }).catch((err: Error) => {
      // Released meanwhile (taken over elsewhere): the release said so, once for every run.
      if (!this.runs.has(runId)) return;
      this.problem('result could not be applied', { run_id: runId, error: err.message }, 'error');
    });
  }

  /**
   * Attempts out on an instance that died fail now (and retry elsewhere) instead of at their
   * deadline. Found from the runs' own state: the router keeps the only count per instance.
   */
  instanceLost(instanceId: string, message: string): void {
    for (const run of this.runs.values()) {
      if (run.status !== 'running') continue;
      for (const [stepId, state] of Object.entries(run.steps)) {
        if (state.status !== 'running') continue;
        for (const [i, task] of state.tasks.entries()) {
          const attempt = outstandingAttempt(task);
          if (attempt?.instanceId !== instanceId || attempt.childRunId || !attempt.startedAt) continue;
          void this.report(run.id, {
            stepId,
            task: i,
            attempt: attempt.n,
            ok: false,
            error: { code: 'UNAVAILABLE', message },
          });
        }
      }
    }
  }

  /**
   * After a restart: what was out when the executor stopped is sent again as the decider
   * says (`resumeDecision`: same attempt, same key, the step's timeout), then the run goes on.
   */
  async resume(id: string): Promise<void> {
    const run = this.runs.get(id);
    if (!run || run.status !== 'running') return;
    await this.locked(id, async () => {
      for (const state of Object.values(run.steps))
        for (const task of state.tasks) {
          const childId = outstandingAttempt(task)?.childRunId;
          const child = childId === undefined ? undefined : this.runs.get(childId);
          // A child that ended while the parent was not listening tells it now.
          if (child && isTerminalRun(child.status)) this.finished(child);
        }
      const decision = resumeDecision(run);
      // Attempts whose worker kept an outcome finished while no engine listened: applied, not sent again.
      const kept = await this.keptOutcomes(decision.actions as DispatchAction[]);
      const now = this.clock.now();
      const sends: (() => void)[] = [];
      for (const action of decision.actions) apply(run, action, now);
      for (const action of decision.actions) {
        const dispatch = action as DispatchAction;
        if (!kept.has(dispatch)) sends.push(this.prepare(run, dispatch, now));
      }
      await this.persist(run);
      for (const send of sends) send();
      let changed = false;
      for (const [dispatch, outcome] of kept)
        if (applyResult(run, this.outcomeOf(dispatch, outcome), this.clock.now())) changed = true;
      await this.step(id, changed);
    });
  }

  /** The kept outcomes of service attempts about to be sent again (none without an outcome source, or when it fails). */
  private async keptOutcomes(dispatches: DispatchAction[]): Promise<Map<DispatchAction, Outcome>> {
    const kept = new Map<DispatchAction, Outcome>();
    const source = this.outcomes;
    if (!source) return kept;
    await Promise.all(
      dispatches
        .filter((d) => d.kind === 'service')
        .map(async (dispatch) => {
          try {
            const outcome = await source.get(dispatch.attempt.idempotencyKey);
            if (outcome) kept.set(dispatch, outcome);
          } catch (err) {
            // The worker's own cache still answers the resend.
            this.problem(
              'kept outcome could not be read; sending the attempt again',
              { key: dispatch.attempt.idempotencyKey, error: (err as Error).message },
              'warn',
            );
          }
        }),
    );
    return kept;
  }

  /**
   * Takes over a running run another engine was executing (it stopped): the run is held here
   * from now on, `executedBy` names this engine and says why, and it goes on as after a
   * restart (`resume`: what was out is sent again with the same idempotency keys). Resolves
   * once the rewritten record is stored and the resends are out.
   */
  async adopt(run: RunRecord, executedBy: RunEngine): Promise<void> {
    if (run.status !== 'running') {
      throw new YunbianError('CONFLICT', `run ${run.id} is ${run.status}; only running runs can be taken over`);
    }
    const held = this.runs.get(run.id);
    if (held && held !== run && held.status === 'running') {
      throw new YunbianError('CONFLICT', `run ${run.id} is already executed by this engine`);
    }
    // Which engine holds the run is not step state: it is the one change to a run that is
    // not the decider's, made here, once, and stored with the round `resume` writes.
    run.executedBy = executedBy;
    this.runs.set(run.id, run);
    await this.resume(run.id);
  }

  /**
   * Forgets every run this executor holds, without a write, a send or an outcome: another
   * engine took them over (this one's lease was lost while it was hung), so they are no
   * longer this one's to act on. Attempts out are left to their new owner (it resends them
   * with the same keys); callers waiting for a run get it as it was; a round still in flight
   * finds its run no longer held and stores nothing. Returns how many were running.
   */
  release(): number {
    let running = 0;
    for (const run of this.runs.values()) if (run.status === 'running') running++;
    for (const timer of this.timers.values()) this.clock.clearTimer(timer);
    this.timers.clear();
    for (const out of [...this.outstanding.values()]) this.conclude(out, undefined);
    this.outstanding.clear();
    const held = [...this.runs.values()];
    this.runs.clear();
    this.finishedOrder.length = 0;
    this.pendingResults.clear();
    this.resolved.clear();
    this.withPayloads.clear();
    this.unaccepted.clear();
    for (const run of held) {
      for (const resolve of this.waiters.get(run.id) ?? []) resolve(run);
    }
    this.waiters.clear();
    return running;
  }

  /**
   * Forgets finished runs that ended before `cutoff` (epoch ms) from memory, and drops large
   * final outputs stored before it; the store's own housekeeping runs after. With
   * `housekeeping: false` only memory is swept (replicas sharing a store leave the shared
   * part to one of them).
   */
  async sweep(cutoff: number, options: { housekeeping?: boolean } = {}): Promise<void> {
    while (this.finishedOrder.length > 0) {
      const run = this.runs.get(this.finishedOrder[0]);
      const ended = run && isTerminalRun(run.status) ? Date.parse(run.finishedAt ?? run.updatedAt) : undefined;
      if (ended !== undefined && ended > cutoff) break;
      this.finishedOrder.shift();
      // A run retried since it was listed here is running again and listed anew when it ends.
      if (ended !== undefined) this.runs.delete(run!.id);
    }
    if (options.housekeeping === false) return;
    await this.payloads.deleteOlderThan(cutoff, (name) => name.endsWith('-result'));
    await this.store.compact();
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
    return this.locked(id, () => this.step(id)).catch((err: Error) => {
      if (!this.runs.has(id)) return;
      this.problem('run could not advance', { run_id: id, error: err.stack ?? err.message }, 'error');
    });
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
      const fetching = this.prefetch(run);
      if (fetching) await fetching;
      const now = this.clock.now();
      const decision = await decide(run, now, (value) => this.resolveCached(run.id, value));
      const actions = decision.actions;
      if (actions.length === 0) {
        this.scheduleWake(run, decision.wakeAt);
        break;
      }
      // Large values enter the run's state as references: the actions carry them so.
      const dispatches: DispatchAction[] = [];
      for (const action of actions) {
        if (action.type === 'dispatch') {
          await this.offloadInput(run, action);
          dispatches.push(action);
        } else if (action.type === 'complete-run') {
          // A large result stays in the payload store (under a name cleanup leaves alone).
          action.output = await this.payloads.offload(action.output, `${run.id}-result`);
        }
      }
      for (const action of actions) apply(run, action, now);
      dirty = true;
      if (dispatches.length === 0) continue;
      const sends = dispatches.map((d) => this.prepare(run, d, now));
      const storing = this.persist(run);
      if (storing) await storing;
      dirty = false;
      for (const send of sends) send();
      // Sending changes nothing another decision could act on; the replies will.
      if (dispatches.length === actions.length) {
        this.scheduleWake(run, decision.wakeAt);
        break;
      }
    }
    if (dirty) {
      const storing = this.persist(run);
      if (storing) await storing;
    }
    if (isTerminalRun(run.status)) this.finished(run);
  }

  private scheduleWake(run: RunRecord, wakeAt: number | undefined): void {
    const timer = this.timers.get(run.id);
    if (timer !== undefined) {
      this.clock.clearTimer(timer);
      this.timers.delete(run.id);
    }
    if (wakeAt === undefined || run.status !== 'running') return;
    this.timers.set(
      run.id,
      this.clock.setTimer(
        () => {
          this.timers.delete(run.id);
          void this.advance(run.id);
        },
        Math.max(0, wakeAt - this.clock.now()),
      ),
    );
  }

  /**
   * Routes a dispatch (recording the placement with a `place-attempt` action before the run
   * is stored) and returns the function that sends it once the state is stored.
   */
  private prepare(run: RunRecord, dispatch: DispatchAction, now: number): () => void {
    if (dispatch.kind === 'workflow') return () => void this.startChild(run, dispatch);
    if (dispatch.kind === 'split') return () => void this.runSplit(run, dispatch);
    const task = run.steps[dispatch.stepId].tasks[dispatch.task];
    // A resend goes to the instance the attempt was out on while it is there (its worker may
    // have run it already and answers from its result cache); elsewhere only when it is gone.
    const pinnedId = dispatch.type === 'resend' ? outstandingAttempt(task)?.instanceId : undefined;
    const pinned = pinnedId === undefined ? undefined : this.router.instance?.(pinnedId);
    if (pinned) {
      const reason = `resent to instance ${pinned.id}, which the attempt was out on`;
      return () => this.send(run, dispatch, { instance: pinned, strategy: 'pinned', reason });
    }
    let decision: RouteDecision;
    try {
      const avoid = task.attempts.filter((a) => a.error && a.instanceId).map((a) => a.instanceId!);
      const input = dispatch.input;
      decision = this.router.route({
        service: dispatch.attempt.target,
        // One literal shape for every request (no spread on this path, see placeStep's call).
        model: dispatch.model,
        splitKey: dispatch.model === undefined ? undefined : `${run.id}:${dispatch.stepId}:${task.index ?? ''}`,
        hints: dispatch.placement,
        avoid,
        inputBytes:
          this.inputBytes.get(dispatch) ??
          (isPayloadRef(input) ? input.$ybRef.bytes : input === undefined ? 0 : JSON.stringify(input).length),
        origin: this.originOf(run, dispatch.stepId),
        dataTier: dispatch.placement?.dataTier ?? run.dataTier,
      });
      for (const listener of this.listeners) listener.placement?.(decision.strategy, 'placed');
    } catch (err) {
      const strategy = dispatch.placement?.strategy ?? 'default';
      for (const listener of this.listeners) listener.placement?.(strategy, 'unsatisfiable');
      const error = YunbianError.from(err).toBody();
      return () => void this.report(run.id, this.outcomeOf(dispatch, { ok: false, error }));
    }
    apply(
      run,
      placeAttempt(dispatch, {
        service: `${decision.instance.service}@${decision.instance.version}`,
        instanceId: decision.instance.id,
        nodeId: decision.node.id,
        placement: { strategy: decision.strategy, reason: decision.reason, candidates: decision.candidates },
        model: decision.model,
      }),
      now,
    );
    return () => this.send(run, dispatch, decision);
  }

  private outcomeOf(dispatch: DispatchAction, outcome: Outcome): AttemptResult {
    return { stepId: dispatch.stepId, task: dispatch.task, attempt: dispatch.attempt.n, ...outcome };
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
    const site = this.router.siteOf(latest.nodeId);
    return site === undefined ? run.origin : { nodeId: latest.nodeId, site };
  }

  private send(run: RunRecord, dispatch: DispatchAction, target: Target): void {
    if (this.runs.get(run.id) !== run) return;
    const task = run.steps[dispatch.stepId].tasks[dispatch.task];
    const attempt = outstandingAttempt(task);
    if (attempt?.n !== dispatch.attempt.n) return;
    const instance = target.instance;
    apply(run, startAttempt(dispatch), this.clock.now());
    this.router.sent(instance.id);
    const sent: SentAttempt = {
      run,
      stepId: dispatch.stepId,
      task,
      attempt,
      service: attempt.service!,
      instance,
      placement: { strategy: target.strategy, reason: target.reason },
    };
    let scopes: AttemptScope[] | undefined;
    for (const listener of this.listeners) {
      const scope = listener.attemptSent?.(sent);
      if (scope) (scopes ??= []).push(scope);
    }
    const input = attempt.input ?? task.input;
    const out: OutstandingAttempt = {
      run,
      dispatch,
      sent,
      instance,
      input,
      // The JSON of the size check, when it is of the very value sent (not of one since offloaded).
      inputJson: input === dispatch.input ? this.inputJson.get(dispatch) : undefined,
      deadline: this.clock.now() + dispatch.timeoutMs,
      started: performance.now(),
      scopes,
      request: 0,
      failures: 0,
      done: false,
    };
    // A resend after a restart replaces what an earlier send of the attempt left here.
    const key = attempt.idempotencyKey;
    const earlier = this.outstanding.get(key);
    if (earlier) this.conclude(earlier, undefined);
    this.outstanding.set(key, out);
    this.request(out);
  }

  /** Sends one request of an outstanding attempt, waiting at most `reRequestMs` for its reply. */
  private request(out: OutstandingAttempt): void {
    if (out.done || this.stopped) return;
    const { sent, instance, input, inputJson } = out;
    const remaining = out.deadline - this.clock.now();
    if (remaining <= 0) {
      // Away: `reconnected` asks again with the deadline moved on.
      if (this.disconnectedAt !== undefined) return;
      return this.noReply(out);
    }
    const n = ++out.request;
    const timeoutMs = Math.min(this.reRequestMs, remaining);
    const attempt = sent.attempt;
    let call = () =>
      this.dispatcher
        .call({ instance, input, timeoutMs, idempotencyKey: attempt.idempotencyKey, inputJson })
        .then((reply) => {
          out.exchange = reply.exchange;
          return reply.value;
        });
    for (const scope of out.scopes ?? []) {
      if (!scope.around) continue;
      const inner = call;
      call = () => scope.around!(inner);
    }
    call().then(
      // Any request's reply is the attempt's (a repeated key gets the first execution's reply).
      (output) => this.conclude(out, { ok: true, output }),
      (err: unknown) => {
        if (out.done || n !== out.request) return; // a later request of the attempt is out
        this.undelivered(out, err);
      },
    );
  }

  /**
   * A request failed. When the reply may just not have reached us — no reply in time, no
   * responders (the worker is reconnecting), the connection failed — and the attempt is still
   * the one out, its instance still there and its step's time not over, the same attempt is
   * requested again; anything else (the handler's own error, the instance gone) ends it.
   */
  private undelivered(out: OutstandingAttempt, err: unknown): void {
    const error = YunbianError.from(err);
    const now = this.clock.now();
    const delivery =
      !(err instanceof RemoteError) &&
      (error.code === 'TIMEOUT' || error.code === 'NO_RESPONDERS' || error.code === 'UNAVAILABLE');
    if (!delivery || !this.stillOut(out)) return this.conclude(out, { ok: false, error: error.toBody() }, error);
    if (out.deadline - now <= 0) return this.request(out); // fails it, unless the connection is away
    if (error.code === 'TIMEOUT') {
      // It waited its full time already: ask again at once.
      out.failures = 0;
      out.noRespondersSince = undefined;
      return this.request(out);
    }
    if (error.code === 'NO_RESPONDERS' && this.disconnectedAt === undefined) {
      out.noRespondersSince ??= now;
      if (now - out.noRespondersSince >= this.noRespondersGraceMs)
        return this.conclude(out, { ok: false, error: error.toBody() }, error);
    }
    const delay = Math.min(RESEND_BACKOFF_MS.max, RESEND_BACKOFF_MS.first * 2 ** out.failures++, out.deadline - now);
    out.timer = this.clock.setTimer(() => {
      out.timer = undefined;
      this.request(out);
    }, delay);
  }

  /** Whether the attempt is still the one its task waits for, on an instance the router still knows. */
  private stillOut(out: OutstandingAttempt): boolean {
    const { run, dispatch } = out;
    if (run.status !== 'running' || this.runs.get(run.id) !== run) return false;
    const current = outstandingAttempt(run.steps[dispatch.stepId].tasks[dispatch.task]);
    if (current?.n !== dispatch.attempt.n) return false;
    // A router that cannot say (no `instance`) is taken to still know it.
    return this.router.instance ? this.router.instance(out.instance.id) !== undefined : true;
  }

  /** The step's time for the attempt ran out without a reply. */
  private noReply(out: OutstandingAttempt): void {
    const timeoutMs = out.dispatch.timeoutMs;
    const error = new YunbianError(
      'TIMEOUT',
      `step ${out.dispatch.stepId} got no reply from instance ${out.instance.id} within ${timeoutMs} ms`,
      { timeoutMs },
    );
    this.conclude(out, { ok: false, error: error.toBody() }, error);
  }

  /** The attempt's outcome (once): listeners, scopes and the router hear of it, and the run gets it. */
  private conclude(out: OutstandingAttempt, outcome: Outcome | undefined, error?: YunbianError): void {
    if (out.done) return;
    out.done = true;
    if (out.timer !== undefined) this.clock.clearTimer(out.timer);
    const key = out.sent.attempt.idempotencyKey;
    if (this.outstanding.get(key) === out) this.outstanding.delete(key);
    if (outcome) this.settled(out.sent, outcome.ok ? 'ok' : outcome.error.code, out.started);
    for (const scope of out.scopes ?? []) scope.end(outcome?.ok === false ? error : undefined);
    // A request left without an outcome (replaced by a resend) says nothing of the instance's speed.
    const durationMs = outcome ? performance.now() - out.started : undefined;
    this.router.settled(out.instance.id, durationMs, outcome?.ok ? out.exchange : undefined);
    if (outcome) void this.report(out.run.id, this.outcomeOf(out.dispatch, outcome));
  }

  private settled(
    sent: SentAttempt,
    outcome: Parameters<NonNullable<RunListener['attemptSettled']>>[1],
    started: number,
  ) {
    const durationMs = performance.now() - started;
    for (const listener of this.listeners) listener.attemptSettled?.(sent, outcome, durationMs);
  }

  // ---- sub-workflows ------------------------------------------------------

  private async startChild(parent: RunRecord, dispatch: DispatchAction): Promise<void> {
    try {
      let input = this.plainInputs.has(dispatch) ? this.plainInputs.get(dispatch) : dispatch.input;
      if (isPayloadRef(input)) input = await this.payloads.resolve(input);
      const child = await this.dispatcher.startWorkflow({
        target: dispatch.attempt.target,
        input,
        durability: parent.durability,
        parent: { runId: parent.id, stepId: dispatch.stepId, taskIndex: dispatch.task, attempt: dispatch.attempt.n },
        depth: parent.depth + 1,
      });
      let wanted = false;
      await this.locked(parent.id, async () => {
        const attempt = outstandingAttempt(parent.steps[dispatch.stepId].tasks[dispatch.task]);
        if (attempt?.n === dispatch.attempt.n) {
          wanted = true;
          apply(parent, startAttempt(dispatch, child.id), this.clock.now());
          await this.persist(parent);
        }
      });
      // The parent ended (or gave up on this attempt) while the child started.
      if (!wanted && this.runs.get(child.id)?.status === 'running')
        await this.cancel(child.id, `parent run ${parent.id} no longer waits for it`).catch(() => undefined);
    } catch (err) {
      void this.report(parent.id, this.outcomeOf(dispatch, { ok: false, error: YunbianError.from(err).toBody() }));
    }
  }

  /**
   * A split step's attempt: the split port plans the cut, runs the head and the tail on their
   * nodes (through this executor's dispatcher, so large tensors travel by payload reference)
   * and answers the tail's outputs with what it measured. No placement: the step names both ends.
   */
  private async runSplit(run: RunRecord, dispatch: DispatchAction): Promise<void> {
    try {
      if (!this.split)
        throw new YunbianError(
          'BAD_REQUEST',
          `step ${dispatch.stepId} is a split step; this engine cannot run split inference (the cloud orchestrator's engine does)`,
        );
      const step = run.definition.steps.find((s) => s.id === dispatch.stepId)!;
      let input = dispatch.input;
      if (isPayloadRef(input)) input = await this.payloads.resolve(input);
      let started = false;
      await this.locked(run.id, async () => {
        const attempt = outstandingAttempt(run.steps[dispatch.stepId].tasks[dispatch.task]);
        if (attempt?.n === dispatch.attempt.n) {
          started = true;
          apply(run, startAttempt(dispatch), this.clock.now());
        }
      });
      if (!started) return;
      const output = await this.split.run({
        runId: run.id,
        stepId: dispatch.stepId,
        idempotencyKey: dispatch.attempt.idempotencyKey,
        split: step.split!,
        input,
        timeoutMs: dispatch.timeoutMs,
        call: (request) => this.dispatcher.call(request).then((r) => r.value),
        offload: (value, name) => this.offload(run.id, value, name),
        resolve: async (value) => (isPayloadRef(value) ? this.payloads.resolve(value) : value),
      });
      const stored = await this.offload(run.id, output, `${dispatch.attempt.idempotencyKey}.out`);
      void this.report(run.id, this.outcomeOf(dispatch, { ok: true, output: stored }));
    } catch (err) {
      void this.report(run.id, this.outcomeOf(dispatch, { ok: false, error: YunbianError.from(err).toBody() }));
    }
  }

  private children(run: RunRecord): RunRecord[] {
    return [...this.runs.values()].filter((r) => r.parent?.runId === run.id);
  }

  // ---- large payloads -----------------------------------------------------

  /** An input too large for a message (and for the run record) goes to the payload store first. */
  private async offloadInput(run: RunRecord, dispatch: Extract<DispatchAction, { type: 'dispatch' }>): Promise<void> {
    const input = this.reuseReferences(dispatch.input);
    // Serialised once here: the size check and placement's input size both use it.
    const json = input === undefined ? undefined : JSON.stringify(input);
    const stored = await this.offload(run.id, input, `${dispatch.attempt.idempotencyKey}.in`, json);
    this.inputBytes.set(dispatch, isPayloadRef(stored) ? stored.$ybRef.bytes : (json?.length ?? 0));
    if (json !== undefined && stored === input) this.inputJson.set(dispatch, json);
    if (stored !== dispatch.input) {
      if (dispatch.kind === 'workflow') this.plainInputs.set(dispatch, dispatch.input);
      dispatch.input = stored;
    }
  }

  private async offload(runId: string, value: unknown, name: string, json?: string): Promise<unknown> {
    const stored = await this.payloads.offload(value, name, json);
    if (stored !== value) this.withPayloads.add(runId);
    return stored;
  }

  /**
   * Fetches the large values the run's state refers to (once each). Undefined, not a
   * promise, when there is nothing to fetch: most rounds of most runs.
   */
  private prefetch(run: RunRecord): Promise<void> | undefined {
    const refs: PayloadRef[] = [];
    collectRefs(run.input, refs);
    for (const { id } of run.definition.steps) {
      const state = run.steps[id];
      if (!state) continue;
      collectRefs(state.output, refs);
      for (const task of state.tasks) {
        collectRefs(task.primaryOutput, refs);
        if (isPayloadRef(task.input)) this.withPayloads.add(run.id);
      }
    }
    if (refs.length === 0) return undefined;
    return this.fetchRefs(run, refs);
  }

  private async fetchRefs(run: RunRecord, refs: PayloadRef[]): Promise<void> {
    this.withPayloads.add(run.id);
    let cache = this.resolved.get(run.id);
    if (!cache) this.resolved.set(run.id, (cache = new Map()));
    while (refs.length > 0) {
      const found = refs.pop()!;
      const name = found.$ybRef.name;
      if (cache.has(name)) continue;
      // Passed on, a value travels as this reference again, with its real size (placement weighs it).
      const ref: PayloadRef = {
        $ybRef: {
          bucket: found.$ybRef.bucket ?? PAYLOAD_BUCKET,
          name,
          bytes: found.$ybRef.bytes,
          ...(found.$ybRef.domain ? { domain: found.$ybRef.domain } : {}),
        },
      };
      const value = await this.payloads.resolve(ref);
      cache.set(name, value);
      if (value !== null && typeof value === 'object') {
        this.refOf.set(value, ref);
        collectRefs(value, refs);
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

  // ---- completion ---------------------------------------------------------

  private finished(run: RunRecord): void {
    if (this.announced.has(run)) return;
    this.announced.add(run);
    for (const listener of this.listeners) listener.runFinished?.(run);
    this.resolved.delete(run.id);
    if (this.withPayloads.delete(run.id)) {
      // A run's payloads are named after it (inputs, and outputs by idempotency key).
      this.payloads
        .deleteWithPrefix(`${run.id}.`)
        .then(() => this.payloads.deleteWithPrefix(`${run.id}:`))
        .catch((err: Error) => this.problem('payload cleanup failed', { run_id: run.id, error: err.message }, 'warn'));
    }
    const timer = this.timers.get(run.id);
    if (timer !== undefined) {
      this.clock.clearTimer(timer);
      this.timers.delete(run.id);
    }
    // Sub-workflows a failed run abandoned end with it (a cancel ends its children itself).
    for (const childId of run.status === 'failed' ? abandonedChildRuns(run) : [])
      if (this.runs.get(childId)?.status === 'running')
        void this.cancel(childId, `parent run ${run.id} failed`).catch(() => undefined);
    for (const resolve of this.waiters.get(run.id) ?? []) resolve(run);
    this.waiters.delete(run.id);
    if (run.parent) {
      const p = run.parent;
      const outcome: Outcome =
        run.status === 'succeeded'
          ? { ok: true, output: run.output }
          : {
              ok: false,
              error: {
                code: run.error?.code ?? 'INTERNAL',
                message: `sub-workflow run ${run.id} ${run.status}: ${run.error?.message ?? ''}`,
                details: run.error?.details,
              },
            };
      if (this.runs.has(p.runId))
        void this.report(p.runId, { stepId: p.stepId, task: p.taskIndex ?? 0, attempt: p.attempt, ...outcome });
    }
    this.finishedOrder.push(run.id);
    while (this.finishedOrder.length > this.finishedRunsKept) this.runs.delete(this.finishedOrder.shift()!);
  }

  /**
   * Stores a durable run; an ephemeral one has nothing to wait for (no promise made for it).
   * A write that fails (the store gave up: NATS away longer than its own retries) is tried
   * again with backoff until it lands — the run waits, holding its results, instead of being
   * wedged with sends never made — unless it is the run's first write: a run never stored
   * is refused to its caller instead.
   */
  private persist(run: RunRecord): Promise<void> | undefined {
    if (run.durability !== 'durable') return undefined;
    // Released meanwhile (taken over by another engine): nothing of it is written any more.
    if (this.runs.get(run.id) !== run) return Promise.reject(notHeld(run.id));
    if (this.unaccepted.has(run.id)) return this.store.save(run).then(() => void this.unaccepted.delete(run.id));
    return this.store.save(run).catch((err: unknown) => this.saveAgain(run, err));
  }

  private async saveAgain(run: RunRecord, err: unknown): Promise<void> {
    for (let failures = 0; ; failures++) {
      if (this.stopped) throw err;
      if (this.runs.get(run.id) !== run) throw notHeld(run.id);
      const delay = Math.min(SAVE_BACKOFF_MS.max, SAVE_BACKOFF_MS.first * 2 ** failures);
      this.problem(
        'run state could not be stored; trying again',
        { run_id: run.id, error: (err as Error).message, failures: failures + 1, retry_in_ms: delay },
        'warn',
      );
      await new Promise<void>((resolve) => this.clock.setTimer(resolve, delay));
      if (this.runs.get(run.id) !== run) throw notHeld(run.id);
      try {
        return await this.store.save(run);
      } catch (again) {
        err = again;
      }
    }
  }

  private problem(message: string, fields: Record<string, unknown>, level: 'warn' | 'error'): void {
    for (const listener of this.listeners) listener.problem?.(message, fields, level);
  }
}

function notHeld(runId: string): YunbianError {
  return new YunbianError('CONFLICT', `run ${runId} is no longer executed by this engine (it was released)`);
}

/** Adds the references in `value`: itself, or its fields or elements (forEach outputs, objects whose large fields moved out). */
function collectRefs(value: unknown, refs: PayloadRef[]): void {
  if (value === null || typeof value !== 'object') return;
  if (isPayloadRef(value)) {
    refs.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) if (isPayloadRef(v)) refs.push(v);
  } else {
    for (const key in value) {
      const v = (value as Record<string, unknown>)[key];
      if (isPayloadRef(v)) refs.push(v);
    }
  }
}
