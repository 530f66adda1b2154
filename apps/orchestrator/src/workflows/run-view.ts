import type { RunRecord } from '@yunbian/workflow';

/** What GET /runs shows of a run (and what a site engine's listing carries): no input, output or steps. */
export type RunSummary = Pick<
  RunRecord,
  | 'id'
  | 'workflow'
  | 'status'
  | 'durability'
  | 'createdAt'
  | 'updatedAt'
  | 'finishedAt'
  | 'traceId'
  | 'parent'
  | 'executedBy'
  | 'error'
>;

export function runSummary(run: RunSummary): RunSummary {
  return {
    id: run.id,
    workflow: run.workflow,
    status: run.status,
    durability: run.durability,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    finishedAt: run.finishedAt,
    traceId: run.traceId,
    parent: run.parent,
    executedBy: run.executedBy,
    error: run.error,
  };
}

/** What GET /runs/{id} shows: the run without its stored definition, steps in order, attempts flat. */
export function runView(run: RunSummary, options: { detail: false }): RunSummary;
export function runView(run: RunRecord, options?: { detail: boolean }): ReturnType<typeof runDetail>;
export function runView(run: RunRecord | RunSummary, options: { detail: boolean } = { detail: true }) {
  return options.detail ? runDetail(run as RunRecord) : runSummary(run);
}

function runDetail(run: RunRecord) {
  const base = runSummary(run);
  return {
    ...base,
    input: run.input,
    output: run.output,
    steps: run.definition.steps.map((definition) => {
      const state = run.steps[definition.id];
      const attempts = state.tasks.flatMap((task) =>
        task.attempts.map((a) => ({
          item: task.index ?? undefined,
          attempt: a.n,
          purpose: a.purpose,
          tier: a.tier,
          service: a.service ?? a.target,
          node: a.nodeId,
          instance: a.instanceId,
          model: a.model,
          childRun: a.childRunId,
          idempotencyKey: a.idempotencyKey,
          queuedAt: a.queuedAt,
          startedAt: a.startedAt,
          finishedAt: a.finishedAt,
          error: a.error,
          abandoned: a.abandoned,
          placement: a.placement,
        })),
      );
      const last = attempts.at(-1);
      return {
        id: definition.id,
        state: state.status,
        reason: state.reason,
        attempts: attempts.length,
        items: definition.forEach ? state.tasks.length : undefined,
        node: last?.node,
        instance: last?.instance,
        queuedAt: attempts[0]?.queuedAt,
        startedAt: state.startedAt,
        finishedAt: state.finishedAt,
        error: state.error,
        output: state.output,
        // Tiered steps: per item, which tier answered each sample and why, and what each tier did.
        tiers: definition.tiers
          ? state.tasks.map((t) => ({
              item: t.index ?? undefined,
              samples: t.tiers?.answers,
              tiers: t.tiers?.counts,
            }))
          : undefined,
        history: attempts,
      };
    }),
  };
}
