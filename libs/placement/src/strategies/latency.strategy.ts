import type { PlacementStrategy } from './strategy';

/** Fastest answer: the lowest estimated latency (network + start + queue + compute). */
export const latencyStrategy: PlacementStrategy = {
  name: 'latency',
  score: (input) => input.latencyMs,
  criterion: () => 'the lowest estimated latency',
};
