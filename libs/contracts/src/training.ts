import type { CompressionReport, DatasetPrivacy, LatencyProfileOptions, ModelDerivation } from './compression';
import type { SplitPartInfo } from './split';

/**
 * Training (`kind: training` services): what a training request names, what a registered
 * version remembers of how it was made, and where checkpoints and staged model bytes go.
 */

/** JetStream object store of training checkpoints, in the domain the training data lives in (a site's for edge data). */
export const TRAINING_CHECKPOINT_BUCKET = 'yb-training-checkpoints';
/** JetStream object store, in the registry's (hub's) domain, where a trained model waits for the registry to take it. */
export const MODEL_STAGING_BUCKET = 'yb-model-staging';

/** Architectures of the project's digits CNN by name (`DIGIT_MODELS` in @yunbian/learning). */
export const TRAINING_ARCHITECTURES = ['device', 'edge', 'cloud'] as const;
export type TrainingArchitectureName = (typeof TRAINING_ARCHITECTURES)[number];

/** A digits CNN: 3×3 conv blocks with these filter counts, then dense layers of these units. */
export interface CnnArchitecture {
  conv: number[];
  dense: number[];
}

/** A camera shift by parameters (see `SiteShift` in @yunbian/learning) or by name. */
export type ShiftSpec =
  string | { stroke?: number; rotateDeg?: number; blurSigma?: number; gain?: number; offset?: number };

/**
 * Samples to train or validate on: a registered dataset (its samples are in the registry's
 * object store), or digits of the built-in split generated where the training runs — for
 * edge-private data, at the site, so the samples are never written anywhere.
 */
export type TrainingData =
  | { dataset: string }
  /**
   * A collection of hard examples (a tiered step's `collect`) in `yb-samples`: the cloud's
   * (public) or, with `site`, that site's, read in the site's domain where the training runs.
   * Each sample is labelled with its true label when it has one, else the answering tier's
   * pseudo-label (`labels: "true"` keeps only the truly labelled ones).
   */
  | { samples: { dataset: string; site?: string; labels?: 'true' | 'true-or-pseudo' } }
  | {
      digits: {
        part: 'public' | 'edge' | 'heldOut';
        /** Range within the part (default all of it)… */
        from?: number;
        to?: number;
        /** …or site `index`'s contiguous share of `of` sites (the edge part). */
        share?: { index: number; of: number };
        /** The site's camera shift, applied to every image. */
        shift?: ShiftSpec;
      };
    };

export interface TrainingHyperParameters {
  /** Epochs at `learningRate` (default 3). */
  epochs?: number;
  /** Adam's learning rate (default 1e-3). */
  learningRate?: number;
  batchSize?: number;
  /** Seeds the initial weights (training from an architecture) and the batch order (default 1). */
  seed?: number;
  /** Extra epochs at a lower rate after `epochs`. */
  tail?: { epochs: number; learningRate: number };
}

/** The body of a call to the `training` service. */
export interface TrainingRequest {
  /** Fine-tune this registered version (`name@version`; `name` is its latest)… */
  base?: string;
  /** …or train this architecture from seeded random weights. */
  architecture?: TrainingArchitectureName | CnnArchitecture;
  /** Samples trained on, concatenated in this order (labelled). */
  training: TrainingData[];
  /** Labelled samples the result (and the base) is evaluated on. */
  validation: TrainingData;
  hyperParameters?: TrainingHyperParameters;
  /** The model name the result is registered as (its next version). */
  register: string;
  /**
   * Checkpoints are keyed by the run and step of the workflow engine's idempotency key, so a
   * new attempt after a lost worker resumes; a direct call without that key names its own.
   */
  checkpointKey?: string;
  /**
   * JetStream domain of the checkpoints; default the calling engine's (a site engine's
   * domain for a run at a site), else the worker's own. Required for edge-private data when
   * no engine names one, so weights trained on it stay at its site.
   */
  checkpointDomain?: string;
}

/** One training data reference as a version's lineage records it. */
export interface TrainingDataRecord {
  /** `dataset <name>` or `digits <part> [from, to) shift <…>` (absolute positions in the split). */
  label: string;
  privacy: DatasetPrivacy;
  count: number;
  /** Registered datasets: the sha256 of the samples trained on. */
  sha256?: string;
  /** Collections: how many samples had a true label (the rest a pseudo-label), and the last sequence read. */
  collection?: { site?: string; trueLabels: number; pseudoLabels: number; lastSeq: number };
  /** Digits: the absolute range and the shift parameters. */
  digits?: { from: number; to: number; shift?: Record<string, number>; shiftName?: string };
}

export interface TrainingEpochRecord {
  epoch: number;
  loss: number;
  /** Share of training samples classified right during the epoch. */
  accuracy: number;
  learningRate: number;
  seconds: number;
}

/** How a version was trained: stored with it in the registry (`ModelMeta.training`). */
export interface TrainingLineage {
  /** The version fine-tuned; absent when trained from an architecture. */
  parent?: { name: string; version: number; sha256: string };
  architecture: CnnArchitecture;
  datasets: { training: TrainingDataRecord[]; validation: TrainingDataRecord };
  hyperParameters: Required<Omit<TrainingHyperParameters, 'tail'>> & Pick<TrainingHyperParameters, 'tail'>;
  metrics: {
    /** Accuracy of the result on the validation samples (onnxruntime, from the registered bytes). */
    validationAccuracy: number;
    /** The parent's accuracy on the same samples. */
    parentValidationAccuracy?: number;
    epochs: TrainingEpochRecord[];
  };
  /** Epochs restored from a checkpoint rather than run by the worker that finished (0 when none). */
  resumedFromEpoch: number;
  /** Where it was trained, and the JetStream domain its checkpoints were kept in (a site's for edge data). */
  node: string;
  checkpointDomain?: string;
  finishedAt: string;
}

/** What the training service answers. */
export interface TrainingResult {
  model: { name: string; version: number; sha256: string; existing?: boolean };
  lineage: TrainingLineage;
  /** Epochs this worker ran (the rest came from the checkpoint). */
  epochsRun: number;
  checkpoint?: { key: string; domain?: string };
  /** Longest pause of the worker's event loop while training, ms (tfjs runs a batch at a time). */
  eventLoopMaxMs: number;
}

/** `Subjects.modelRegister`: register staged model bytes as the next version (the cloud registry answers). */
export interface RegisterModelCommand {
  name: string;
  /** The object in `MODEL_STAGING_BUCKET` (the registry's domain) holding the bytes; removed once taken. */
  staged: { name: string; sha256: string; size: number };
  training?: TrainingLineage;
  /** A version made from another (a compression recipe run by a workflow's model-ops step). */
  derivedFrom?: ModelDerivation;
  /** What the compression measured (stored as `ModelMeta.compression`); `latency` is filled in by the registry. */
  compression?: Omit<CompressionReport, 'latency'>;
  /**
   * With `derivedFrom` and `compression`: before registering, the registry times the staged
   * bytes next to the parent on one live node per class, as `POST …/compress` does, into
   * `compression.latency`.
   */
  profile?: LatencyProfileOptions;
  /** A head or tail of a split (with `derivedFrom`): a site engine's parts, stored as `ModelMeta.split`. */
  split?: SplitPartInfo;
}
