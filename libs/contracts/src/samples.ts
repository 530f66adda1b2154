import type { DatasetPrivacy } from './compression';

/**
 * Collected samples: the hard examples a tiered step collects (`collect` on the step), kept in
 * a JetStream stream of the domain their privacy tier allows — the hub's for `public`, the
 * site's own for `edge-private` (the hub never holds them), nowhere for `user-private`.
 */

/** The JetStream stream of collected samples, one in each domain that keeps any (`yb-samples`). */
export const SAMPLE_STREAM = 'yb-samples';
/** Subjects of the stream: `yb.samples.<scope>.<dataset>`, scope `cloud` or the site's name. */
export const SAMPLE_SUBJECT_ROOT = 'yb.samples';
/** The scope of the hub's collections (public samples). */
export const CLOUD_SAMPLE_SCOPE = 'cloud';

/** The subject one collection's samples are appended on, in the domain of `scope`. */
export function sampleSubject(scope: string, dataset: string): string {
  return `${SAMPLE_SUBJECT_ROOT}.${scope}.${dataset}`;
}

/** What the stream of a scope captures: its own collections only, so a site's never lands in the hub's stream. */
export function sampleStreamSubjects(scope: string): string[] {
  return [`${SAMPLE_SUBJECT_ROOT}.${scope}.>`];
}

/** One collected sample, one message in `yb-samples`. */
export interface CollectedSample {
  dataset: string;
  privacy: DatasetPrivacy;
  /** Where it came from: the run, the step, the forEach item (null: none) and the sample's row in the batch. */
  run: string;
  step: string;
  item: number | null;
  row: number;
  /** The tier whose rule sent it on, its predicted class (probabilities) and the check that found it hard. */
  sentBy: { tier: number; model?: string; prediction?: number; score: number; threshold: number; rule: string };
  /** The tier that answered it in the end, and its class as a pseudo-label (absent: answered by fallback). */
  answeredBy: { tier: number; model?: string; pseudoLabel?: number };
  /** The true label, when the step input carried one for the row (`labels`). */
  label?: number;
  /** The sample: the input tensor's row (`dims` with a leading 1), float32 little-endian as base64. */
  input: { name: string; dims: number[]; float32: string };
  collectedAt: string;
}
