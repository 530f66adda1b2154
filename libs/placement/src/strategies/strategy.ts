import type { ObjectiveWeights, PlacementCandidate } from '../types';

/** What a strategy sees of one eligible candidate. One object is reused across candidates: read it, do not keep it. */
export interface ScoringInput {
  candidate: PlacementCandidate;
  latencyMs: number;
  costPerCall: number;
}

/** Ranges over the candidates being ranked (those meeting the SLO when any does), for normalising. */
export interface ScoringContext {
  minLatencyMs: number;
  maxLatencyMs: number;
  minCostPerCall: number;
  maxCostPerCall: number;
  /** The step's objective as weights summing to 1. */
  weights: ObjectiveWeights;
}

/**
 * A way to rank eligible candidates. Hard constraints and the latency SLO are applied before a
 * strategy sees anything, so a strategy only orders; lower scores win, ties go to lower latency.
 * Add one by writing `<name>.strategy.ts` and registering it in `registry.ts`.
 */
export interface PlacementStrategy {
  readonly name: string;
  score(input: ScoringInput, context: ScoringContext): number;
  /** Completes "chosen for …" in a decision's reason, e.g. "the lowest estimated latency". */
  criterion(context: ScoringContext): string;
}
