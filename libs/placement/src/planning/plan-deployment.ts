import { performance } from 'node:perf_hooks';
import { solveExact, type ExactSolveOptions } from './exact.solver';
import { solveHeuristic, type HeuristicOptions } from './heuristic.solver';
import {
  buildPlanningModel,
  DEFAULT_MAX_UTILISATION,
  evaluateAssignment,
  type Assignment,
  type PlanningModel,
} from './model';
import type {
  DeploymentPlan,
  DeploymentPlanResult,
  DeploymentProblem,
  DeploymentRefusal,
  NodeAssignment,
  ServicePlan,
  SolverName,
} from './types';

export interface PlanDeploymentOptions extends ExactSolveOptions {
  /** `auto` (default): exact up to `exactMaxVariables` MILP variables, the heuristic above. */
  solver?: SolverName | 'auto';
  exactMaxVariables?: number;
  heuristic?: HeuristicOptions;
}

export const DEFAULT_EXACT_MAX_VARIABLES = 2000;

/** Number of MILP variables the exact solver would create (instance counts + demand shares). */
export function milpVariableCount(model: PlanningModel): number {
  let count = 0;
  for (const pair of model.pairs) count += pair.nodes.length;
  for (let ij = 0; ij < model.eligible.length; ij++) count += model.eligible[ij];
  return count;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

function refusal(solver: SolverName, message: string, details: Record<string, unknown>): DeploymentRefusal {
  return { ok: false, solver, error: { code: 'UNSATISFIABLE', message, details } };
}

/**
 * Which services to run on which nodes, how many instances, and why: minimises the problem's
 * objective under memory, CPU and throughput capacity, hard constraints and data tiers. Small
 * problems are solved exactly (MILP with HiGHS), large ones by the greedy heuristic.
 */
export async function planDeployment(
  problem: DeploymentProblem,
  options: PlanDeploymentOptions = {},
): Promise<DeploymentPlanResult> {
  const started = performance.now();
  const model = buildPlanningModel(problem);
  const choice = options.solver ?? 'auto';
  const solver: SolverName =
    choice === 'auto'
      ? milpVariableCount(model) <= (options.exactMaxVariables ?? DEFAULT_EXACT_MAX_VARIABLES)
        ? 'exact'
        : 'heuristic'
      : choice;
  if (model.unsatisfiable) return refusal(solver, model.unsatisfiable.message, model.unsatisfiable.details);
  if (solver === 'heuristic') return heuristicPlan(model, started, options.heuristic);
  const outcome = await solveExact(model, options);
  if (outcome.assignment === undefined) {
    if (outcome.status === 'Infeasible') {
      return refusal('exact', capacityMessage(model, 'HiGHS proved that no plan fits'), { status: outcome.status });
    }
    // Out of time before any solution (or a solver failure): the heuristic still gives a plan.
    const fallback = heuristicPlan(model, started, options.heuristic);
    if (fallback.ok)
      fallback.reasons.push(`the exact solver ended with "${outcome.status}", so this is the heuristic's plan`);
    return fallback;
  }
  return renderPlan(model, outcome.assignment, 'exact', outcome.provenOptimal, performance.now() - started);
}

/** The heuristic alone, synchronously: for large problems and for replanning on every change. */
export function planDeploymentHeuristic(
  problem: DeploymentProblem,
  options: HeuristicOptions = {},
): DeploymentPlanResult {
  const started = performance.now();
  const model = buildPlanningModel(problem);
  if (model.unsatisfiable) return refusal('heuristic', model.unsatisfiable.message, model.unsatisfiable.details);
  return heuristicPlan(model, started, options);
}

function heuristicPlan(model: PlanningModel, started: number, options: HeuristicOptions = {}): DeploymentPlanResult {
  const outcome = solveHeuristic(model, options);
  if ('unplacedPair' in outcome) {
    const pair = model.pairs[outcome.unplacedPair];
    const service = model.problem.services[pair.service].service;
    const origin = model.problem.load[pair.origin];
    return refusal(
      'heuristic',
      capacityMessage(model, `the heuristic found no room for ${service} load from site ${origin.site}`),
      { service, origin },
    );
  }
  return renderPlan(model, outcome.assignment, 'heuristic', false, performance.now() - started);
}

function capacityMessage(model: PlanningModel, what: string): string {
  const memory = model.problem.nodes.reduce((sum, n) => sum + n.memoryMb, 0);
  const cores = model.problem.nodes.reduce((sum, n) => sum + n.cpuCores, 0);
  return `no deployment fits (${what}): ${model.problem.nodes.length} nodes offer ${memory} MiB and ${cores} cores for ${model.serviceCount} services at ${round(model.totalRunsPerSecond)} runs/s; add nodes, lower the load, or raise maxUtilisation`;
}

export interface HeuristicGap {
  heuristic: number;
  exact: number;
  /** (heuristic − exact) ÷ exact × 100; 0 when both are 0. */
  gapPercent: number;
  exactProvenOptimal: boolean;
}

/**
 * How far the heuristic's objective is above the exact optimum on one problem (solves both).
 * Undefined when either finds no plan.
 */
export async function heuristicGap(
  problem: DeploymentProblem,
  options: ExactSolveOptions & { heuristic?: HeuristicOptions } = {},
): Promise<HeuristicGap | undefined> {
  const model = buildPlanningModel(problem);
  if (model.unsatisfiable) return undefined;
  const heuristic = solveHeuristic(model, options.heuristic);
  const exact = await solveExact(model, options);
  if ('unplacedPair' in heuristic || exact.assignment === undefined) return undefined;
  const h = evaluateAssignment(model, heuristic.assignment).value;
  const e = evaluateAssignment(model, exact.assignment).value;
  return {
    heuristic: h,
    exact: e,
    gapPercent: e === 0 ? (h === 0 ? 0 : Infinity) : ((h - e) / e) * 100,
    exactProvenOptimal: exact.provenOptimal,
  };
}

function renderPlan(
  model: PlanningModel,
  assignment: Assignment,
  solver: SolverName,
  provenOptimal: boolean,
  solveMs: number,
): DeploymentPlan {
  const { problem, nodeCount: N } = model;
  const evaluation = evaluateAssignment(model, assignment);
  const services: ServicePlan[] = problem.services.map((s, i) => ({
    service: s.service,
    instances: 0,
    placements: [],
    costPerHour: 0,
    meanLatencyMs: 0,
    excluded: model.exclusions[i],
    notes: [...model.notes[i]],
  }));
  const byNode = new Map<number, NodeAssignment>();
  const placementOf = (i: number, j: number) => {
    const key = i * N + j;
    let placement = byNode.get(key);
    if (!placement) {
      const node = problem.nodes[j];
      placement = {
        nodeId: node.id,
        site: node.site,
        instances: assignment.instances[key],
        runsPerSecond: 0,
        utilisation: 0,
        origins: [],
      };
      byNode.set(key, placement);
      services[i].placements.push(placement);
    }
    return placement;
  };
  const served = new Float64Array(model.serviceCount);
  for (const flow of assignment.flows) {
    const pair = model.pairs[flow.pair];
    const n = pair.nodes.indexOf(flow.node);
    const placement = placementOf(pair.service, flow.node);
    const origin = problem.load[pair.origin];
    placement.runsPerSecond += flow.runsPerSecond;
    placement.origins.push({
      site: origin.site,
      nodeId: origin.nodeId,
      runsPerSecond: round(flow.runsPerSecond, 4),
      latencyMs: round(pair.latencyMs[n]),
    });
    services[pair.service].meanLatencyMs += flow.runsPerSecond * pair.latencyMs[n];
    services[pair.service].costPerHour += flow.runsPerSecond * pair.egressPerHourPerRps[n];
    served[pair.service] += flow.runsPerSecond;
  }
  for (let ij = 0; ij < assignment.instances.length; ij++) {
    if (assignment.instances[ij] === 0) continue;
    const i = Math.floor(ij / N);
    const placement = placementOf(i, ij % N);
    services[i].instances += assignment.instances[ij];
    services[i].costPerHour += assignment.instances[ij] * model.instanceCostPerHour[ij];
    const full = (assignment.instances[ij] * model.capacity[ij]) / (problem.maxUtilisation ?? DEFAULT_MAX_UTILISATION);
    placement.utilisation = round(placement.runsPerSecond / full, 3);
    placement.runsPerSecond = round(placement.runsPerSecond, 4);
  }
  const reasons: string[] = [];
  services.forEach((plan, i) => {
    plan.meanLatencyMs = served[i] > 0 ? round(plan.meanLatencyMs / served[i]) : 0;
    plan.costPerHour = round(plan.costPerHour, 6);
    plan.placements.sort((a, b) => b.runsPerSecond - a.runsPerSecond || a.nodeId.localeCompare(b.nodeId));
    if (plan.instances < model.minInstances[i]) {
      plan.notes.push(`only ${plan.instances} of the ${model.minInstances[i]} minimum instances fit`);
    }
    const where = plan.placements
      .filter((p) => p.instances > 0)
      .map(
        (p) =>
          `${p.instances}× on ${p.nodeId} (${p.site}, ${p.runsPerSecond} runs/s, ${Math.round(p.utilisation * 100)}% busy)`,
      )
      .join(', ');
    const excluded = plan.excluded.map((e) => `${e.nodes} by ${e.constraint}`).join(', ');
    reasons.push(
      `${plan.service}: ${plan.instances} instance${plan.instances === 1 ? '' : 's'}: ${where || 'none'}; mean call ${plan.meanLatencyMs} ms, ${plan.costPerHour}/h` +
        (excluded ? `; nodes excluded: ${excluded}` : '') +
        (plan.notes.length ? `; ${plan.notes.join('; ')}` : ''),
    );
  });
  const w = model.weights;
  reasons.push(
    `${solver}${solver === 'exact' ? (provenOptimal ? ' (proven optimal)' : ' (time limit: best found)') : ''}: objective ${round(evaluation.value, 4)} = ${round(w.latency, 4)} × latency ${round(evaluation.runLatencyMs)} ms ÷ ${round(model.latencyReferenceMs)} + ${round(w.cost, 4)} × cost ${round(evaluation.costPerHour, 4)}/h ÷ ${round(model.costReferencePerHour, 4)}`,
  );
  return {
    ok: true,
    solver,
    provenOptimal,
    objective: {
      value: evaluation.value,
      weights: model.weights,
      costPerHour: evaluation.costPerHour,
      runLatencyMs: evaluation.runLatencyMs,
      latencyReferenceMs: model.latencyReferenceMs,
      costReferencePerHour: model.costReferencePerHour,
    },
    services,
    reasons,
    solveMs: round(solveMs, 3),
  };
}
