import type { ErrorBody } from '@yunbian/contracts';
import {
  DEFAULT_FOREACH_CONCURRENCY,
  DEFAULT_TIMEOUT_MS,
  LIMITS,
  type PlacementHints,
  type StepDefinition,
  type WorkflowDefinition,
} from './definition';
import { dependencies } from './graph';
import { evaluate, evaluateMapping, type Bindings } from './mapping';
import { isRetryable, retryDelay, retryPolicy } from './retry';
import {
  idempotencyKey,
  isTerminalStep,
  isTerminalTask,
  type Attempt,
  type AttemptPurpose,
  type RunRecord,
  type StepState,
  type TaskState,
} from './run';
import { fallBack, judgeTier, requestBatch, sliceRequest, TierError, type TierProgress } from './tiers';
import { primaryTarget, stepKind, type StepKind } from './split-step';
import { isoTime } from './time';

/** What the executor must do next; applying an action to the run is pure (see `apply`). */
/** What sending one attempt needs: a first dispatch and a resend after a restart alike. */
export interface AttemptSend {
  stepId: string;
  task: number;
  kind: StepKind;
  attempt: Attempt;
  input: unknown;
  timeoutMs: number;
  placement?: PlacementHints;
  /** The step's `model` for its own (primary) service calls; undefined otherwise. */
  model: string | undefined;
}

export type Action =
  | { type: 'skip-step'; stepId: string; reason: string }
  | { type: 'start-step'; stepId: string; items: unknown[] | null }
  | ({ type: 'dispatch' } & AttemptSend)
  /**
   * After a restart: the attempt that was out is sent again (the same attempt, with the
   * same idempotency key, input and timeout); see `resumeDecision`.
   */
  | ({ type: 'resend' } & AttemptSend)
  /** Where placement sent a dispatched attempt (the router chose; see `placeAttempt`). */
  | {
      type: 'place-attempt';
      stepId: string;
      task: number;
      attempt: number;
      service: string;
      instanceId: string;
      nodeId: string;
      placement: unknown;
      /** `name@version` of the model the instance serves, when the step named one. */
      model?: string;
    }
  /** A dispatched attempt left: sent to its instance, or its sub-workflow run started. */
  | { type: 'start-attempt'; stepId: string; task: number; attempt: number; childRunId?: string }
  /** A tiered step's task moved on: a tier's answer judged (or its tier found unreachable). */
  | { type: 'tier-progress'; stepId: string; task: number; progress: TierProgress }
  | { type: 'task-succeeded'; stepId: string; task: number; output: unknown }
  | { type: 'task-failed'; stepId: string; task: number; error: ErrorBody }
  | { type: 'complete-step'; stepId: string; output: unknown }
  | { type: 'fail-step'; stepId: string; error: ErrorBody }
  /** The run ended first: the step never started, or its attempts out are abandoned. */
  | { type: 'cancel-step'; stepId: string; reason: string }
  | { type: 'complete-run'; output: unknown }
  | { type: 'fail-run'; error: ErrorBody }
  | { type: 'cancel-run'; reason: string };

export interface Decision {
  actions: Action[];
  /** When a waiting retry falls due, if nothing else moves the run before. */
  wakeAt?: number;
}

/** The outcome of one attempt, as the executor reports it. */
export type AttemptResult =
  | { stepId: string; task: number; attempt: number; ok: true; output: unknown }
  | { stepId: string; task: number; attempt: number; ok: false; error: ErrorBody };

const dependencyCache = new WeakMap<WorkflowDefinition, Map<string, string[]>>();
/** The steps each step depends on (cached per definition). */
export function dependenciesOf(definition: WorkflowDefinition): Map<string, string[]> {
  let deps = dependencyCache.get(definition);
  if (!deps) {
    deps = dependencies(definition);
    dependencyCache.set(definition, deps);
  }
  return deps;
}

/** Maps stored values to plain ones (large payloads are kept in state as references). */
export type Resolve = (value: unknown) => unknown;
const asIs: Resolve = (value) => value;

export function bindingsOf(run: RunRecord, resolve: Resolve = asIs): Bindings {
  const steps: Bindings['steps'] = {};
  // In the definition's order, which is the order of `run.steps` (`createRun`); cheaper than Object.entries.
  for (const { id } of run.definition.steps) {
    const s = run.steps[id];
    if (s) steps[id] = { output: resolve(s.output), state: s.status, error: s.error };
  }
  return { input: resolve(run.input), steps, run: { id: run.id } };
}

const expressionError = (where: string, err: unknown): ErrorBody => ({
  code: 'BAD_REQUEST',
  message: `${where}: ${(err as Error).message}`,
});

/**
 * What happens next, from the definition (inside the run) and the run's state alone.
 * Async only because expressions evaluate asynchronously; it reads nothing else.
 */
export async function decide(run: RunRecord, now: number, resolve: Resolve = asIs): Promise<Decision> {
  if (run.status !== 'running') return { actions: [] };
  const definition = run.definition;
  const deps = dependenciesOf(definition);
  const bindings = bindingsOf(run, resolve);
  const actions: Action[] = [];
  let wakeAt: number | undefined;

  // Indexed loops and no closures: this runs a few times for every step of every run.
  const steps = definition.steps;
  let failing = false;
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s];
    const state = run.steps[step.id];
    if (state.status === 'pending') {
      if (!dependenciesDone(run, deps.get(step.id))) continue;
      // A plain step starts with nothing to evaluate.
      const start =
        step.when === undefined && !step.forEach
          ? ({ type: 'start-step', stepId: step.id, items: null } as const)
          : await startStep(step, bindings);
      if (start.type === 'fail-step') failing = true;
      actions.push(start);
      continue;
    }
    if (state.status !== 'running') continue;

    const concurrency = step.forEach ? (step.forEach.concurrency ?? DEFAULT_FOREACH_CONCURRENCY) : 1;
    const tasks = state.tasks;
    let inFlight = 0;
    let allDone = true;
    for (let i = 0; i < tasks.length; i++) if (tasks[i].status === 'dispatched') inFlight++;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      if (task.status === 'checking') {
        if (step.tiers) actions.push(...(await checkTiers(run, step, i, task, bindings, now, resolve)));
        else actions.push(await checkEscalation(run, step, i, task, bindings, now, resolve));
        if (actions.at(-1)!.type === 'dispatch') inFlight++;
        continue;
      }
      if (task.status === 'waiting' && task.retryAt! > now) {
        wakeAt = Math.min(wakeAt ?? Infinity, task.retryAt!);
        continue;
      }
      if ((task.status === 'pending' || task.status === 'waiting') && inFlight < concurrency) {
        const action = await dispatchTask(run, step, state, i, task, task.next, bindings, now);
        actions.push(action);
        if (action.type === 'dispatch') inFlight++;
      }
    }
    for (let i = 0; i < tasks.length && allDone; i++) allDone = isTerminalTask(tasks[i].status);
    if (allDone) {
      const finish = finishStep(step, state);
      if (finish.type === 'fail-step') failing = true;
      actions.push(finish);
    }
  }

  // A step that fails (and does not continue) ends the run: the rest of this round's work
  // is not sent, every unfinished step is cancelled, and the run's error is that step's.
  const fatal =
    failing &&
    actions.find(
      (a): a is Extract<Action, { type: 'fail-step' }> =>
        a.type === 'fail-step' && definition.steps.find((s) => s.id === a.stepId)!.onError !== 'continue',
    );
  if (fatal) {
    const kept = actions.filter((a) => a.type !== 'dispatch' && a.type !== 'start-step');
    return {
      actions: [
        ...kept,
        ...cancelUnfinished(run, kept, `run failed at step ${fatal.stepId}`),
        { type: 'fail-run', error: runFailure(run, fatal.stepId, fatal.error) },
      ],
    };
  }

  if (actions.length === 0 && definition.steps.every((s) => isTerminalStep(run.steps[s.id].status))) {
    try {
      const output =
        definition.output === undefined
          ? Object.fromEntries(definition.steps.map((s) => [s.id, run.steps[s.id].output ?? null]))
          : await evaluateMapping(definition.output, bindings);
      actions.push({ type: 'complete-run', output: output ?? null });
    } catch (err) {
      actions.push({ type: 'fail-run', error: expressionError('output mapping failed', err) });
    }
  }
  return { actions, wakeAt };
}

function dependenciesDone(run: RunRecord, deps: string[] | undefined): boolean {
  if (deps) for (let i = 0; i < deps.length; i++) if (!isTerminalStep(run.steps[deps[i]].status)) return false;
  return true;
}

async function startStep(step: StepDefinition, bindings: Bindings): Promise<Action> {
  try {
    if (step.when !== undefined && !truthy(await evaluate(step.when, bindings))) {
      return { type: 'skip-step', stepId: step.id, reason: `when (${step.when}) was false` };
    }
  } catch (err) {
    return { type: 'fail-step', stepId: step.id, error: expressionError(`when of step ${step.id} failed`, err) };
  }
  if (!step.forEach) return { type: 'start-step', stepId: step.id, items: null };
  let items: unknown;
  try {
    items = await evaluate(step.forEach.items, bindings);
  } catch (err) {
    return { type: 'fail-step', stepId: step.id, error: expressionError(`forEach of step ${step.id} failed`, err) };
  }
  // JSONata yields a single value for one-element sequences and undefined for none.
  const list = items === undefined ? [] : Array.isArray(items) ? items : [items];
  if (list.length > LIMITS.forEachItems) {
    return {
      type: 'fail-step',
      stepId: step.id,
      error: {
        code: 'BAD_REQUEST',
        message: `forEach of step ${step.id} gave ${list.length} items; the limit is ${LIMITS.forEachItems}`,
      },
    };
  }
  return { type: 'start-step', stepId: step.id, items: list };
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

async function dispatchTask(
  run: RunRecord,
  step: StepDefinition,
  state: StepState & { items?: unknown[] },
  i: number,
  task: TaskState,
  purpose: AttemptPurpose,
  bindings: Bindings,
  now: number,
  tiers: TierProgress | undefined = task.tiers,
): Promise<Action> {
  const context: Bindings =
    task.index === null ? bindings : { ...bindings, item: state.items?.[task.index], index: task.index };
  let input = task.input;
  let target: string;
  // Tiered steps: the tier asked (0 for the primary call; the hard samples go on to the next).
  let tier: number | undefined;
  try {
    if (step.tiers && purpose !== 'fallback') {
      tier = purpose === 'primary' ? 0 : tiers!.tier;
      target = step.tiers[tier].service;
      if (purpose === 'primary') {
        if (input === undefined) input = (await evaluateMapping(step.input, context)) ?? {};
      } else {
        // Sliced from the step's input mapping again (the primary's input may be in the payload store).
        const whole = (await evaluateMapping(step.input, context)) ?? {};
        const batch = requestBatch(whole);
        if (batch !== tiers!.samples)
          throw new TierError(`the step input has ${batch} samples where tier 0 answered ${tiers!.samples}`);
        input = sliceRequest(whole, tiers!.rows);
      }
    } else if (purpose === 'primary') {
      target = primaryTarget(step);
      if (input === undefined) input = (await evaluateMapping(step.input, context)) ?? {};
    } else if (purpose === 'escalation') {
      target = step.escalate!.service;
      if (step.escalate!.input !== undefined) input = await evaluateMapping(step.escalate!.input, context);
    } else {
      const fallback = (step.onError as { fallback: { service: string; input?: unknown } }).fallback;
      target = fallback.service;
      if (fallback.input !== undefined) input = await evaluateMapping(fallback.input as never, context);
    }
  } catch (err) {
    return {
      type: 'task-failed',
      stepId: step.id,
      task: i,
      error: expressionError(`input of step ${step.id} failed`, err),
    };
  }
  const n = task.attempts.length + 1;
  const attempt: Attempt = {
    n,
    purpose,
    target,
    idempotencyKey: idempotencyKey(run.id, step.id, task.index, n),
    queuedAt: isoTime(now),
  };
  if (tier !== undefined) attempt.tier = tier;
  return {
    type: 'dispatch',
    stepId: step.id,
    task: i,
    kind: stepKind(step, purpose),
    attempt,
    input,
    timeoutMs: step.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    placement: placementOf(run.definition, step, tier),
    model: modelOf(step, purpose, tier),
  };
}

/** The placement hints of a step's call (a tier's own, else the step's, else the workflow's). */
function placementOf(definition: WorkflowDefinition, step: StepDefinition, tier: number | undefined) {
  return (tier === undefined ? undefined : step.tiers![tier].placement) ?? step.placement ?? definition.placement;
}

/** The model a call must reach: the step's for its own calls, a tier's for a tier's. */
function modelOf(step: StepDefinition, purpose: AttemptPurpose, tier: number | undefined): string | undefined {
  if (tier !== undefined) return step.tiers![tier].model;
  return purpose === 'primary' ? step.model : undefined;
}

/**
 * A tiered step's task after a tier answered (or could not be reached): the answer judged
 * sample by sample, then either the hard samples sent on to the next tier or the merged
 * answers as the task's output.
 */
async function checkTiers(
  run: RunRecord,
  step: StepDefinition,
  i: number,
  task: TaskState,
  bindings: Bindings,
  now: number,
  resolve: Resolve,
): Promise<Action[]> {
  const previous = task.tiers;
  try {
    if (previous?.unreachable) {
      const { progress, output } = fallBack(previous, previous.unreachable.reason);
      return [
        { type: 'tier-progress', stepId: step.id, task: i, progress },
        { type: 'task-succeeded', stepId: step.id, task: i, output },
      ];
    }
    const k = previous?.tier ?? 0;
    const reply = resolve(task.primaryOutput);
    const answered = task.attempts.at(-1)!;
    const batch = previous?.samples ?? batchOfReply(reply);
    const next = judgeTier(step.tiers!, k, reply, previous, batch, {
      model: answered.model,
      service: answered.service,
      node: answered.nodeId,
    });
    const progress: Action = { type: 'tier-progress', stepId: step.id, task: i, progress: next.progress };
    if (next.done) return [progress, { type: 'task-succeeded', stepId: step.id, task: i, output: next.output }];
    const state = run.steps[step.id];
    return [progress, await dispatchTask(run, step, state, i, task, 'escalation', bindings, now, next.progress)];
  } catch (err) {
    if (!(err instanceof TierError)) throw err;
    return [
      {
        type: 'task-failed',
        stepId: step.id,
        task: i,
        error: { code: 'BAD_REQUEST', message: `tiers of step ${step.id}: ${err.message}` },
      },
    ];
  }
}

/** Tier 0's batch size: the first dimension of its reply's first output (judgeTier checks the rest). */
function batchOfReply(reply: unknown): number {
  const outputs = (reply as { outputs?: Record<string, { dims?: number[] }> } | null)?.outputs;
  const first = outputs && Object.values(outputs)[0];
  return first?.dims?.[0] ?? 0;
}

async function checkEscalation(
  run: RunRecord,
  step: StepDefinition,
  i: number,
  task: TaskState,
  bindings: Bindings,
  now: number,
  resolve: Resolve,
): Promise<Action> {
  try {
    const context = {
      ...bindings,
      output: resolve(task.primaryOutput),
      item: undefined,
      index: task.index ?? undefined,
    };
    if (truthy(await evaluate(step.escalate!.when, context))) {
      return dispatchTask(run, step, run.steps[step.id], i, task, 'escalation', bindings, now);
    }
    return { type: 'task-succeeded', stepId: step.id, task: i, output: task.primaryOutput };
  } catch (err) {
    return {
      type: 'task-failed',
      stepId: step.id,
      task: i,
      error: expressionError(`escalate.when of step ${step.id} failed`, err),
    };
  }
}

function finishStep(step: StepDefinition, state: StepState): Action {
  const failed = state.tasks.filter((t) => t.status === 'failed');
  if (failed.length === 0) {
    const output = step.forEach ? state.tasks.map((t) => t.output ?? null) : state.tasks[0].output;
    return { type: 'complete-step', stepId: step.id, output: output ?? null };
  }
  const first = failed[0];
  const error: ErrorBody = step.forEach
    ? {
        code: first.error!.code,
        message: `${failed.length} of ${state.tasks.length} items failed; item ${first.index}: ${first.error!.message}`,
        details: { failedItems: failed.map((t) => t.index) },
      }
    : first.error!;
  return { type: 'fail-step', stepId: step.id, error };
}

/**
 * Cancels every step neither finished nor finishing through `finishing` (actions about to be
 * applied with these): steps that never started, and steps in flight.
 */
function cancelUnfinished(run: RunRecord, finishing: Action[], reason: string): Action[] {
  const done = new Set(
    finishing
      .filter((a) => a.type === 'skip-step' || a.type === 'complete-step' || a.type === 'fail-step')
      .map((a) => (a as { stepId: string }).stepId),
  );
  return run.definition.steps
    .filter((step) => !isTerminalStep(run.steps[step.id].status) && !done.has(step.id))
    .map((step) => ({ type: 'cancel-step', stepId: step.id, reason }));
}

/** The attempts of a task since its last manual retry. */
const currentAttempts = (task: TaskState) => task.attempts.slice(task.attemptBase);
/** An attempt that reached a service instance or started a sub-workflow (not one refused by placement). */
const reached = (a: Attempt) => a.instanceId !== undefined || a.childRunId !== undefined;

/**
 * The attempt whose failure ended a task: the last failed one that reached a service (or
 * sub-workflow); a later attempt that could not even be placed only tells why no retry ran.
 * Without one, the last failed attempt.
 */
export function causingAttempt(task: TaskState): Attempt | undefined {
  const failed = currentAttempts(task).filter((a) => a.error && !a.abandoned);
  return failed.filter(reached).at(-1) ?? failed.at(-1);
}

/**
 * The run's error when step `stepId` failed with `error`: the original code and message,
 * said where — the step, the item (forEach), the attempt and what it ran on — and the
 * same as fields in `details`.
 */
export function runFailure(run: RunRecord, stepId: string, error: ErrorBody): ErrorBody {
  const state = run.steps[stepId];
  const task = state.tasks.find((t) => t.status === 'failed');
  const attempt = task && causingAttempt(task);
  const cause = attempt?.error ?? task?.error ?? error;
  const item = task?.index ?? null;
  const failedItems = state.tasks.filter((t) => t.status === 'failed').map((t) => t.index);
  const last = task && currentAttempts(task).at(-1);
  let where = `step ${stepId}${item === null ? '' : ` item ${item}`} failed`;
  if (attempt) {
    where += ` at attempt ${attempt.n}`;
    if (attempt.childRunId) where += ` in sub-workflow run ${attempt.childRunId}`;
    else if (attempt.instanceId)
      where += ` on ${attempt.service ?? attempt.target} (instance ${attempt.instanceId}, node ${attempt.nodeId ?? '?'})`;
  }
  const ofItems = item === null ? '' : ` (${failedItems.length} of ${state.tasks.length} items failed)`;
  return {
    code: cause.code,
    message: `${where}: ${cause.message}${ofItems}`,
    details: {
      step: stepId,
      ...(item === null ? {} : { item, failedItems }),
      ...(attempt
        ? {
            attempt: attempt.n,
            purpose: attempt.purpose,
            service: attempt.service ?? attempt.target,
            instance: attempt.instanceId,
            node: attempt.nodeId,
            childRun: attempt.childRunId,
          }
        : {}),
      cause,
      // A later attempt that failed otherwise (say, placement found nowhere to retry).
      ...(attempt && last && last !== attempt && last.error
        ? { lastAttempt: { attempt: last.n, error: last.error } }
        : {}),
    },
  };
}

/** An action that sends an attempt: a new one, or (after a restart) the one that was out. */
export type DispatchAction = Extract<Action, { type: 'dispatch' | 'resend' }>;

/**
 * What a restarted executor does for a running run: send again every attempt that was out
 * to a service, or to a sub-workflow not yet started (same attempt, same key, the step's
 * own timeout). Attempts whose sub-workflow run exists wait for that run instead.
 */
export function resumeDecision(run: RunRecord): Decision {
  if (run.status !== 'running') return { actions: [] };
  const actions: Action[] = [];
  for (const step of run.definition.steps) {
    for (const [i, task] of run.steps[step.id].tasks.entries()) {
      const attempt = outstandingAttempt(task);
      if (!attempt || attempt.childRunId) continue;
      actions.push({
        type: 'resend',
        stepId: step.id,
        task: i,
        kind: stepKind(step, attempt.purpose),
        attempt,
        input: attempt.input ?? task.input,
        timeoutMs: step.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        placement: placementOf(run.definition, step, attempt.tier),
        model: modelOf(step, attempt.purpose, attempt.tier),
      });
    }
  }
  return { actions };
}

/** Records where the router placed a dispatched attempt. */
export function placeAttempt(
  dispatch: DispatchAction,
  where: { service: string; instanceId: string; nodeId: string; placement: unknown; model?: string },
): Extract<Action, { type: 'place-attempt' }> {
  return { type: 'place-attempt', stepId: dispatch.stepId, task: dispatch.task, attempt: dispatch.attempt.n, ...where };
}

/** Records that a dispatched attempt left (with the sub-workflow run it started, if any). */
export function startAttempt(
  dispatch: DispatchAction,
  childRunId?: string,
): Extract<Action, { type: 'start-attempt' }> {
  return childRunId === undefined
    ? { type: 'start-attempt', stepId: dispatch.stepId, task: dispatch.task, attempt: dispatch.attempt.n }
    : { type: 'start-attempt', stepId: dispatch.stepId, task: dispatch.task, attempt: dispatch.attempt.n, childRunId };
}

/** Applies one action to the run (in place). */
export function apply(run: RunRecord, action: Action, now: number): void {
  const at = isoTime(now);
  run.updatedAt = at;
  switch (action.type) {
    case 'skip-step':
      Object.assign(run.steps[action.stepId], { status: 'skipped', reason: action.reason, finishedAt: at });
      return;
    case 'start-step': {
      const state = run.steps[action.stepId] as StepState & { items?: unknown[] };
      state.status = 'running';
      state.startedAt = at;
      if (action.items) state.items = action.items;
      const indexes = action.items ? action.items.map((_, i) => i) : [null];
      state.tasks = indexes.map((index) => ({
        index,
        status: 'pending',
        next: 'primary',
        attempts: [],
        attemptBase: 0,
      }));
      return;
    }
    case 'dispatch': {
      const task = run.steps[action.stepId].tasks[action.task];
      task.status = 'dispatched';
      task.next = action.attempt.purpose;
      delete task.retryAt;
      if (action.attempt.purpose === 'primary') task.input = action.input;
      // Kept only while the attempt is out, so a restarted executor can send it again.
      task.attempts.push(attemptWithInput(action.attempt, action.input));
      return;
    }
    case 'resend':
      // The attempt is in state already; only where it goes (a `place-attempt`) changes.
      return;
    case 'place-attempt': {
      const out = outstandingAttempt(run.steps[action.stepId].tasks[action.task]);
      if (out?.n !== action.attempt) return;
      out.service = action.service;
      out.instanceId = action.instanceId;
      out.nodeId = action.nodeId;
      out.placement = action.placement;
      if (action.model !== undefined) out.model = action.model;
      return;
    }
    case 'start-attempt': {
      const out = outstandingAttempt(run.steps[action.stepId].tasks[action.task]);
      if (out?.n !== action.attempt) return;
      out.startedAt = at;
      if (action.childRunId !== undefined) out.childRunId = action.childRunId;
      return;
    }
    case 'tier-progress': {
      const task = run.steps[action.stepId].tasks[action.task];
      task.tiers = action.progress;
      // Judged: its rows are in the merged answers now.
      task.primaryOutput = undefined;
      return;
    }
    case 'task-succeeded': {
      const task = run.steps[action.stepId].tasks[action.task];
      Object.assign(task, { status: 'succeeded', output: action.output });
      return;
    }
    case 'task-failed': {
      const task = run.steps[action.stepId].tasks[action.task];
      Object.assign(task, { status: 'failed', error: action.error });
      return;
    }
    case 'complete-step':
      Object.assign(run.steps[action.stepId], { status: 'succeeded', output: action.output, finishedAt: at });
      return;
    case 'fail-step':
      // Whether the run fails with it is the decider's call (a `fail-run` action).
      Object.assign(run.steps[action.stepId], { status: 'failed', error: action.error, finishedAt: at });
      return;
    case 'cancel-step': {
      const state = run.steps[action.stepId];
      const started = state.status === 'running';
      Object.assign(state, {
        status: 'cancelled',
        reason: started ? `stopped in flight: ${action.reason}` : `never started: ${action.reason}`,
        finishedAt: at,
      });
      for (const task of state.tasks) {
        if (isTerminalTask(task.status)) continue;
        const out = outstandingAttempt(task);
        if (out) {
          out.abandoned = { at, reason: action.reason };
          delete out.input;
        }
        task.status = 'cancelled';
        delete task.retryAt;
      }
      return;
    }
    case 'complete-run':
      Object.assign(run, { status: 'succeeded', output: action.output, finishedAt: at });
      return;
    case 'fail-run':
      Object.assign(run, { status: 'failed', error: action.error, finishedAt: at });
      return;
    case 'cancel-run':
      Object.assign(run, { status: 'cancelled', finishedAt: at, error: { code: 'CANCELLED', message: action.reason } });
      return;
  }
}

/**
 * A new attempt as the task keeps it while it is out (with its input). A literal of one
 * shape, not a spread: the fields placement and sending add later then take the same
 * hidden-class path every time, where spread copies left those stores slow (≈ 0.8 µs each).
 */
function attemptWithInput(a: Attempt, input: unknown): Attempt {
  if (Object.keys(a).length !== 5) return { ...a, input } as Attempt;
  return {
    n: a.n,
    purpose: a.purpose,
    target: a.target,
    idempotencyKey: a.idempotencyKey,
    queuedAt: a.queuedAt,
    input,
  } as Attempt;
}

/** A copy of the attempt without its input, fields in the same order. */
function withoutInput(attempt: Attempt & { input?: unknown }): Attempt {
  const copy: Record<string, unknown> = {};
  for (const key in attempt) if (key !== 'input') copy[key] = attempt[key as keyof Attempt];
  return copy as unknown as Attempt;
}

/** The attempt currently out for a task, with its input, if any. */
export function outstandingAttempt(task: TaskState): (Attempt & { input?: unknown }) | undefined {
  return task.status === 'dispatched' ? (task.attempts.at(-1) as Attempt & { input?: unknown }) : undefined;
}

/**
 * Records an attempt's outcome. Returns false (and changes nothing) for outcomes that no
 * longer matter: a finished or cancelled run, or an attempt that is not the one out.
 */
export function applyResult(
  run: RunRecord,
  result: AttemptResult,
  now: number,
  random: () => number = Math.random,
): boolean {
  if (run.status !== 'running') return false;
  const state = run.steps[result.stepId];
  const task = state?.tasks[result.task];
  const out = task && outstandingAttempt(task);
  if (!out || out.n !== result.attempt) return false;
  const step = run.definition.steps.find((s) => s.id === result.stepId)!;
  run.updatedAt = isoTime(now);
  // The attempt's input goes (it was kept only while the attempt was out). Copied without
  // it rather than `delete`d: deleting a field other than the last one turns the object
  // into a slow dictionary for everything after, its serialisation included.
  const attempt = withoutInput(out);
  task.attempts[task.attempts.length - 1] = attempt;
  attempt.finishedAt = run.updatedAt;

  if (result.ok) {
    if ((attempt.purpose === 'primary' && step.escalate) || (step.tiers && attempt.purpose !== 'fallback')) {
      Object.assign(task, { status: 'checking', primaryOutput: result.output });
    } else {
      Object.assign(task, { status: 'succeeded', output: result.output });
    }
    return true;
  }
  attempt.error = result.error;
  const policy = retryPolicy(step.retry);
  const tries = task.attempts
    .slice(task.attemptBase)
    .filter((a) => a.purpose === attempt.purpose && a.tier === attempt.tier).length;
  if (attempt.purpose !== 'fallback' && isRetryable(result.error.code) && tries < policy.maxAttempts) {
    Object.assign(task, { status: 'waiting', next: attempt.purpose, retryAt: now + retryDelay(policy, tries, random) });
  } else if (step.tiers && attempt.purpose === 'escalation' && task.tiers && isUnreachable(result.error.code)) {
    // A higher tier out of reach: the samples it should have answered keep the lower tier's answer.
    const cause = causingAttempt(task)?.error ?? result.error;
    const tier = step.tiers[task.tiers.tier];
    const reason = `tier ${task.tiers.tier} (${tier.service}${tier.model ? `, model ${tier.model}` : ''}) unreachable after ${tries} attempt${tries === 1 ? '' : 's'}: ${cause.code}: ${cause.message}`;
    task.tiers = { ...task.tiers, unreachable: { reason } };
    task.status = 'checking';
  } else if (attempt.purpose !== 'fallback' && typeof step.onError === 'object') {
    Object.assign(task, { status: 'pending', next: 'fallback' });
  } else {
    // The root cause, not a later refusal to place a retry.
    Object.assign(task, { status: 'failed', error: causingAttempt(task)?.error ?? result.error });
  }
  return true;
}

/**
 * Errors that mean a tier could not be reached (no instance, placement refused, no reply,
 * overloaded or draining), not that it refused the request: its samples fall back.
 */
const UNREACHABLE: ReadonlySet<ErrorBody['code']> = new Set<ErrorBody['code']>([
  'UNAVAILABLE',
  'UNSATISFIABLE',
  'TIMEOUT',
  'NO_RESPONDERS',
  'OVERLOADED',
  'DRAINING',
]);
export function isUnreachable(code: ErrorBody['code']): boolean {
  return UNREACHABLE.has(code);
}

/** What cancelling the run does: every unfinished step cancelled, then the run. */
export function cancelActions(run: RunRecord, reason: string): Action[] {
  if (run.status !== 'running') return [];
  return [...cancelUnfinished(run, [], reason), { type: 'cancel-run', reason }];
}

/** Stops a run; results that arrive later are ignored. */
export function cancelRun(run: RunRecord, now: number, reason = 'cancelled by request'): boolean {
  if (run.status !== 'running') return false;
  for (const action of cancelActions(run, reason)) apply(run, action, now);
  return true;
}

/** Sub-workflow runs started by attempts the run abandoned when it ended (to end them too). */
export function abandonedChildRuns(run: RunRecord): string[] {
  return Object.values(run.steps).flatMap((s) =>
    s.tasks.flatMap((t) => t.attempts.filter((a) => a.abandoned && a.childRunId).map((a) => a.childRunId!)),
  );
}

/**
 * Resumes a failed (or cancelled) run from its failed and cancelled steps: succeeded steps
 * and items keep their outputs; the others start over with a fresh retry budget.
 */
export function resumeRun(run: RunRecord, now: number): boolean {
  if (run.status === 'running' || run.status === 'succeeded') return false;
  const at = isoTime(now);
  for (const state of Object.values(run.steps)) {
    // Running: records from before steps were cancelled when their run ended.
    if (state.status !== 'failed' && state.status !== 'running' && state.status !== 'cancelled') continue;
    if (state.tasks.length === 0) {
      Object.assign(state, { status: 'pending', error: undefined, finishedAt: undefined, reason: undefined });
      continue;
    }
    state.status = 'running';
    delete state.error;
    delete state.finishedAt;
    delete state.reason;
    for (const task of state.tasks) {
      if (task.status === 'succeeded') continue;
      Object.assign(task, { status: 'pending', next: 'primary', attemptBase: task.attempts.length, error: undefined });
      // A tiered task starts again from tier 0.
      if (task.tiers) task.tiers = undefined;
      delete task.retryAt;
    }
  }
  Object.assign(run, { status: 'running', updatedAt: at, error: undefined, finishedAt: undefined });
  return true;
}
