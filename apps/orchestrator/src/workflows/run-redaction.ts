import { isPayloadRef, type SiteRef } from '@yunbian/contracts';
import type { Attempt, RunRecord, StepState, TaskState } from '@yunbian/workflow';

export type DataTier = SiteRef['$ybSiteRef']['tier'];

const RANK: Record<DataTier, number> = { public: 0, 'edge-private': 1, 'user-private': 2 };

/** The more private of two tiers. */
export function higherTier(a: DataTier, b: DataTier): DataTier {
  return RANK[b] > RANK[a] ? b : a;
}

/**
 * A step's data tier as placement reads it when the step is dispatched: the step's own
 * placement hints, else the workflow's, else the run's `dataTier`; `public` when none says.
 */
export function stepDataTier(run: RunRecord, stepId: string): DataTier {
  const step = run.definition.steps.find((s) => s.id === stepId);
  const hints = step?.placement ?? run.definition.placement;
  return hints?.dataTier ?? run.dataTier ?? 'public';
}

/**
 * The tier of the run's own input and output: the highest of the run's `dataTier` and every
 * step's. The input feeds the steps and the output is mapped from their outputs, so either
 * may carry what the most private step sees.
 */
export function runDataTier(run: RunRecord): DataTier {
  let tier: DataTier = run.dataTier ?? 'public';
  for (const step of run.definition.steps) tier = higherTier(tier, stepDataTier(run, step.id));
  return tier;
}

/** `tierOf` for `redactForCloud` from the record itself: a step's tier, or (no step) the run's. */
export function recordTiers(run: RunRecord): (stepId?: string) => DataTier {
  const ofRun = runDataTier(run);
  const steps = new Map(run.definition.steps.map((s) => [s.id, stepDataTier(run, s.id)]));
  return (stepId) => (stepId === undefined ? ofRun : (steps.get(stepId) ?? ofRun));
}

export interface RedactOptions {
  /** The site holding the values (default: the site of the engine that executes the run, else the run's origin). */
  site?: string;
  /**
   * Public values larger than this (JSON bytes) are left at the site too (a reference with
   * tier `public`), so the record fits in one message. Default: no limit.
   */
  maxValueBytes?: number;
}

const encoder = new TextEncoder();

/** RFC 6901 escaping of one JSON-pointer token. */
const token = (key: string | number) => String(key).replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The run record as it may leave its edge site: a copy in which every value — the run's input
 * and output, each step's output and forEach items, each task's input, output and primary
 * output, an attempt's input while it is out — whose tier (`tierOf(stepId)`, the run's own
 * with no step) is above `public` is replaced by `{ "$ybSiteRef": { site, run, path, tier,
 * bytes } }`, `path` the JSON pointer of the value in the record. Everything else (status,
 * times, nodes, placement, errors, the definition) is kept. The record given is not changed.
 * Pure.
 */
export function redactForCloud(
  run: RunRecord,
  tierOf: (stepId?: string) => DataTier = recordTiers(run),
  options: RedactOptions = {},
): RunRecord {
  const site = options.site ?? run.executedBy?.site ?? run.origin?.site ?? 'unknown';
  const limit = options.maxValueBytes ?? Infinity;
  const value = (v: unknown, tier: DataTier, path: string): unknown => {
    if (v === undefined) return undefined;
    // A payload reference is small, the value it names is not: its size is the value's.
    const ref = isPayloadRef(v);
    const bytes = ref ? v.$ybRef.bytes : encoder.encode(JSON.stringify(v)).length;
    if (tier === 'public' && bytes <= limit) return v;
    return { $ybSiteRef: { site, run: run.id, path, tier, bytes } } satisfies SiteRef;
  };
  const set = <T extends object>(target: T, key: keyof T & string, tier: DataTier, path: string) => {
    if (target[key] !== undefined)
      (target as Record<string, unknown>)[key] = value(target[key], tier, `${path}/${key}`);
  };

  const copy: RunRecord = { ...run, steps: {} };
  set(copy, 'input', tierOf(), '');
  set(copy, 'output', tierOf(), '');
  for (const [stepId, state] of Object.entries(run.steps)) {
    const tier = tierOf(stepId);
    const base = `/steps/${token(stepId)}`;
    const step = { ...state, tasks: [] } as StepState & { items?: unknown };
    set(step, 'output', tier, base);
    set(step, 'items', tier, base);
    step.tasks = state.tasks.map((task, i) => {
      const taskCopy: TaskState = { ...task };
      const at = `${base}/tasks/${i}`;
      set(taskCopy, 'input', tier, at);
      set(taskCopy, 'output', tier, at);
      set(taskCopy, 'primaryOutput', tier, at);
      // A tiered task's merged answers are the step's data; which tier answered which sample is not.
      if (task.tiers) {
        const tiers = { ...task.tiers };
        set(tiers, 'outputs', tier, `${at}/tiers`);
        taskCopy.tiers = tiers;
      }
      taskCopy.attempts = task.attempts.map((attempt, n) => {
        if ((attempt as Attempt & { input?: unknown }).input === undefined) return attempt;
        const attemptCopy = { ...attempt } as Attempt & { input?: unknown };
        set(attemptCopy, 'input', tier, `${at}/attempts/${n}`);
        return attemptCopy;
      });
      return taskCopy;
    });
    copy.steps[stepId] = step;
  }
  return copy;
}

/**
 * `redactForCloud`, then, while the record's JSON is larger than `budgetBytes`, again with
 * public values above a halving size limit left at the site too (down to 256 bytes): a record
 * that leaves the site fits in one message whenever its values are what makes it large.
 */
export function redactToFit(
  run: RunRecord,
  budgetBytes: number,
  tierOf: (stepId?: string) => DataTier = recordTiers(run),
  options: Omit<RedactOptions, 'maxValueBytes'> = {},
): RunRecord {
  let redacted = redactForCloud(run, tierOf, options);
  let size = encoder.encode(JSON.stringify(redacted)).length;
  let limit = Math.floor(budgetBytes / 4);
  while (size > budgetBytes && limit >= 256) {
    redacted = redactForCloud(run, tierOf, { ...options, maxValueBytes: limit });
    size = encoder.encode(JSON.stringify(redacted)).length;
    limit = Math.floor(limit / 2);
  }
  return redacted;
}

/** Room left in a reply for headers and the envelope. */
const REPLY_MARGIN_BYTES = 64 * 1024;

/** The largest record a reply on `transport` may carry. */
export function replyBudget(transport: { maxPayload: number }): number {
  return Math.max(64 * 1024, transport.maxPayload - REPLY_MARGIN_BYTES);
}

/**
 * A site engine's run as it leaves the site in a reply (`redactToFit` within the reply's
 * budget); a run another engine executes (the cloud's, forwarded back) is not this site's to redact.
 */
export function forCloud(
  run: RunRecord,
  engine: { id: string; site: string },
  transport: { maxPayload: number },
): RunRecord {
  if (run.executedBy && run.executedBy.id !== engine.id) return run;
  return redactToFit(run, replyBudget(transport), recordTiers(run), { site: engine.site });
}
