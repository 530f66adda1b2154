import type { PlacementStrategy } from './strategy';

/** Spreads load: the fewest running-plus-queued requests per slot, ignoring distance and cost. */
export const leastLoadedStrategy: PlacementStrategy = {
  name: 'least-loaded',
  score: ({ candidate }) => (candidate.inFlight + candidate.queued) / candidate.concurrency,
  criterion: () => 'the least load per slot',
};
