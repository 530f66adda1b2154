import type { ErrorCode, InstanceStatus, NodeStatus, NodeTier, ServiceRequirements } from '@yunbian/contracts';

/** Where data may travel: anywhere, only within its edge site, only on the node (or site) it came from. */
export const DATA_TIERS = ['public', 'edge-private', 'user-private'] as const;
export type DataTier = (typeof DATA_TIERS)[number];

/** How far user-private data may go: its origin node only (default), or any node of the origin's site. */
export type UserPrivateScope = 'node' | 'site';

/**
 * One place a step could run: a running instance, or a node that could start one (no `instanceId`).
 * `candidatesFromCatalog` builds these from catalogue records.
 */
export interface PlacementCandidate {
  nodeId: string;
  /** The instance that would serve the step; absent when the candidate is a node without one. */
  instanceId?: string;
  site: string;
  tier: NodeTier;
  tags: readonly string[];
  /**
   * Memory the step's service can count on here, MiB: for a running instance its `resources.memoryMb`
   * or the node's memory (limit) (its reservation was checked when it started); for a bare node what
   * its memory (limit) leaves after reservations.
   */
  memoryMb: number;
  costPerHour: number;
  nodeStatus: NodeStatus;
  /** Required when `instanceId` is set; only `ready` instances take steps. */
  instanceStatus?: InstanceStatus;
  /** Requests running now. */
  inFlight: number;
  /** Requests waiting for a free slot. */
  queued: number;
  /** Requests the instance works on at once (the service's `concurrency`). */
  concurrency: number;
  /** Queue length at which the instance refuses with OVERLOADED; absent means unbounded. */
  maxQueue?: number;
  /** Declared uplink bandwidth of the node (its descriptor's `bandwidthMbps`). */
  bandwidthMbps?: number;
  /** What compute profiles are kept per (`nodeClassKey`: arch + tags + CPU); absent: the node id. */
  nodeClass?: string;
  /** CPU cores the instance gets (`effectiveCpu`); scales declared compute times below one core. */
  cpu?: number;
  /**
   * The `name@version` the candidate serves: the step's `service` or one of its `versions`,
   * whose requirements and compute profile it is judged by. Absent: the step's `service`.
   */
  service?: string;
}

/** Where a step's input data is: a node (and its site). Absent on a step: the orchestrator holds it. */
export interface DataOrigin {
  nodeId?: string;
  site: string;
}

export interface TagRequirement {
  /** Tags a node must all carry. */
  allOf?: readonly string[];
  /** Tags of which a node must carry at least one. */
  anyOf?: readonly string[];
}

/** Weights of a mixed objective; normalised so they sum to 1. */
export interface ObjectiveWeights {
  latency: number;
  cost: number;
}

export type Objective = 'latency' | 'cost' | ObjectiveWeights;

/** What a workflow step says about where it should run. */
export interface PlacementHints {
  tier?: NodeTier;
  tags?: TagRequirement;
  site?: string;
  /** What to minimise; `latency` by default. */
  objective?: Objective;
  /** Latency SLO: candidates over it are only chosen when none meets it (and the decision says so). */
  maxLatencyMs?: number;
  /** A strategy name from the registry; overrides the one the objective implies. */
  strategy?: string;
}

/** One version of a step's service: its reference and what it requires. */
export interface ServiceVersion {
  /** `name@version`; keys its compute profile. */
  service: string;
  requirements?: ServiceRequirements;
}

/** One step to place. */
export interface StepPlacementRequest {
  /** Service reference (`name@version`); keys the compute profiles. */
  service: string;
  /** The service's own requirements (from its descriptor); merged with the hints. */
  requirements?: ServiceRequirements;
  /**
   * Further versions the step may run on, when its range matched several (`matchingVersions`):
   * a candidate whose `service` names one is held to that version's requirements and estimated
   * with that version's compute profile.
   */
  versions?: readonly ServiceVersion[];
  /** Bytes of input the step must receive. */
  inputBytes: number;
  /** Where the input is; absent means the orchestrator holds it (a run's REST input). */
  origin?: DataOrigin;
  /** Tier of the input data; `public` by default. */
  dataTier?: DataTier;
  hints?: PlacementHints;
}

export const CONSTRAINTS = [
  'node-status',
  'instance-status',
  'saturated',
  'data-tier',
  'tier',
  'site',
  'tags',
  'memory',
] as const;
export type ConstraintName = (typeof CONSTRAINTS)[number];

/**
 * Rejections that waiting can cure: an instance starting, a node coming back, a queue draining.
 * A refusal made only of these is `retryable`; any other (tier, site, tags, memory, data tier)
 * stays until the fleet or the step changes.
 */
export const TRANSIENT_CONSTRAINTS: ReadonlySet<ConstraintName> = new Set<ConstraintName>([
  'node-status',
  'instance-status',
  'saturated',
]);

export interface Rejection {
  constraint: ConstraintName;
  message: string;
}

/** Where a compute estimate came from, best first. */
export type ComputeSource = 'observed' | 'declared-tag' | 'declared-service' | 'default';

/** Where a round-trip time came from. */
export type RttSource = 'same-node' | 'lan' | 'measured' | 'default';

/** Where a bandwidth figure came from: measured by agents, declared by nodes, the default, the LAN's, or the same node. */
export type BandwidthSource = 'same-node' | 'lan' | 'measured' | 'declared' | 'default';

/** Estimated latency and cost of running the step on one candidate (milliseconds, currency per call). */
export interface CandidateEstimate {
  /** rttMs + transferMs. */
  networkMs: number;
  rttMs: number;
  rttSource: RttSource;
  /** Input bytes ÷ link bandwidth. */
  transferMs: number;
  bandwidthMbps: number;
  bandwidthSource: BandwidthSource;
  /** Age of a measured bandwidth (ms, as of the network model's last rebuild); absent for other sources. */
  bandwidthAgeMs?: number;
  /** Waiting for a free slot: max(0, inFlight + queued + 1 − concurrency) × computeMs ÷ concurrency. */
  queueMs: number;
  /** Starting an instance on a bare node (0 for a running instance). */
  startMs: number;
  computeMs: number;
  computeSource: ComputeSource;
  /** The node class the compute time is for. */
  nodeClass?: string;
  /** Factor a declared compute time was scaled by for the instance's CPU share (4 for 0.25 core; 1: none). */
  cpuSlowdown: number;
  /** networkMs + startMs + queueMs + computeMs. */
  latencyMs: number;
  /** Node cost per millisecond × computeMs, plus egress for input bytes leaving the origin's site. */
  costPerCall: number;
}

/** One candidate as the decision saw it. */
export interface CandidateEvaluation {
  nodeId: string;
  instanceId?: string;
  site: string;
  /** The `name@version` the candidate was judged for, when the candidate named one. */
  service?: string;
  eligible: boolean;
  /** Every hard constraint the candidate fails; empty when eligible. */
  rejections: readonly Rejection[];
  /** Present for eligible candidates. */
  estimate?: CandidateEstimate;
  /** Present when the step has a latency SLO and the candidate is eligible. */
  meetsSlo?: boolean;
  /** The strategy's score (lower is better); present for candidates the strategy ranked. */
  score?: number;
}

interface DecisionBase {
  service: string;
  /** Name of the strategy that ranked the candidates. */
  strategy: string;
  objective: Objective;
  maxLatencyMs?: number;
  /** Every candidate in input order; empty when `explain: false`. */
  candidates: CandidateEvaluation[];
  candidateCount: number;
  eligibleCount: number;
  /** One line a person can read. */
  reason: string;
}

export interface PlacementChoice extends DecisionBase {
  ok: true;
  chosen: CandidateEvaluation;
  /** Present when the step has a latency SLO: false when no eligible candidate met it. */
  sloMet?: boolean;
}

export interface PlacementFailure {
  code: Extract<ErrorCode, 'UNSATISFIABLE'>;
  message: string;
  details: {
    service: string;
    dataTier: DataTier;
    /** Candidates refused only by the data-tier rule: running there would move the data against its tier. */
    blockedByDataTier: string[];
    rejections: { candidate: string; reasons: string[] }[];
  };
}

export interface PlacementRefusal extends DecisionBase {
  ok: false;
  error: PlacementFailure;
  /**
   * Whether trying again later may succeed: every candidate was refused only for transient
   * reasons (`TRANSIENT_CONSTRAINTS`), or there were no candidates (one may start). A caller
   * retries these (the orchestrator answers UNAVAILABLE) and fails the rest (UNSATISFIABLE).
   */
  retryable: boolean;
}

export type PlacementDecision = PlacementChoice | PlacementRefusal;
