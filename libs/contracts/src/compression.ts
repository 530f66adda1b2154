/**
 * Datasets (validation, calibration and training sets) and model compression: what the
 * orchestrator's `/datasets` and `POST /models/{name}/versions/{v}/compress` speak, and what
 * agents answer when asked to profile models.
 */

/** Who may see a dataset's samples: anyone, the edge site it came from, only its user. */
export const DATASET_PRIVACY_TIERS = ['public', 'edge-private', 'user-private'] as const;
export type DatasetPrivacy = (typeof DATASET_PRIVACY_TIERS)[number];

/** JetStream object store bucket of dataset bytes (object `<name>`) and KV bucket of their metadata (key `<name>`). */
export const DATASET_BUCKET = 'yb-datasets';
export const DATASET_META_BUCKET = 'yb-dataset-meta';
export const DATASET_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A registered dataset. Its object holds `count` samples of `shape` float32 values each
 * (little-endian, back to back), then, when `labelled`, `count` uint8 labels.
 */
export interface DatasetMeta {
  name: string;
  privacy: DatasetPrivacy;
  labelled: boolean;
  count: number;
  /** Shape of one sample, e.g. `[1, 28, 28]`. */
  shape: number[];
  /** Number of classes (largest label + 1), when labelled. */
  classes?: number;
  /** Bytes of the stored object. */
  size: number;
  sha256: string;
  object: { bucket: string; name: string };
  /** Where the samples came from: the project's digits split, or an upload. */
  source: { kind: 'digits'; part: string; from: number; to: number } | { kind: 'upload' };
  description?: string;
  createdAt: string;
}

export const COMPRESSION_RECIPES = ['int8', 'prune', 'structured', 'distill'] as const;
export type CompressionRecipe = (typeof COMPRESSION_RECIPES)[number];

/** `POST /models/{name}/versions/{v}/compress`. */
export interface CompressRequest {
  recipe: CompressionRecipe;
  /** Registered datasets by role; `validation` (labelled) is needed by every recipe. */
  datasets: {
    validation: string;
    /** int8: the samples activation ranges are calibrated on (default: validation). */
    calibration?: string;
    /** structured: labelled fine-tuning set. distill: the teacher labels it (labels, if any, unused). */
    training?: string;
  };
  options?: CompressOptions;
}

export interface CompressOptions {
  /** int8: how activation ranges are taken (default minmax). */
  calibration?: 'minmax' | 'percentile';
  percentile?: number;
  /** int8: at most this many calibration samples (default 500). */
  calibrationSamples?: number;
  /** prune: share of each weight tensor zeroed (default 0.5). */
  sparsity?: number;
  /** structured: share of filters/units kept per layer (default 0.5). */
  keep?: number;
  /** structured/distill: training epochs (default 2 / 4). */
  epochs?: number;
  /** distill: the student's architecture (default conv [8, 16], 5,258 parameters). */
  student?: { conv: number[]; dense: number[] };
  seed?: number;
  /** Latency: the node classes (tiers) to measure on (default device, edge, cloud). */
  nodeClasses?: string[];
  /** Latency: the batch size measured next to batch 1 (default 64). */
  batchSize?: number;
  /** Latency: timed runs per model and batch size (default 200 at batch 1, 20 at the batch size). */
  runs?: number;
}

/** How a compression's latency is measured on the nodes (the latency part of `CompressOptions`). */
export type LatencyProfileOptions = Pick<CompressOptions, 'nodeClasses' | 'batchSize' | 'runs'>;

export interface ModelSizeFigures {
  bytes: number;
  gzipBytes: number;
  parameters: number;
}

/**
 * Latency of one model at one batch size on one node, ms per call. Under a CFS quota a call
 * shorter than the quota usually runs unthrottled, so the median shows the node's per-core
 * speed; the throttled calls (the quota used up) land in p90 and the mean, which is what a
 * steady stream of calls gets from a node of that limit.
 */
export interface LatencyFigure {
  batch: number;
  medianMs: number;
  meanMs: number;
  p90Ms: number;
  runs: number;
}

export type NodeClassLatency =
  | {
      nodeClass: string;
      measured: true;
      nodeId: string;
      /** The CPU the node gives its instances (its limit, else its cores), and whether a cgroup enforced it. */
      cpu: number;
      cpuEnforced: boolean;
      parent: LatencyFigure[];
      compressed: LatencyFigure[];
      /** parent median / compressed median per batch size (> 1: the compressed model is faster). */
      speedup: Record<string, number>;
    }
  | { nodeClass: string; measured: false; reason: string };

/** What a compression measured, in the new version's metadata. */
export interface CompressionReport {
  recipe: CompressionRecipe;
  options: Record<string, unknown>;
  parent: ModelSizeFigures & { accuracy: number };
  compressed: ModelSizeFigures & { accuracy: number };
  /** parent bytes / compressed bytes. */
  sizeRatio: number;
  /** compressed − parent, in percentage points. */
  accuracyDeltaPoints: number;
  /** `dataset`: a registered dataset's name, or the digits range a model-ops compress validated on (`digits [8000, 10000)`). */
  validation: { dataset: string; samples: number; privacy: DatasetPrivacy };
  datasets: Record<string, { name: string; privacy: DatasetPrivacy; samples: number }>;
  /** Operators onnxruntime runs for the compressed model after its optimisations (int8: QLinearConv, QGemm). */
  kernels?: Record<string, number>;
  latency: NodeClassLatency[];
  /** Recipe-specific details (calibrated ranges, sparsity, kept architecture, training epochs…). */
  details: Record<string, unknown>;
  seconds: number;
}

/** Where a derived version came from. */
export interface ModelDerivation {
  name: string;
  version: number;
  /** A compression recipe (`int8`, `prune`, `structured`, `distill`) or a split part (`split-head:<cut>`, `split-tail:<cut>`). */
  recipe: CompressionRecipe | `split-head:${string}` | `split-tail:${string}`;
}

export type CompressionJobStatus = 'running' | 'succeeded' | 'failed';

export interface CompressionJob {
  id: string;
  status: CompressionJobStatus;
  model: { name: string; version: number };
  request: CompressRequest;
  /** What it is doing now (calibrating, measuring on node x…). */
  stage: string;
  createdAt: string;
  finishedAt?: string;
  /** The version it registered when it succeeded (`existing`: those bytes were already that version). */
  result?: { name: string; version: number; existing?: boolean };
  report?: CompressionReport;
  error?: { code: string; message: string };
}

/** A model file for an agent to profile: an object of the JetStream object store, checked by hash. */
export interface ProfileTarget {
  label: string;
  bucket: string;
  object: string;
  sha256: string;
}

/** Orchestrator → agent (`Subjects.nodeProfileModels`): time these models on this node, under its CPU limit. */
export interface ProfileModelsRequest {
  models: ProfileTarget[];
  batchSizes: number[];
  /** Timed runs per model and batch size; the models take turns, so load hits all of them alike. */
  runs: Record<string, number>;
  /** Untimed runs first (default 20). */
  warmup?: number;
  timeoutMs?: number;
  /**
   * Per-compute-node times for split planning instead of whole-model latencies: each model is
   * run at `inputShape` under onnxruntime's profiler (`@yunbian/split` `profileNodes`), `runs`
   * times; `batchSizes` and `runs` above are then ignored.
   */
  nodeTimes?: { inputShape: Record<string, number[]>; runs: number };
}

export interface ProfileModelsReply {
  nodeId: string;
  cpu: number;
  cpuEnforced: boolean;
  /** Per model label, one figure per batch size (empty with `nodeTimes`). */
  results: Record<string, LatencyFigure[]>;
  /** With `nodeTimes`: per model label, each compute node's time (ms) and the whole model's median wall time. */
  nodeTimes?: Record<string, { nodes: Record<string, number>; totalMs: number; runs: number }>;
}

/** Object store where compressed versions wait while nodes profile them (the cloud's compression jobs). */
export const COMPRESSION_STAGING_BUCKET = 'yb-compression-staging';
