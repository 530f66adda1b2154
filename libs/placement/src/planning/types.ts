import type { NodeDescriptor, NodeStatus, ServiceRequirements } from '@yunbian/contracts';
import type { ComputeProfiles } from '../compute-profiles';
import type { NetworkModel } from '../network';
import type { ConstraintName, DataTier, Objective, ObjectiveWeights, PlacementHints, UserPrivateScope } from '../types';

/** One service of the workflow to deploy. Each run calls it once, with input from the run's origin. */
export interface PlannedService {
  /** Service reference (`name@version`); keys the compute profiles. */
  service: string;
  requirements?: ServiceRequirements;
  hints?: Pick<PlacementHints, 'tier' | 'tags' | 'site' | 'maxLatencyMs'>;
  /** Requests one instance works on at once. */
  concurrency: number;
  /** CPU cores one instance reserves (default 1, or the whole node where it has less); below 1 its compute time scales up (`cpuSlowdown`). */
  cpuCores?: number;
  /** Input bytes per call. */
  inputBytes?: number;
  dataTier?: DataTier;
  /** Instances to run even with no load (default 1). */
  minInstances?: number;
}

/** A node as the planner needs it; a catalogue `NodeRecord` fits. `limits` cap what instances get. */
export type PlannedNode = Pick<
  NodeDescriptor,
  'id' | 'site' | 'tier' | 'tags' | 'memoryMb' | 'cpuCores' | 'costPerHour'
> &
  Partial<Pick<NodeDescriptor, 'arch' | 'limits'>> & {
    bandwidthMbps?: number;
    /** Nodes that are not alive get nothing (default alive). */
    status?: NodeStatus;
  };

/** Expected runs per second starting at a site (or at one node of it: user-private data needs the node). */
export interface OriginLoad {
  site: string;
  nodeId?: string;
  runsPerSecond: number;
}

export interface DeploymentProblem {
  services: readonly PlannedService[];
  nodes: readonly PlannedNode[];
  load: readonly OriginLoad[];
  profiles: ComputeProfiles;
  network: NetworkModel;
  /** What to minimise; `{ latency: 0.5, cost: 0.5 }` by default. */
  objective?: Objective;
  /** Share of an instance's throughput the plan may use, so queues stay short (default 0.7). */
  maxUtilisation?: number;
  userPrivateScope?: UserPrivateScope;
}

export type PlanningConstraint = ConstraintName | 'cpu';

/** Nodes a service may not run on, counted by the first constraint they fail. */
export interface PlanExclusion {
  constraint: PlanningConstraint;
  nodes: number;
  /** Up to three of them, with the sentence that explains it. */
  examples: string[];
}

export interface PlannedOrigin {
  site: string;
  nodeId?: string;
  runsPerSecond: number;
  /** Network + compute for one call from there (queueing is kept low by the utilisation cap instead). */
  latencyMs: number;
}

export interface NodeAssignment {
  nodeId: string;
  site: string;
  instances: number;
  runsPerSecond: number;
  /** Planned load ÷ the instances' full throughput. */
  utilisation: number;
  origins: PlannedOrigin[];
}

export interface ServicePlan {
  service: string;
  instances: number;
  placements: NodeAssignment[];
  costPerHour: number;
  /** Load-weighted mean latency of one call. */
  meanLatencyMs: number;
  excluded: PlanExclusion[];
  /** Relaxed SLOs, scoped data tiers and other things a person should know. */
  notes: string[];
}

export interface PlanObjective {
  /** wL·L/Lref + wC·C/Cref (see docs/placement.md); what the solvers minimise. */
  value: number;
  weights: ObjectiveWeights;
  costPerHour: number;
  /** Load-weighted mean latency of a run's service calls, summed over the services. */
  runLatencyMs: number;
  /** Lower bounds used to scale latency and cost to comparable numbers. */
  latencyReferenceMs: number;
  costReferencePerHour: number;
}

export type SolverName = 'exact' | 'heuristic';

export interface DeploymentPlan {
  ok: true;
  solver: SolverName;
  /** True when the exact solver proved optimality (within HiGHS's MIP gap tolerance). */
  provenOptimal: boolean;
  objective: PlanObjective;
  services: ServicePlan[];
  /** One line per service, then a summary line. */
  reasons: string[];
  solveMs: number;
}

export interface DeploymentRefusal {
  ok: false;
  solver: SolverName;
  error: { code: 'UNSATISFIABLE'; message: string; details: Record<string, unknown> };
}

export type DeploymentPlanResult = DeploymentPlan | DeploymentRefusal;
