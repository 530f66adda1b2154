import type { PlacementStrategy, ScoringContext } from './strategy';

/** Position of `value` between the best (0) and the worst (1) of the ranked candidates. */
const normalised = (value: number, min: number, max: number) => (max > min ? (value - min) / (max - min) : 0);

/**
 * A mix of latency and cost. Each is scaled to 0..1 over the ranked candidates (min–max), since
 * milliseconds and currency have no common unit, then weighted by the step's objective.
 */
export const weightedStrategy: PlacementStrategy = {
  name: 'weighted',
  score: (input, context: ScoringContext) =>
    context.weights.latency * normalised(input.latencyMs, context.minLatencyMs, context.maxLatencyMs) +
    context.weights.cost * normalised(input.costPerCall, context.minCostPerCall, context.maxCostPerCall),
  criterion: (context) =>
    `the best weighted mix of latency ${context.weights.latency.toFixed(2)} and cost ${context.weights.cost.toFixed(2)}`,
};
