import type { CompressionRecipe, CompressionReport, LatencyProfileOptions, ModelDerivation } from './compression';
import type { ModelAlias } from './model';

/**
 * Promotion of a model version by canary: live figures per served version, the registry's
 * NATS commands a workflow uses to serve, split and move aliases, and the decision recorded
 * on the candidate version.
 */

/**
 * JetStream KV bucket of live figures: one `LiveFigures` per key
 * `<model>.<version>.<instanceId>`, written by the instance serving that version.
 */
export const MODEL_LIVE_BUCKET = 'yb-model-live';

/**
 * Cumulative counters of one serving instance since it started (`startedAt`). A window's
 * figures are the difference of two readings; a reading with another `startedAt` is a
 * restarted instance whose counters began again at zero.
 */
export interface LiveFigures {
  model: string;
  version: number;
  instanceId: string;
  nodeId: string;
  startedAt: string;
  updatedAt: string;
  /** Requests answered or failed by the handler. */
  requests: number;
  /** Requests the handler failed (bad input, onnxruntime errors). */
  errors: number;
  /** Rows (samples) answered. */
  samples: number;
  /** Sum over answered rows of the top class probability. */
  confidenceSum: number;
  /** Rows that carried a label, and of those the ones whose top class was the label. */
  labelled: number;
  correct: number;
  /** Sum of the handler's time per request, ms (batching wait included). */
  latencyMsSum: number;
}

/** Figures of one version over a window, summed over its instances. */
export interface VersionFigures {
  model: string;
  version: number;
  instances: number;
  requests: number;
  errors: number;
  samples: number;
  labelled: number;
  correct: number;
  /** correct / labelled; null without labelled samples. */
  accuracy: number | null;
  /** Mean top-class probability; null without samples. */
  meanConfidence: number | null;
  /** Mean handler time per request, ms; null without requests. */
  meanLatencyMs: number | null;
  /** errors / requests; 0 without requests. */
  errorRate: number;
}

/** When a canary may take over from stable. */
export interface PromotionRules {
  /** Canary accuracy ≥ stable accuracy − this, in points (percent); default 1. */
  accuracyTolerancePoints?: number;
  /** Canary error rate ≤ stable error rate + this (0–1); default 0. */
  maxErrorRateIncrease?: number;
  /** Canary mean latency ≤ stable mean latency × this; default 1.5. */
  latencyFactor?: number;
  /** Labelled samples each side needs before anything but a rollback is decided; default 200. */
  minLabelledSamples?: number;
  /**
   * Early rollback, inside the window: canary accuracy more than this many points below
   * stable's, beyond sampling noise (see `earlyRollback`); default 5 (100 turns it off).
   */
  earlyAccuracyPoints?: number;
  /** Labelled samples each side needs before the early accuracy rule may decide; default 200. */
  earlyMinLabelledSamples?: number;
  /** Early rollback: canary error rate above stable's + this, beyond sampling noise; default 0.05 (1 turns it off). */
  earlyErrorRateIncrease?: number;
  /** Requests the canary needs before the early error rule may decide; default 20. */
  earlyMinRequests?: number;
}

export interface PromotionCheck {
  rule: 'samples' | 'accuracy' | 'errors' | 'latency' | 'early-accuracy' | 'early-errors';
  passed: boolean;
  /** What was compared, in words with the figures. */
  detail: string;
}

export type PromotionOutcome = 'promoted' | 'rolled-back';

/** One promotion decision with its figures, as the run outputs it and the candidate version records it. */
export interface PromotionDecision {
  model: string;
  stableVersion: number;
  canaryVersion: number;
  outcome: PromotionOutcome;
  /** Why, in one sentence per failed check (or "every check passed"). */
  reason: string;
  checks: PromotionCheck[];
  rules: Required<PromotionRules>;
  window: { from: string; to: string; ms: number };
  /**
   * Set when the decision was taken inside the window by an early rule (`checks` then holds
   * that rule's failed check only): how long the window was to run, and how far it got.
   */
  early?: { plannedWindowMs: number; afterMs: number };
  stable: VersionFigures;
  canary: VersionFigures;
  /** Who decided: `workflow:<name>/run:<id>`. */
  actor: string;
  decidedAt: string;
}

/**
 * `Subjects.modelAlias`: set (or with `version` only, clear the canary of) an alias over NATS;
 * the cloud registry answers with the stored alias. Every version the alias sends requests to
 * must be served by a ready instance, so no request meets a version nobody serves.
 */
export interface SetAliasCommand {
  model: string;
  alias: string;
  version: number;
  canary?: { version: number; share: number };
  /** Recorded as `setBy`. */
  actor: string;
  /** A decision to append to the canary version's `ModelMeta.promotions`. */
  decision?: PromotionDecision;
}

export interface SetAliasReply {
  alias: ModelAlias;
}

/**
 * `Subjects.modelServe`: start `onnx-inference` instances serving `model@version` beside the
 * ready instances serving `model@like` (one per node they are on, same settings and
 * resources), and answer once they are ready.
 */
export interface ServeModelCommand {
  model: string;
  version: number;
  like: number;
  actor: string;
  /** Instance settings besides `model` (e.g. `maxBatch`, `maxDelayMs`). */
  config?: Record<string, unknown>;
  /** How long to wait for the instances to be ready (default 120 s). */
  timeoutMs?: number;
}

export interface ServeModelReply {
  model: string;
  version: number;
  instances: { id: string; nodeId: string }[];
  /** True when instances serving the version were already ready (nothing started). */
  existing: boolean;
}

/**
 * `Subjects.modelRetire`: drain and stop instances — those named (a serve command started
 * them), or, with `serving`, every ready instance serving that version once no alias of the
 * model routes to it any more (refused otherwise).
 */
export interface RetireInstancesCommand {
  instances?: string[];
  serving?: { model: string; version: number };
  actor: string;
}

export interface RetireInstancesReply {
  retired: string[];
}

/** Requests to the `model-ops` service, by `op`. */
export type ModelOpsRequest = EvaluateOp | CompressOp | ServeOp | CanaryOp | WatchOp | ConcludeOp;

/** Samples to evaluate on: a registered dataset or digits of the built-in split. */
export type EvaluationData =
  { dataset: string } | { digits: { part: 'public' | 'edge' | 'heldOut'; from?: number; to?: number } };

export interface EvaluateOp {
  op: 'evaluate';
  model: string;
  version: number;
  data: EvaluationData;
}

export interface EvaluationReport {
  model: string;
  version: number;
  samples: number;
  accuracy: number;
  /** Accuracy per class, by class index; null for a class without samples. */
  perClass: (number | null)[];
  /** Mean cross-entropy of the true class. */
  loss: number;
  /** Median ms of one execution at batch 1 and at `batch`, in this worker. */
  latency: { batch1Ms: number; batch: number; batchMs: number };
  data: string;
}

export interface CompressOp {
  op: 'compress';
  model: string;
  version: number;
  /** Only the recipes that need no training here; `structured` and `distill` go through `POST …/compress`. */
  recipe: Extract<CompressionRecipe, 'int8' | 'prune'>;
  /** Recipe options, and where the latency is measured (default: device, edge and cloud, batch 64, 200 runs). */
  options?: { sparsity?: number; calibrationSamples?: number } & LatencyProfileOptions;
  /** Calibration samples (int8); default the first 500 digits of the public pool. */
  calibration?: EvaluationData;
  /** Labelled samples both versions are measured on; default the held-out digits. */
  validation?: EvaluationData;
}

/** The registered derived version and what its compression measured (also its `ModelMeta.compression`). */
export interface CompressResult {
  model: string;
  version: number;
  derivedFrom: ModelDerivation;
  report: CompressionReport;
}

export interface ServeOp {
  op: 'serve';
  model: string;
  version: number;
  /** Start the instances beside those serving this version (the stable). */
  like: number;
  /** Instance settings besides `model`. */
  config?: Record<string, unknown>;
  actor: string;
}

export interface CanaryOp {
  op: 'canary';
  model: string;
  stable: number;
  canary: number;
  share: number;
  actor: string;
}

/** What the canary op answers: the alias and the live figures' baseline the window starts from. */
export interface CanaryStarted {
  alias: ModelAlias;
  startedAt: string;
  baseline: LiveFigures[];
}

export interface WatchOp {
  op: 'watch';
  model: string;
  stable: number;
  canary: number;
  /** From the canary op: the window runs from `startedAt` for `windowMs`. */
  startedAt: string;
  baseline: LiveFigures[];
  windowMs: number;
  rules?: PromotionRules;
  actor: string;
}

export interface ConcludeOp {
  op: 'conclude';
  decision: PromotionDecision;
  /** Instances the serve op started for the canary: stopped on a rollback. */
  started?: string[];
  /** On promotion: drain and stop the old stable's instances once no request reaches them (default false). */
  retireOld?: boolean;
}

export interface Concluded {
  decision: PromotionDecision;
  alias: ModelAlias;
  /** Instances stopped (a rollback's canary instances, or with `retireOld` the old stable's). */
  retired: string[];
  /** With `retireOld` on a promotion: what happened to the old stable's instances, in words. */
  retiredOld?: { version: number; instances: string[]; drained: boolean; detail: string };
}
