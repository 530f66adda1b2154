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
