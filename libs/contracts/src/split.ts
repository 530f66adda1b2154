/**
 * Split inference: a model cut in two, the head on a first node and the tail on a second,
 * the tensors crossing the cut sent between them. What `POST /models/{name}/versions/{v}/split-plan`
 * and `.../split` speak, and the compute profiles stored with a model version.
 */

/**
 * Time of every compute node of a model on one node class (ms, one inference at the profiled
 * input shape). Keys are compute node names as `@yunbian/split` names them: the ONNX node's
 * `name`, or `<opType>_<index in graph.node>` when the file leaves it empty (ONNX Runtime's
 * own naming). Constant nodes are weights and have no entry.
 */
export interface NodeComputeProfile {
  nodes: Record<string, number>;
  /** Input shape the times were measured at, e.g. `{ x: [1, 3, 640, 640] }`. */
  inputShape?: Record<string, number[]>;
  /** When and how they were measured. */
  measuredAt?: string;
  /** `measured`: on a node of that class; `scaled`: measured elsewhere and scaled by CPU. */
  source?: 'measured' | 'scaled';
  /** Runs the figures are the median of. */
  runs?: number;
  /** The node that measured them, its CPU (cores) and whether its limit was enforced (cgroup). */
  nodeId?: string;
  cpu?: number;
  cpuEnforced?: boolean;
  /** Median wall time of the whole model there (the node times add up to it). */
  totalMs?: number;
}

/** `POST /models/{name}/versions/{v}/profile`: measure per-node times on a node or a node of a class. */
export interface SplitProfileRequest {
  /** A tier (its most constrained alive node) or a placement class key; or give `nodeId`. */
  nodeClass?: string;
  nodeId?: string;
  /** As for split-plan. */
  inputShape?: Record<string, number[]>;
  /** Profiled runs (default `YUNBIAN_SPLIT_PROFILE_RUNS`). */
  runs?: number;
}

/**
 * Compute profiles of a model version, by node class: a tier (`device`, `edge`, `cloud`) or a
 * placement class key (`arch|tags|cpu`). Stored in the version's metadata (`profiles`).
 */
export type ModelComputeProfiles = Record<string, NodeComputeProfile>;

export const SPLIT_OBJECTIVES = ['latency', 'throughput'] as const;
export type SplitObjective = (typeof SPLIT_OBJECTIVES)[number];

/** How cut tensors travel: float32 as computed, or float32 tensors narrowed to float16 / int8. */
export const SPLIT_LOSSY_MODES = ['float16', 'int8'] as const;
export type SplitLossyMode = (typeof SPLIT_LOSSY_MODES)[number];

/** Round trip and bandwidth of the path from the first node to the second. */
export interface SplitLink {
  rttMs: number;
  mbps: number;
}

/** `POST /models/{name}/versions/{v}/split-plan`. */
export interface SplitPlanRequest {
  /** Where the head runs (the data is there) and where the tail runs: node ids or node classes (tiers). */
  between: [string, string];
  /** Default: as measured now between the two nodes (placement's network model). */
  link?: SplitLink;
  /** Input shapes by input name; symbolic dimensions other than a leading batch (1) need one. */
  inputShape?: Record<string, number[]>;
  /** Default latency. */
  objective?: SplitObjective;
  /** Default false: cut tensors travel as float32. */
  lossy?: false | SplitLossyMode;
}

/** A way to cut a model: the tensors crossing from the head to the tail. */
export interface SplitCutView {
  /** `all-first`, `all-second`, or the crossing tensor names joined by `+`. */
  id: string;
  kind: 'all-first' | 'all-second' | 'single' | 'multi';
  tensors: string[];
  /** Compute nodes in the head and in the tail. */
  headNodes: number;
  tailNodes: number;
}

/** What one cut is expected to cost. */
export interface SplitCutEstimate extends SplitCutView {
  headMs: number;
  transferBytes: number;
  transferMs: number;
  /** 0 when nothing runs on the second node. */
  rttMs: number;
  tailMs: number;
  /** head + transfer + RTT + tail: the latency of one inference. */
  totalMs: number;
  /** max(head, transfer, tail): time between results when inferences are pipelined. */
  periodMs: number;
  /**
   * In a plan's candidates: the cut that dominates this one for the plan's objective — no
   * worse in anything the bandwidth does not change (latency: head + tail + RTT, and the bytes
   * sent; throughput: head, tail and bytes) and better in one — so this one is never the best
   * at any bandwidth of that RTT. Absent when no candidate dominates it.
   */
  dominatedBy?: string;
}

/** Where one side's compute figures came from. */
export interface SplitSideProfile {
  /** What was asked (a node id or a class). */
  node: string;
  /** The node class the profile is for. */
  nodeClass: string;
  /** `stored`: the version's profile for that class; `estimated`: measured on the orchestrator and scaled. */
  source: 'stored' | 'estimated';
  /** Factor the orchestrator's times were multiplied by (estimated only). */
  scale?: number;
  totalMs: number;
  note?: string;
}

export interface SplitPlan {
  model: { name: string; version: number; sha256: string };
  between: [string, string];
  link: SplitLink & { source: 'request' | 'measured' | 'declared' | 'default' | 'lan' | 'same-node' };
  inputShape: Record<string, number[]>;
  objective: SplitObjective;
  lossy: false | SplitLossyMode;
  profiles: [SplitSideProfile, SplitSideProfile];
  graph: { computeNodes: number; constantNodes: number; tensors: number; inputBytes: number };
  /** Every candidate, best first by the objective. */
  candidates: SplitCutEstimate[];
  chosen: SplitCutEstimate;
  /** Why this cut: the objective's figure against the trivial placements and the runner-up. */
  reason: string;
  /** Present with `lossy`: what narrowing the chosen cut's tensors does to the outputs. */
  lossyCost?: SplitLossyCost;
  /** Caveats the caller should know, such as profiles not measured on the node classes. */
  notes: string[];
}

/** The accuracy cost of a lossy transfer, measured on sample inputs. */
export interface SplitLossyCost {
  mode: SplitLossyMode;
  samples: number;
  /** What the samples were. */
  sampleSource: string;
  maxAbsDiff: number;
  /** Share of samples whose arg-max of the first output is unchanged. */
  top1Agreement: number;
}

/** `POST /models/{name}/versions/{v}/split`. */
export interface SplitRequest {
  /** A cut id from a split plan. */
  cut: string;
  /** Input shape the cut's tensor types are read at (default as for split-plan). */
  inputShape?: Record<string, number[]>;
}

/** What a head or tail version records about its origin (with `derivedFrom`). */
export interface SplitPartInfo {
  part: 'head' | 'tail';
  cut: string;
  /** Tensors the head outputs and the tail takes, in order. */
  tensors: string[];
  /** Sha256 of the parent version's bytes. */
  parentSha256: string;
}
