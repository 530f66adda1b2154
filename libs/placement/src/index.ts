export * from './types';
export * from './errors';
export * from './network';
export * from './compute-profiles';
export * from './constraints';
export * from './estimates';
export * from './objective';
export * from './candidates';
export * from './versions';
export * from './place-step';
export * from './strategies/strategy';
export * from './strategies/registry';
export { latencyStrategy } from './strategies/latency.strategy';
export { costStrategy } from './strategies/cost.strategy';
export { weightedStrategy } from './strategies/weighted.strategy';
export { leastLoadedStrategy } from './strategies/least-loaded.strategy';
export * from './planning/types';
export {
  assignmentViolations,
  buildPlanningModel,
  DEFAULT_MAX_UTILISATION,
  evaluateAssignment,
  type Assignment,
  type PlanningModel,
} from './planning/model';
export { loadMilpSolver, toLpFormat, type ExactSolveOptions } from './planning/exact.solver';
export { SHORTLIST_SIZE, type HeuristicOptions } from './planning/heuristic.solver';
export * from './planning/plan-deployment';
export * from './node-class';
export * from './execution-site';
