import type { ModelSizeFigures } from '@yunbian/contracts';
import { decodeModel, encodeModel, parameterCount } from '@yunbian/onnx';
import { calibrateRanges, type SampleSet } from './calibrate';
import { accuracyOfRows, optimizedOps, predictOnnx } from './evaluate';
import { planInt8, quantizeInt8 } from './int8';
import { gzipBytes, pruneMagnitude } from './prune';

/**
 * The recipes that need no training (`int8`, `prune`) as one call each, and the figures a
 * compression report holds: what `POST …/compress` runs in its child process and the
 * `model-ops` service's `compress` op runs in its worker.
 */

export interface RecipeResult {
  bytes: Uint8Array;
  /** Operators onnxruntime runs for the result (int8). */
  kernels?: Record<string, number>;
  details: Record<string, unknown>;
}

export interface Int8RecipeOptions {
  calibration?: 'minmax' | 'percentile';
  percentile?: number;
  /** At most this many calibration samples, the first ones (default 500). */
  calibrationSamples?: number;
}

/** The first `n` samples of a set (labels with them). */
export function firstSamples<S extends SampleSet & { labels?: Uint8Array }>(s: S, n: number): S {
  const size = s.shape.reduce((a, d) => a * d, 1);
  const count = Math.min(n, s.count);
  return { ...s, count, images: s.images.subarray(0, count * size), labels: s.labels?.subarray(0, count) };
}

/** Static int8 quantization calibrated on the first samples of `calibration`. */
export async function int8Recipe(
  parentBytes: Uint8Array,
  calibration: SampleSet,
  options: Int8RecipeOptions = {},
): Promise<RecipeResult> {
  const parent = decodeModel(parentBytes);
  const samples = firstSamples(calibration, options.calibrationSamples ?? 500);
  const plan = planInt8(parent);
  const method = options.calibration ?? 'minmax';
  const ranges = await calibrateRanges(parent, plan.calibrate, samples, { method, percentile: options.percentile });
  const result = quantizeInt8(parent, ranges);
  const bytes = encodeModel(result.model);
  return {
    bytes,
    kernels: await optimizedOps(bytes),
    details: {
      calibration: {
        method,
        ...(method === 'percentile' ? { percentile: options.percentile ?? 99.99 } : {}),
        samples: samples.count,
      },
      weighted: plan.weighted,
      skipped: plan.skipped,
      activations: result.activations,
    },
  };
}

/** Magnitude pruning: the smallest `sparsity` share of each weight tensor set to zero (default 0.5). */
export function pruneRecipe(parentBytes: Uint8Array, options: { sparsity?: number } = {}): RecipeResult {
  const result = pruneMagnitude(decodeModel(parentBytes), { sparsity: options.sparsity ?? 0.5 });
  return { bytes: encodeModel(result.model), details: { sparsity: result.sparsity, tensors: result.tensors } };
}

/** Size, gzip size, parameters and accuracy on labelled samples of one model file. */
export async function modelFigures(
  bytes: Uint8Array,
  validation: SampleSet & { labels: ArrayLike<number> },
): Promise<ModelSizeFigures & { accuracy: number }> {
  return {
    bytes: bytes.length,
    gzipBytes: gzipBytes(bytes),
    parameters: parameterCount(decodeModel(bytes)),
    accuracy: accuracyOfRows(await predictOnnx(bytes, validation), validation.labels),
  };
}
