import { PlacementInputError } from '../errors';
import { costStrategy } from './cost.strategy';
import { latencyStrategy } from './latency.strategy';
import { leastLoadedStrategy } from './least-loaded.strategy';
import type { PlacementStrategy } from './strategy';
import { weightedStrategy } from './weighted.strategy';

/** Resolves a strategy name (a step's `hints.strategy`, or the one its objective implies) to its implementation. */
export class StrategyRegistry {
  private readonly byName = new Map<string, PlacementStrategy>();

  constructor(strategies: readonly PlacementStrategy[] = []) {
    for (const strategy of strategies) this.register(strategy);
  }

  register(strategy: PlacementStrategy): this {
    if (this.byName.has(strategy.name)) {
      throw new PlacementInputError(`placement strategy "${strategy.name}" is already registered`, {
        strategy: strategy.name,
      });
    }
    this.byName.set(strategy.name, strategy);
    return this;
  }

  resolve(name: string): PlacementStrategy {
    const strategy = this.byName.get(name);
    if (strategy === undefined) {
      throw new PlacementInputError(`unknown placement strategy "${name}"; known: ${this.names().join(', ')}`, {
        strategy: name,
        known: this.names(),
      });
    }
    return strategy;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}

export const BUILT_IN_STRATEGIES: readonly PlacementStrategy[] = [
  latencyStrategy,
  costStrategy,
  weightedStrategy,
  leastLoadedStrategy,
];

/** The registry `placeStep` uses unless given another. */
export const defaultStrategies = new StrategyRegistry(BUILT_IN_STRATEGIES);
