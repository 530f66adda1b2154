import type { PlacementStrategy } from './strategy';

/** Cheapest call: node cost for the compute time plus egress; with `maxLatencyMs` it is cost under an SLO. */
export const costStrategy: PlacementStrategy = {
  name: 'cost',
  score: (input) => input.costPerCall,
  criterion: () => 'the lowest cost per call',
};
