import { OBJECTIVE_FORMS, OBJECTIVE_PATTERN, WEIGHTED_OBJECTIVE_PREFIX, type ObjectiveName } from '@yunbian/contracts';
import { PlacementInputError } from './errors';
import type { Objective, ObjectiveWeights, PlacementHints } from './types';

export interface ResolvedObjective {
  objective: Objective;
  /** The strategy that ranks candidates: the hint's, else the objective's own. */
  strategyName: string;
  /** The objective as weights summing to 1. */
  weights: ObjectiveWeights;
}

const LATENCY_ONLY: ObjectiveWeights = Object.freeze({ latency: 1, cost: 0 });
const COST_ONLY: ObjectiveWeights = Object.freeze({ latency: 0, cost: 1 });

/** Scales latency and cost weights to sum to 1; both must be finite, not negative, and not both 0. */
export function normaliseWeights(weights: ObjectiveWeights): ObjectiveWeights {
  const { latency, cost } = weights;
  if (!(latency >= 0) || !(cost >= 0) || !Number.isFinite(latency) || !Number.isFinite(cost) || latency + cost === 0) {
    throw new PlacementInputError(
      `objective weights must be finite numbers of 0 or more, not both 0 (got latency ${latency}, cost ${cost}); e.g. { latency: 0.7, cost: 0.3 }`,
      { weights },
    );
  }
  return { latency: latency / (latency + cost), cost: cost / (latency + cost) };
}

/**
 * What each objective name means. `mix` is `balanced` under the name the workflow schema first
 * documented; `cost-slo` is `cost` under the name for its use with `maxLatencyMs` (the cheapest
 * candidate within the SLO — what `cost` does with an SLO; without one, simply the cheapest).
 */
const NAMED_OBJECTIVES: Readonly<Record<ObjectiveName, Objective>> = Object.freeze({
  latency: 'latency',
  cost: 'cost',
  balanced: Object.freeze({ latency: 0.5, cost: 0.5 }),
  mix: Object.freeze({ latency: 0.5, cost: 0.5 }),
  'cost-slo': 'cost',
});

const OBJECTIVE = new RegExp(OBJECTIVE_PATTERN);

/**
 * An objective as a workflow or a plan request writes it (`OBJECTIVE_FORMS`: a name, or
 * `latency:0.7` — that weight on latency, the rest on cost). Accepts exactly what the workflow
 * schema's `OBJECTIVE_PATTERN` accepts; undefined stays undefined (the caller's default).
 * `field` names the field in the refusal (a JSON pointer).
 */
export function parseObjective(text: string | undefined, field = '/placement/objective'): Objective | undefined {
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !OBJECTIVE.test(text)) {
    throw new PlacementInputError(`placement objective ${JSON.stringify(text)} is not one of ${OBJECTIVE_FORMS}`, {
      pointer: field,
      accepted: OBJECTIVE_FORMS,
    });
  }
  if (text.startsWith(WEIGHTED_OBJECTIVE_PREFIX)) {
    const latency = Number(text.slice(WEIGHTED_OBJECTIVE_PREFIX.length));
    return { latency, cost: 1 - latency };
  }
  return NAMED_OBJECTIVES[text as ObjectiveName];
}

export function resolveObjective(hints: PlacementHints | undefined): ResolvedObjective {
  const objective = hints?.objective ?? 'latency';
  if (objective === 'latency' || objective === 'cost') {
    return {
      objective,
      strategyName: hints?.strategy ?? objective,
      weights: objective === 'latency' ? LATENCY_ONLY : COST_ONLY,
    };
  }
  if (typeof objective !== 'object' || objective === null) {
    throw new PlacementInputError(
      `unknown objective ${JSON.stringify(objective)}; use 'latency', 'cost' or weights like { latency: 0.7, cost: 0.3 }`,
      { objective },
    );
  }
  return { objective, strategyName: hints?.strategy ?? 'weighted', weights: normaliseWeights(objective) };
}
