import type { SiteRunFact, SiteStepFact } from '@yunbian/contracts';
import type { YunbianMetrics } from '@yunbian/observability';
import type { RunRecord } from '@yunbian/workflow';

/** Who tells: the site engine and its site. */
export interface FactSource {
  site: string;
  engine: string;
}

/** The fact of a run's start (one per run, whatever happens to it later). */
export function runStartedFact(run: RunRecord, source: FactSource): SiteRunFact {
  return {
    id: `${run.id}.started`,
    kind: 'started',
    site: source.site,
    engine: source.engine,
    runId: run.id,
    workflow: run.workflow.name,
    at: run.createdAt,
  };
}

/**
 * The fact of a run's ending, from its final record (so what happened before an engine
 * restart counts too): its status and every attempt that reached an instance and ended. A
 * retried run that ends again is another fact (its `finishedAt` is another).
 */
export function runFinishedFact(run: RunRecord, source: FactSource): SiteRunFact {
  const at = run.finishedAt ?? run.updatedAt;
  const steps: SiteStepFact[] = [];
  for (const step of Object.values(run.steps)) {
    for (const task of step.tasks) {
      for (const attempt of task.attempts) {
        if (!attempt.service || !attempt.nodeId || !attempt.startedAt || !attempt.finishedAt) continue;
        steps.push({
          service: attempt.service,
          node: attempt.nodeId,
          outcome: attempt.error?.code ?? 'ok',
          durationMs: Math.max(0, Date.parse(attempt.finishedAt) - Date.parse(attempt.startedAt)),
        });
      }
    }
  }
  return {
    id: `${run.id}.finished.${at}`,
    kind: 'finished',
    site: source.site,
    engine: source.engine,
    runId: run.id,
    workflow: run.workflow.name,
    at,
    status: run.status,
    steps,
  };
}

/**
 * The facts a restarted site engine sends again for the runs it restored: those that may
 * not have reached the stream before it stopped (a fact is sent just after the record it
 * comes from is stored). Only within `withinMs` of `now`, which must be shorter than the
 * stream's duplicate window: the stream drops the repeats of facts it already has by id.
 */
export function factsToResend(runs: RunRecord[], source: FactSource, now: number, withinMs: number): SiteRunFact[] {
  const facts: SiteRunFact[] = [];
  const recent = (at: string | undefined) => at !== undefined && now - Date.parse(at) <= withinMs;
  for (const run of runs) {
    if (run.executedBy?.kind !== 'site' || run.executedBy.id !== source.engine) continue;
    if (recent(run.createdAt)) facts.push(runStartedFact(run, source));
    if (run.status !== 'running' && recent(run.finishedAt)) facts.push(runFinishedFact(run, source));
  }
  return facts;
}

/**
 * Ids of facts applied lately, so a fact delivered again (its acknowledgement was lost, the
 * consumer redelivered it) is not counted twice. Bounded: the oldest ids go first.
 */
export class AppliedFacts {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  /** True the first time `id` is seen (apply it); false for a repeat. */
  first(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
}

/** A fact as read from the stream: checked, since another process wrote it. */
export function parseSiteFact(value: unknown): SiteRunFact {
  const fact = value as Partial<SiteRunFact> | null;
  const text = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (
    !fact ||
    typeof fact !== 'object' ||
    !text(fact.id) ||
    !text(fact.site) ||
    !text(fact.workflow) ||
    (fact.kind !== 'started' && fact.kind !== 'finished') ||
    (fact.kind === 'finished' && !text(fact.status))
  ) {
    throw new Error(
      `not a site run fact (needs id, site, workflow, kind started|finished, and status when finished): ${JSON.stringify(value)?.slice(0, 200)}`,
    );
  }
  const steps = Array.isArray(fact.steps)
    ? fact.steps.filter(
        (s): s is SiteStepFact =>
          !!s && text(s.service) && text(s.node) && text(s.outcome) && Number.isFinite(s.durationMs),
      )
    : [];
  return { ...(fact as SiteRunFact), steps };
}

/** Counts one fact in the cloud's metrics (series labelled with the fact's site). */
export function applySiteFact(
  metrics: Pick<YunbianMetrics, 'siteRunsStarted' | 'siteRuns' | 'siteStepDuration'>,
  fact: SiteRunFact,
): void {
  if (fact.kind === 'started') {
    metrics.siteRunsStarted.inc({ site: fact.site, workflow: fact.workflow });
    return;
  }
  metrics.siteRuns.inc({ site: fact.site, workflow: fact.workflow, status: fact.status! });
  for (const step of fact.steps ?? []) {
    metrics.siteStepDuration.observe(
      { site: fact.site, service: step.service, node: step.node, outcome: step.outcome },
      step.durationMs / 1000,
    );
  }
}
