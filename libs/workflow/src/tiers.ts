import { bytesToBase64 } from '@yunbian/common';
import type { TierDefinition } from './definition';
import { judgeSample, type HardVerdict, type SampleRow } from './hard-examples';

/**
 * Tiered inference over a batch (a step's `tiers`): the pure parts — slicing the hard
 * samples' rows out of a request, judging a tier's answer sample by sample, merging the
 * answers back in sample order. Requests and replies are the onnx-inference wire format:
 * `{ inputs: { <name>: { dims, float32 } } }` in, `{ outputs: { <name>: { dims, float32 } } }`
 * out, float32 little-endian bytes as base64, the batch along the first dimension.
 */

/** A tensor on the wire (the onnx-inference format). */
export interface TierTensor {
  dims: number[];
  float32: string;
}

/** Why a sample's answer is the lower tier's: the tier above could not be reached. */
export interface TierFallback {
  /** The tier that could not answer. */
  tier: number;
  reason: string;
}

/** Which tier answered one sample, with what model, and why there. */
export interface SampleAnswer {
  tier: number;
  /** The model as resolved (`digits@2`), else the tier's service as placed. */
  model?: string;
  /**
   * The hard-example check that settled it: the answering tier's own (not hard), or — for a
   * sample the last tier answered, or one answered by fallback — the check below that sent it up.
   */
  why?: HardVerdict;
  fallback?: TierFallback;
  /**
   * A sample some tier sent on (a hard example): the first tier that did, its model and, for
   * class probabilities, the class it predicted — what a collection (`collect`) keeps of it.
   */
  sentBy?: { tier: number; model?: string; prediction?: number };
}

/** What one tier did for a task's batch. */
export interface TierCount {
  tier: number;
  service?: string;
  model?: string;
  node?: string;
  /** Samples it answered (its sub-batch size); Sedna's inferenceNumber. */
  inferences: number;
  /** Of those, the hard ones its rule sent on; Sedna's hardExampleNumber. */
  hardExamples: number;
  /** Samples sent up but answered by this tier after all (the tier above was unreachable). */
  fallbacks: number;
}

/** A task's progress through its tiers (kept in the run's state while it moves, and after). */
export interface TierProgress {
  /** The tier whose answer is awaited or being judged. */
  tier: number;
  /** The batch's samples that tier got, by index in the step's batch (tier 0: all). */
  rows: number[];
  /** The batch size. */
  samples: number;
  /** Per sample, the answer so far (a lower tier's until a higher one replaces it). */
  answers: SampleAnswer[];
  /** The answers' tensors merged so far, in sample order. */
  outputs: Record<string, TierTensor>;
  /** Name of tier 0's decision tensor in `outputs` (higher tiers' decision tensors merge into it). */
  decision: string;
  counts: TierCount[];
  /** Set when the awaited tier could not be reached: its samples keep the lower tier's answer. */
  unreachable?: { reason: string };
}

/** The output of a tiered step. */
export interface TieredOutput {
  outputs: Record<string, TierTensor>;
  batchSize: number;
  samples: SampleAnswer[];
  tiers: TierCount[];
}

export class TierError extends Error {}

const isTensor = (v: unknown): v is TierTensor =>
  !!v &&
  typeof v === 'object' &&
  Array.isArray((v as TierTensor).dims) &&
  (v as TierTensor).dims.every((d) => Number.isInteger(d) && d >= 0) &&
  typeof (v as TierTensor).float32 === 'string';

function tensorsOf(value: unknown, field: 'inputs' | 'outputs', what: string): Record<string, TierTensor> {
  const tensors = (value as Record<string, unknown> | null)?.[field];
  if (!tensors || typeof tensors !== 'object' || Object.keys(tensors).length === 0) {
    throw new TierError(`${what} has no ${field}: tiers need { ${field}: { <name>: { dims, float32 } } }`);
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (!isTensor(t) || t.dims.length === 0)
      throw new TierError(`${what}: ${field}.${name} is not a tensor { dims: [batch, …], float32: <base64> }`);
  }
  return tensors as Record<string, TierTensor>;
}

/** The batch size of a tiered step's request (the first dimension, the same in every input tensor). */
export function requestBatch(input: unknown): number {
  const tensors = tensorsOf(input, 'inputs', 'the step input');
  let batch: number | undefined;
  for (const [name, t] of Object.entries(tensors)) {
    if (batch !== undefined && t.dims[0] !== batch) {
      throw new TierError(
        `the step input's tensors disagree on the batch size (first dimension): inputs.${name} has ${t.dims[0]}, another ${batch}`,
      );
    }
    batch = t.dims[0];
  }
  return batch!;
}

/** The bytes of one row of a tensor (all but its first dimension). */
const rowBytes = (t: TierTensor) => 4 * t.dims.slice(1).reduce((a, b) => a * b, 1);

function bytesOf(name: string, t: TierTensor): Buffer {
  const bytes = Buffer.from(t.float32, 'base64');
  const expected = rowBytes(t) * t.dims[0];
  if (bytes.length !== expected) {
    throw new TierError(
      `tensor ${name} [${t.dims.join(', ')}] needs ${expected / 4} float32 values, got ${bytes.length / 4}`,
    );
  }
  return bytes;
}

/** The rows `rows` (in that order) of a tensor. */
export function sliceRows(name: string, t: TierTensor, rows: readonly number[]): TierTensor {
  const bytes = bytesOf(name, t);
  const width = rowBytes(t);
  const out = Buffer.alloc(width * rows.length);
  for (let i = 0; i < rows.length; i++) bytes.copy(out, i * width, rows[i] * width, (rows[i] + 1) * width);
  return { dims: [rows.length, ...t.dims.slice(1)], float32: out.toString('base64') };
}

/** The request with only the samples `rows` in every input tensor and in `labels` if any (other fields kept). */
export function sliceRequest(input: unknown, rows: readonly number[]): unknown {
  const tensors = tensorsOf(input, 'inputs', 'the step input');
  const inputs: Record<string, TierTensor> = {};
  for (const [name, t] of Object.entries(tensors)) inputs[name] = sliceRows(name, t, rows);
  const labels = (input as { labels?: unknown }).labels;
  return {
    ...(input as object),
    inputs,
    ...(Array.isArray(labels) ? { labels: rows.map((r) => (labels[r] as unknown) ?? null) } : {}),
  };
}

/** `base` with its rows `rows` replaced by the rows of `part`, in order (a new tensor). */
export function mergeRows(name: string, base: TierTensor, part: TierTensor, rows: readonly number[]): TierTensor {
  if (part.dims[0] !== rows.length || part.dims.slice(1).join() !== base.dims.slice(1).join()) {
    throw new TierError(
      `tensor ${name}: an answer of [${part.dims.join(', ')}] cannot replace ${rows.length} rows of [${base.dims.join(', ')}]`,
    );
  }
  const out = Buffer.from(bytesOf(name, base));
  const src = bytesOf(name, part);
  const width = rowBytes(base);
  for (let i = 0; i < rows.length; i++) src.copy(out, rows[i] * width, i * width, (i + 1) * width);
  return { dims: [...base.dims], float32: out.toString('base64') };
}

/** One sample's rows of a decision tensor: `[n, K]` class probabilities or `[n, boxes, ≥5]` detections. */
export function sampleRows(name: string, t: TierTensor): SampleRow[] {
  const bytes = bytesOf(name, t);
  const values = new Float32Array(bytes.length / 4);
  new Uint8Array(values.buffer).set(bytes);
  const [n] = t.dims;
  if (t.dims.length === 2) {
    const k = t.dims[1];
    return Array.from({ length: n }, (_, i) => ({
      kind: 'probabilities' as const,
      values: values.subarray(i * k, (i + 1) * k),
    }));
  }
  if (t.dims.length === 3 && t.dims[2] >= 5) {
    const per = t.dims[1] * t.dims[2];
    return Array.from({ length: n }, (_, i) => ({
      kind: 'detections' as const,
      values: values.subarray(i * per, (i + 1) * per),
      width: t.dims[2],
    }));
  }
  throw new TierError(
    `tensor ${name} [${t.dims.join(', ')}] is neither class probabilities [batch, classes] nor detections [batch, boxes, 6] ([x1, y1, x2, y2, score, label])`,
  );
}

/** What judging a tier's answer leads to. */
export type TierStep =
  /** Every sample has its answer: the step's output. */
  | { done: true; progress: TierProgress; output: TieredOutput }
  /** The hard samples (`progress.rows`) go to tier `progress.tier`. */
  | { done: false; progress: TierProgress };

/**
 * Takes tier `k`'s reply to its sub-batch (`previous.rows`; for tier 0, `previous` is undefined
 * and the reply covers the whole batch of `batch` samples), merges it into the answers so far
 * and judges each of its samples with the tier's rule. The last tier's answers are final.
 */
export function judgeTier(
  tiers: readonly TierDefinition[],
  k: number,
  reply: unknown,
  previous: TierProgress | undefined,
  batch: number,
  who: { model?: string; service?: string; node?: string },
): TierStep {
  const tier = tiers[k];
  const what = `the reply of tier ${k} (${tier.service}${tier.model ? `, model ${tier.model}` : ''})`;
  const tensors = tensorsOf(reply, 'outputs', what);
  const name = tier.output ?? Object.keys(tensors)[0];
  const decision = tensors[name];
  if (!decision) {
    throw new TierError(`${what} has no output "${name}"; its outputs are ${Object.keys(tensors).join(', ')}`);
  }
  const rows = previous ? previous.rows : Array.from({ length: batch }, (_, i) => i);
  if (decision.dims[0] !== rows.length) {
    throw new TierError(`${what}: output ${name} has ${decision.dims[0]} rows for ${rows.length} samples`);
  }
  let outputs: Record<string, TierTensor>;
  let decisionName: string;
  if (!previous) {
    outputs = { ...tensors };
    decisionName = name;
  } else {
    decisionName = previous.decision;
    outputs = { ...previous.outputs };
    outputs[decisionName] = mergeRows(decisionName, outputs[decisionName], decision, rows);
    // Other tensors the tier returns under the same names replace the lower tier's rows too.
    for (const [other, t] of Object.entries(tensors)) {
      if (other === name || other === decisionName || !outputs[other]) continue;
      outputs[other] = mergeRows(other, outputs[other], t, rows);
    }
  }
  const answers = previous ? [...previous.answers] : new Array<SampleAnswer>(batch);
  const model = who.model ?? who.service ?? tier.service;
  const last = k === tiers.length - 1;
  const hard: number[] = [];
  if (last) {
    for (const r of rows)
      answers[r] = {
        tier: k,
        model,
        ...(answers[r]?.why ? { why: answers[r].why } : {}),
        ...(answers[r]?.sentBy ? { sentBy: answers[r].sentBy } : {}),
      };
  } else {
    const samples = sampleRows(name, decision);
    for (let i = 0; i < rows.length; i++) {
      let verdict: HardVerdict;
      try {
        verdict = judgeSample(tier.hard, samples[i]);
      } catch (err) {
        throw new TierError(`tier ${k}, output ${name}: ${(err as Error).message}`);
      }
      const sentBy = answers[rows[i]]?.sentBy;
      answers[rows[i]] = { tier: k, model, why: verdict };
      if (sentBy) answers[rows[i]].sentBy = sentBy;
      else if (verdict.hard) {
        const row = samples[i];
        answers[rows[i]].sentBy = {
          tier: k,
          ...(model ? { model } : {}),
          ...(row.kind === 'probabilities' ? { prediction: argmax(row.values) } : {}),
        };
      }
      if (verdict.hard) hard.push(rows[i]);
    }
  }
  const counts = [
    ...(previous?.counts ?? []),
    {
      tier: k,
      service: who.service,
      model: who.model,
      node: who.node,
      inferences: rows.length,
      hardExamples: hard.length,
      fallbacks: 0,
    },
  ];
  const progress: TierProgress = { tier: k, rows, samples: batch, answers, outputs, decision: decisionName, counts };
  if (last || hard.length === 0) return { done: true, progress, output: tieredOutput(progress) };
  return { done: false, progress: { ...progress, tier: k + 1, rows: hard } };
}

/**
 * Tier `progress.tier` could not be reached: its samples keep the answer of the tier below,
 * each marked with the reason; the step's output is what there is.
 */
export function fallBack(progress: TierProgress, reason: string): { progress: TierProgress; output: TieredOutput } {
  const answers = [...progress.answers];
  for (const r of progress.rows) answers[r] = { ...answers[r], fallback: { tier: progress.tier, reason } };
  const counts = progress.counts.map((c) =>
    c.tier === progress.tier - 1 ? { ...c, fallbacks: c.fallbacks + progress.rows.length } : c,
  );
  const done: TierProgress = { ...progress, answers, counts, unreachable: { reason } };
  return { progress: done, output: tieredOutput(done) };
}

export function tieredOutput(progress: TierProgress): TieredOutput {
  return { outputs: progress.outputs, batchSize: progress.samples, samples: progress.answers, tiers: progress.counts };
}

/** The index of the largest value (the predicted class of a probabilities row). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** A tensor from float32 values (for tests and tools). */
export function tierTensor(dims: number[], values: ArrayLike<number>): TierTensor {
  return { dims, float32: bytesToBase64(Float32Array.from(values)) };
}
