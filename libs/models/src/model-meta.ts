import type {
  CompressionReport,
  ModelComputeProfiles,
  ModelDerivation,
  PromotionDecision,
  SplitPartInfo,
  TrainingLineage,
} from '@yunbian/contracts';

/** JetStream object store bucket holding model bytes, one object per version (`<name>/<version>`). */
export const MODEL_BUCKET = 'yb-models';
/** JetStream KV bucket holding one `ModelMeta` per version (key `<name>.<version>`). */
export const MODEL_META_BUCKET = 'yb-model-meta';

export { MODEL_NAME_PATTERN } from '@yunbian/contracts';

/** One input or output of an ONNX graph, as onnxruntime reports it. */
export interface ModelValueInfo {
  name: string;
  isTensor: boolean;
  /** Element type (`float32`, `int64`…); absent for non-tensor values (sequences, maps). */
  type?: string;
  /** Dimensions: a number when fixed, the symbolic name when dynamic; empty when unknown. */
  shape?: (number | string)[];
}

/** The registry's Ed25519 signature over a version's name, version and sha256 (see model-signature.ts). */
export interface ModelSignature {
  alg: 'ed25519';
  /** First 16 hex digits of the SHA-256 of the signing key's public SPKI DER. */
  keyId: string;
  /** base64 */
  value: string;
}

/** What the registry knows about one stored model version. */
export interface ModelMeta {
  name: string;
  version: number;
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  size: number;
  inputs: ModelValueInfo[];
  outputs: ModelValueInfo[];
  /** Where the bytes are. */
  object: { bucket: string; name: string };
  createdAt: string;
  /**
   * Peak resident memory of the registry's inspector process while onnxruntime loaded the
   * model with the nodes' options (Node.js and onnxruntime themselves included, ~75 MB).
   */
  loadPeakMemoryMb?: number;
  /** The version this one was made from: by a compression recipe, or a split part (`split-head:<cut>` / `split-tail:<cut>`). */
  derivedFrom?: ModelDerivation;
  /** What that compression measured: sizes, accuracy, latency per node class, next to the parent's. */
  compression?: CompressionReport;
  /** A split part: which cut, and the tensors between head and tail. */
  split?: SplitPartInfo;
  /** Compute time of every compute node per node class, where measured. */
  profiles?: ModelComputeProfiles;
  /** How a training service made it: parent version, datasets, hyper-parameters, metrics. */
  training?: TrainingLineage;
  /** Canary decisions about this version (promoted or rolled back), oldest first, with their figures. */
  promotions?: PromotionDecision[];
  /** The registry's signature; nodes refuse a version without a valid one. */
  signature?: ModelSignature;
}

/** JetStream KV bucket of the registry's signing key: `public` (PEM, what nodes may pin) and, when generated, `private`. */
export const MODEL_SIGNING_BUCKET = 'yb-model-signing';

export function modelObjectName(name: string, version: number): string {
  return `${name}/${version}`;
}

export function modelMetaKey(name: string, version: number): string {
  return `${name}.${version}`;
}
