import { dataTierAllows, firstFailedConstraint, rejectionsOf, resolveConstraints } from '../constraints';
import { nodeCpuCapacity, nodeMemoryCapacityMb } from '@yunbian/contracts';
import { PlacementInputError } from '../errors';
import { nodeClassKey } from '../node-class';
import { transferMs } from '../estimates';
import type { LinkEstimate } from '../network';
import { normaliseWeights, resolveObjective } from '../objective';
import type { ObjectiveWeights, PlacementCandidate } from '../types';
import type {
  DeploymentProblem,
  OriginLoad,
  PlanExclusion,
  PlanningConstraint,
  PlannedNode,
  PlannedService,
} from './types';

/** Weight floor so a pure objective still breaks ties sensibly (no needless instances, nearer of equal nodes). */
export const TIE_BREAK_WEIGHT = 1e-4;
const DEFAULT_WEIGHTS: ObjectiveWeights = { latency: 0.5, cost: 0.5 };
/** Share of an instance's throughput a plan may use by default, so queues stay short. */
export const DEFAULT_MAX_UTILISATION = 0.7;

/** Load of one service from one origin, and the nodes that may serve it. */
export interface DemandPair {
  service: number;
  origin: number;
  runsPerSecond: number;
  /** Eligible nodes (constraints, data tier, SLO) and, per node, the figures below. */
  nodes: Int32Array;
  latencyMs: Float64Array;
  egressPerHourPerRps: Float64Array;
  /** Objective per run/s served there: wL·latency/(Λ·Lref) + wC·egress/Cref. */
  weight: Float64Array;
}

/**
 * The planning problem reduced to numbers: index i for services, j for nodes, k for origins;
 * (i, j) arrays are flat, `i * nodeCount + j`. Both solvers read only this.
 */
export interface PlanningModel {
  problem: DeploymentProblem;
  serviceCount: number;
  nodeCount: number;
  weights: ObjectiveWeights;
  memoryMb: Float64Array;
  /**
   * Cores one instance of service i reserves on node j, by ij: the service's `cpuCores`, else
   * one core or the whole node when it has less (a 0.25-core device runs one instance).
   */
  cpuCores: Float64Array;
  minInstances: Int32Array;
  eligible: Uint8Array;
  computeMs: Float64Array;
  /** Runs/s one instance may take at the utilisation cap. */
  capacity: Float64Array;
  instanceCostPerHour: Float64Array;
  /** Objective per instance: wC·instanceCost/Cref. */
  instanceWeight: Float64Array;
  maxInstances: Int32Array;
  pairs: DemandPair[];
  totalRunsPerSecond: number;
  latencyReferenceMs: number;
  costReferencePerHour: number;
  exclusions: PlanExclusion[][];
  notes: string[][];
  /** Set when some demand has nowhere to go: the refusal to return. */
  unsatisfiable?: { message: string; details: Record<string, unknown> };
}

/** Instances per (i, j) and runs/s per (pair, node): what a solver returns. */
export interface Assignment {
  instances: Int32Array;
  flows: { pair: number; node: number; runsPerSecond: number }[];
}

const originName = (o: OriginLoad) => (o.nodeId ? `node ${o.nodeId} (${o.site})` : `site ${o.site}`);

/** A node with the CPU and memory its limits let instances have, as `cpuCores` and `memoryMb`. */
function offered(node: PlannedNode): PlannedNode {
  if (!node.limits) return node;
  return { ...node, cpuCores: nodeCpuCapacity(node), memoryMb: nodeMemoryCapacityMb(node) };
}

function nodeAsCandidate(node: PlannedNode, service: PlannedService): PlacementCandidate {
  return {
    nodeId: node.id,
    site: node.site,
    tier: node.tier,
    tags: node.tags,
    memoryMb: node.memoryMb,
    costPerHour: node.costPerHour,
    nodeStatus: node.status ?? 'alive',
    inFlight: 0,
    queued: 0,
    concurrency: service.concurrency,
  };
}

function checkProblem(problem: DeploymentProblem): void {
  const fail = (message: string, details: Record<string, unknown>) => {
    throw new PlacementInputError(message, details);
  };
  const utilisation = problem.maxUtilisation ?? DEFAULT_MAX_UTILISATION;
  if (!(utilisation > 0 && utilisation <= 1))
    fail(`maxUtilisation must be above 0 and at most 1 (got ${utilisation})`, {});
  problem.services.forEach((s, i) => {
    if (!(s.concurrency >= 1))
      fail(`services[${i}] (${s.service}): concurrency must be 1 or more (got ${s.concurrency})`, { index: i });
    if (s.cpuCores !== undefined && !(s.cpuCores > 0))
      fail(`services[${i}] (${s.service}): cpuCores must be above 0 (got ${s.cpuCores})`, { index: i });
    if (s.minInstances !== undefined && !(Number.isInteger(s.minInstances) && s.minInstances >= 0)) {
      fail(`services[${i}] (${s.service}): minInstances must be a whole number of 0 or more (got ${s.minInstances})`, {
        index: i,
      });
    }
  });
  problem.load.forEach((l, k) => {
    if (!(l.runsPerSecond >= 0) || !Number.isFinite(l.runsPerSecond)) {
      fail(
        `load[${k}] (${originName(l)}): runsPerSecond must be a finite number of 0 or more (got ${l.runsPerSecond})`,
        { index: k },
      );
    }
  });
}

/** Reduces a deployment problem to the numbers both solvers work on, or says which demand cannot be met. */
export function buildPlanningModel(requested: DeploymentProblem): PlanningModel {
  checkProblem(requested);
  // Nodes offer their instances what their limits allow; everything downstream plans with that.
  const problem: DeploymentProblem = { ...requested, nodes: requested.nodes.map(offered) };
  const { services, nodes, load, network } = problem;
  const S = services.length;
  const N = nodes.length;
  const objective =
    problem.objective === undefined ? { weights: DEFAULT_WEIGHTS } : resolveObjective({ objective: problem.objective });
  const weights = normaliseWeights({
    latency: Math.max(objective.weights.latency, TIE_BREAK_WEIGHT),
    cost: Math.max(objective.weights.cost, TIE_BREAK_WEIGHT),
  });
  const utilisation = problem.maxUtilisation ?? DEFAULT_MAX_UTILISATION;
  const scope = problem.userPrivateScope ?? 'node';
  const model: PlanningModel = {
    problem,
    serviceCount: S,
    nodeCount: N,
    weights,
    memoryMb: new Float64Array(S),
    cpuCores: new Float64Array(S * N),
    minInstances: new Int32Array(S),
    eligible: new Uint8Array(S * N),
    computeMs: new Float64Array(S * N),
    capacity: new Float64Array(S * N),
    instanceCostPerHour: new Float64Array(S * N),
    instanceWeight: new Float64Array(S * N),
    maxInstances: new Int32Array(S * N),
    pairs: [],
    totalRunsPerSecond: 0,
    latencyReferenceMs: 1,
    costReferencePerHour: 1,
    exclusions: [],
    notes: [],
  };
  for (const l of load) model.totalRunsPerSecond += l.runsPerSecond;
  // The network between an origin and a node is the same for every service: read it once per pair.
  const K = load.length;
  const link: LinkEstimate = {
    rttMs: 0,
    rttSource: 'default',
    bandwidthMbps: 0,
    bandwidthSource: 'default',
    bandwidthAgeMs: undefined,
  };
  const linkRttMs = new Float64Array(K * N);
  const linkBandwidthMbps = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) {
      network.link(load[k], nodes[j].id, nodes[j].site, nodes[j].bandwidthMbps, link);
      linkRttMs[k * N + j] = link.rttMs;
      linkBandwidthMbps[k * N + j] = link.bandwidthMbps;
    }
  }
  const allowed = new Int32Array(N);
  const latencies = new Float64Array(N);
  let latencyReference = 0;
  let costReference = 0;

  for (let i = 0; i < S; i++) {
    const service = services[i];
    const constraints = resolveConstraints({
      service: service.service,
      requirements: service.requirements,
      hints: service.hints,
      inputBytes: service.inputBytes ?? 0,
    });
    const memory = service.requirements?.memoryMb ?? 0;
    model.memoryMb[i] = memory;
    model.minInstances[i] = service.minInstances ?? 1;
    const compute = problem.profiles.forService(service.service);
    const excluded = new Map<PlanningConstraint, PlanExclusion>();
    const exclude = (constraint: PlanningConstraint, example: () => string) => {
      let entry = excluded.get(constraint);
      if (!entry) excluded.set(constraint, (entry = { constraint, nodes: 0, examples: [] }));
      entry.nodes++;
      if (entry.examples.length < 3) entry.examples.push(example());
    };
    for (let j = 0; j < N; j++) {
      const node = nodes[j];
      const candidate = nodeAsCandidate(node, service);
      const failed = firstFailedConstraint(candidate, constraints);
      if (failed !== undefined) {
        exclude(failed, () => rejectionsOf(candidate, constraints)[0].message);
        continue;
      }
      const cpu = service.cpuCores ?? Math.min(1, node.cpuCores);
      if (node.cpuCores < cpu) {
        exclude(
          'cpu',
          () => `node ${node.id} has ${node.cpuCores} cores; an instance of ${service.service} reserves ${cpu}`,
        );
        continue;
      }
      const ij = i * N + j;
      model.cpuCores[ij] = cpu;
      // Compute time for the node class the instance would form there: with cpuCores set it gets
      // that much CPU; without, it is started without resources and gets the node's (as routing sees it).
      const gets = service.cpuCores === undefined ? node.cpuCores : Math.min(service.cpuCores, node.cpuCores);
      const ms = compute.estimate(nodeClassKey({ arch: node.arch, tags: node.tags, cpu: gets }), node.tags, gets).ms;
      model.eligible[ij] = 1;
      model.computeMs[ij] = ms;
      model.capacity[ij] = ((service.concurrency * 1000) / ms) * utilisation;
      const share = Math.max(memory / node.memoryMb, cpu / node.cpuCores);
      model.instanceCostPerHour[ij] = node.costPerHour * share;
      model.maxInstances[ij] = Math.floor(
        Math.min(memory > 0 ? node.memoryMb / memory : Infinity, node.cpuCores / cpu) + 1e-9,
      );
    }
    model.exclusions.push([...excluded.values()]);
    const notes: string[] = [];
    model.notes.push(notes);

    const dataTier = service.dataTier ?? 'public';
    const slo = service.hints?.maxLatencyMs;
    let serviceRunsPerSecond = 0;
    for (let k = 0; k < load.length; k++) {
      const origin = load[k];
      if (origin.runsPerSecond === 0) continue;
      if (dataTier === 'user-private' && scope === 'node' && origin.nodeId === undefined) {
        throw new PlacementInputError(
          `${service.service} takes user-private data, which stays on the node it came from, but load[${k}] names only site ${origin.site}; set load[${k}].nodeId, or use userPrivateScope 'site'`,
          { service: service.service, load: origin },
        );
      }
      const inputBytes = service.inputBytes ?? 0;
      const blocked: string[] = [];
      let count = 0;
      let fastest = Infinity;
      for (let j = 0; j < N; j++) {
        if (model.eligible[i * N + j] === 0) continue;
        const node = nodes[j];
        if (!dataTierAllows(dataTier, origin, node.id, node.site, scope)) {
          blocked.push(node.id);
          continue;
        }
        const latency =
          linkRttMs[k * N + j] + transferMs(inputBytes, linkBandwidthMbps[k * N + j]) + model.computeMs[i * N + j];
        allowed[count] = j;
        latencies[count++] = latency;
        if (latency < fastest) fastest = latency;
      }
      if (count === 0) {
        model.unsatisfiable ??= unsatisfiableDemand(service, origin, dataTier, blocked, model.exclusions[i]);
        continue;
      }
      // Nodes within the SLO; when there are none, the fastest ones, and a note saying so.
      const limit = slo === undefined ? Infinity : slo;
      let kept = 0;
      for (let n = 0; n < count; n++) if (latencies[n] <= limit) kept++;
      const keep = (n: number) => (kept > 0 ? latencies[n] <= limit : latencies[n] === fastest);
      if (kept === 0) {
        notes.push(
          `no node meets the ${slo} ms SLO for load from ${originName(origin)}; planned on the fastest (${round(fastest)} ms)`,
        );
      }
      if (dataTier !== 'public' && blocked.length > 0) {
        notes.push(
          `${dataTier} data from ${originName(origin)} stays there: ${blocked.length} otherwise eligible node(s) excluded`,
        );
      }
      const egressPerByte = network.egressCostPerByte(origin.site);
      const size = kept > 0 ? kept : latencies.subarray(0, count).filter((l) => l === fastest).length;
      const pair: DemandPair = {
        service: i,
        origin: k,
        runsPerSecond: origin.runsPerSecond,
        nodes: new Int32Array(size),
        latencyMs: new Float64Array(size),
        egressPerHourPerRps: new Float64Array(size),
        weight: new Float64Array(size),
      };
      for (let n = 0, at = 0; n < count; n++) {
        if (!keep(n)) continue;
        pair.nodes[at] = allowed[n];
        pair.latencyMs[at] = latencies[n];
        pair.egressPerHourPerRps[at++] = nodes[allowed[n]].site === origin.site ? 0 : inputBytes * egressPerByte * 3600;
      }
      model.pairs.push(pair);
      serviceRunsPerSecond += origin.runsPerSecond;
      latencyReference += (origin.runsPerSecond / Math.max(model.totalRunsPerSecond, 1e-12)) * fastest;
    }
    // Cheapest conceivable instance cost of the service, ignoring whole instances and node limits.
    let cheapest = Infinity;
    for (let j = 0; j < N; j++) {
      const ij = i * N + j;
      if (model.eligible[ij] === 0) continue;
      const needed = Math.max(model.minInstances[i], serviceRunsPerSecond / model.capacity[ij]);
      cheapest = Math.min(cheapest, model.instanceCostPerHour[ij] * needed);
    }
    if (Number.isFinite(cheapest)) costReference += cheapest;
    else if (model.minInstances[i] > 0) {
      model.unsatisfiable ??= {
        message: `${service.service}: no node can run it (${summariseExclusions(model.exclusions[i])}); add a node that meets its requirements`,
        details: { service: service.service, excluded: model.exclusions[i] },
      };
    }
  }
  model.latencyReferenceMs = latencyReference > 0 ? latencyReference : 1;
  // A free cheapest plan leaves no scale: cost then counts in currency per hour.
  model.costReferencePerHour = costReference > 0 ? costReference : 1;
  const latencyScale = weights.latency / (Math.max(model.totalRunsPerSecond, 1e-12) * model.latencyReferenceMs);
  const costScale = weights.cost / model.costReferencePerHour;
  for (let ij = 0; ij < S * N; ij++) model.instanceWeight[ij] = costScale * model.instanceCostPerHour[ij];
  for (const pair of model.pairs) {
    for (let n = 0; n < pair.nodes.length; n++) {
      pair.weight[n] = latencyScale * pair.latencyMs[n] + costScale * pair.egressPerHourPerRps[n];
    }
  }
  return model;
}

const round = (value: number) => Math.round(value * 100) / 100;

function summariseExclusions(exclusions: PlanExclusion[]): string {
  return exclusions.map((e) => `${e.nodes} node(s) by ${e.constraint}, e.g. ${e.examples[0]}`).join('; ') || 'no nodes';
}

function unsatisfiableDemand(
  service: PlannedService,
  origin: OriginLoad,
  dataTier: string,
  blocked: string[],
  exclusions: PlanExclusion[],
): { message: string; details: Record<string, unknown> } {
  const from = originName(origin);
  const message =
    blocked.length > 0
      ? `${service.service}: load from ${from} (${origin.runsPerSecond} runs/s) has nowhere to run: its ${dataTier} data would have to move from ${from} to ${blocked.slice(0, 5).join(', ')}${blocked.length > 5 ? ` and ${blocked.length - 5} more` : ''} against its tier, and no node at ${from} can run it (${summariseExclusions(exclusions)})`
      : `${service.service}: load from ${from} (${origin.runsPerSecond} runs/s) has nowhere to run: ${summariseExclusions(exclusions)}`;
  return {
    message,
    details: { service: service.service, origin, dataTier, blockedByDataTier: blocked, excluded: exclusions },
  };
}

/** The objective and its parts for any assignment, so both solvers are judged by one ruler. */
export function evaluateAssignment(
  model: PlanningModel,
  assignment: Assignment,
): { value: number; costPerHour: number; runLatencyMs: number } {
  let costPerHour = 0;
  let latencyTotal = 0;
  let value = 0;
  for (let ij = 0; ij < assignment.instances.length; ij++) {
    const x = assignment.instances[ij];
    if (x === 0) continue;
    costPerHour += x * model.instanceCostPerHour[ij];
    value += x * model.instanceWeight[ij];
  }
  for (const flow of assignment.flows) {
    const pair = model.pairs[flow.pair];
    const n = pair.nodes.indexOf(flow.node);
    costPerHour += flow.runsPerSecond * pair.egressPerHourPerRps[n];
    latencyTotal += flow.runsPerSecond * pair.latencyMs[n];
    value += flow.runsPerSecond * pair.weight[n];
  }
  return { value, costPerHour, runLatencyMs: latencyTotal / Math.max(model.totalRunsPerSecond, 1e-12) };
}

/** Every way the assignment breaks the model: unmet demand, instances short of load, nodes over memory or CPU. */
export function assignmentViolations(model: PlanningModel, assignment: Assignment): string[] {
  const N = model.nodeCount;
  const violations: string[] = [];
  const tolerance = 1e-6;
  const served = new Float64Array(model.pairs.length);
  const load = new Float64Array(model.serviceCount * N);
  for (const flow of assignment.flows) {
    const pair = model.pairs[flow.pair];
    if (pair.nodes.indexOf(flow.node) === -1) violations.push(`pair ${flow.pair} sent to ineligible node ${flow.node}`);
    served[flow.pair] += flow.runsPerSecond;
    load[pair.service * N + flow.node] += flow.runsPerSecond;
  }
  model.pairs.forEach((pair, p) => {
    if (Math.abs(served[p] - pair.runsPerSecond) > tolerance * Math.max(1, pair.runsPerSecond)) {
      violations.push(`pair ${p} served ${served[p]} of ${pair.runsPerSecond} runs/s`);
    }
  });
  const memory = new Float64Array(N);
  const cpu = new Float64Array(N);
  const running = new Float64Array(model.serviceCount);
  for (let ij = 0; ij < load.length; ij++) {
    const x = assignment.instances[ij];
    const i = Math.floor(ij / N);
    if (x > 0 && !model.eligible[ij]) violations.push(`service ${i} placed on ineligible node ${ij % N}`);
    if (load[ij] > x * model.capacity[ij] + tolerance) {
      violations.push(
        `service ${i} on node ${ij % N}: ${load[ij]} runs/s over ${x} instances of ${model.capacity[ij]}`,
      );
    }
    memory[ij % N] += x * model.memoryMb[i];
    cpu[ij % N] += x * model.cpuCores[ij];
    running[i] += x;
  }
  model.problem.nodes.forEach((node, j) => {
    if (memory[j] > node.memoryMb + tolerance) violations.push(`node ${node.id}: ${memory[j]} of ${node.memoryMb} MiB`);
    if (cpu[j] > node.cpuCores + tolerance) violations.push(`node ${node.id}: ${cpu[j]} of ${node.cpuCores} cores`);
  });
  for (let i = 0; i < model.serviceCount; i++) {
    if (running[i] < model.minInstances[i])
      violations.push(`service ${i}: ${running[i]} of ${model.minInstances[i]} minimum instances`);
  }
  return violations;
}
