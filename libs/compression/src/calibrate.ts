import * as ort from 'onnxruntime-node';
import { seededRandom } from '@yunbian/common';
import { encodeModel, feedInputs, type OnnxModel } from '@yunbian/onnx';
import type { ActivationRange } from './int8';

/** Images to run a model on: `count` samples of `shape` float32 values each, back to back. */
export interface SampleSet {
  count: number;
  /** Shape of one sample, e.g. `[1, 28, 28]`. */
  shape: number[];
  images: Float32Array;
}

export type CalibrationMethod = 'minmax' | 'percentile';

export interface CalibrationOptions {
  method?: CalibrationMethod;
  /** For `percentile`: the share of values inside the range, as a percentage (default 99.99). */
  percentile?: number;
  batchSize?: number;
}

/** Values kept per tensor for percentiles (a seeded reservoir sample). */
const RESERVOIR = 200_000;

/** The one float input of a model and the shape a sample must have (its dimensions after the batch). */
export function sampleInput(model: OnnxModel): { name: string; sampleShape: (number | string | null)[] } {
  const inputs = feedInputs(model.graph);
  if (inputs.length !== 1 || inputs[0].elemType !== 1 || !inputs[0].shape) {
    throw new Error(
      `the model must take exactly one float32 input with a declared shape (it takes ${inputs.map((i) => i.name).join(', ') || 'none'})`,
    );
  }
  return { name: inputs[0].name, sampleShape: inputs[0].shape.slice(1) };
}

/** Throws, saying what differs, when samples do not fit the model's input. */
export function checkSamples(model: OnnxModel, samples: SampleSet, what: string): string {
  const { name, sampleShape } = sampleInput(model);
  const fits =
    sampleShape.length === samples.shape.length &&
    sampleShape.every((d, i) => typeof d !== 'number' || d === samples.shape[i]);
  if (!fits) {
    throw new Error(
      `${what} holds samples of [${samples.shape.join(', ')}], but the model's input ${name} takes [batch, ${sampleShape.map((d) => d ?? '?').join(', ')}]`,
    );
  }
  return name;
}

/** Feeds `samples` to a session in batches, handing each batch's outputs to `use`. */
export async function forEachBatch(
  session: ort.InferenceSession,
  input: string,
  samples: SampleSet,
  batchSize: number,
  use: (outputs: ort.InferenceSession.OnnxValueMapType, from: number, count: number) => void,
): Promise<void> {
  const size = samples.shape.reduce((a, d) => a * d, 1);
  for (let from = 0; from < samples.count; from += batchSize) {
    const count = Math.min(batchSize, samples.count - from);
    const data = samples.images.slice(from * size, (from + count) * size);
    use(await session.run({ [input]: new ort.Tensor('float32', data, [count, ...samples.shape]) }), from, count);
  }
}

/**
 * Ranges of `tensors` over `samples`, by running the float model with them as extra outputs
 * (onnxruntime-node, basic optimisations so no tensor is fused away). `minmax` takes the
 * extremes; `percentile` the `p`-th and `(100 − p)`-th percentiles of a sample of the values,
 * which ignores rare outliers at the cost of clipping them.
 */
export async function calibrateRanges(
  model: OnnxModel,
  tensors: string[],
  samples: SampleSet,
  options: CalibrationOptions = {},
): Promise<Map<string, ActivationRange>> {
  const method = options.method ?? 'minmax';
  const p = options.percentile ?? 99.99;
  if (!(p > 50 && p <= 100)) throw new Error(`percentile must be in (50, 100] (got ${p})`);
  if (samples.count === 0) throw new Error('calibration needs at least one sample');
  const input = checkSamples(model, samples, 'the calibration dataset');
  const existing = new Set(model.graph.outputs.map((o) => o.name));
  const probe: OnnxModel = {
    ...model,
    graph: {
      ...model.graph,
      outputs: [
        ...model.graph.outputs,
        ...tensors.filter((t) => !existing.has(t) && t !== input).map((name) => ({ name, elemType: 1 })),
      ],
    },
  };
  const session = await ort.InferenceSession.create(encodeModel(probe), {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: 1,
  });
  const ranges = new Map<string, ActivationRange>();
  const reservoirs = new Map<string, { values: Float32Array; seen: number }>();
  const random = seededRandom(1);
  const observe = (name: string, values: Float32Array) => {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const r = ranges.get(name);
    ranges.set(name, { min: Math.min(min, r?.min ?? Infinity), max: Math.max(max, r?.max ?? -Infinity) });
    if (method !== 'percentile') return;
    let res = reservoirs.get(name);
    if (!res) reservoirs.set(name, (res = { values: new Float32Array(RESERVOIR), seen: 0 }));
    for (let i = 0; i < values.length; i++, res.seen++) {
      if (res.seen < RESERVOIR) res.values[res.seen] = values[i];
      else {
        const j = Math.floor(random() * (res.seen + 1));
        if (j < RESERVOIR) res.values[j] = values[i];
      }
    }
  };
  try {
    await forEachBatch(session, input, samples, options.batchSize ?? 100, (outputs, from, count) => {
      for (const t of tensors) {
        if (t === input) {
          const size = samples.shape.reduce((a, d) => a * d, 1);
          observe(t, samples.images.subarray(from * size, (from + count) * size));
        } else observe(t, outputs[t].data as Float32Array);
      }
    });
  } finally {
    await session.release();
  }
  if (method === 'percentile') {
    for (const [name, res] of reservoirs) {
      const kept = res.values.slice(0, Math.min(res.seen, RESERVOIR)).sort();
      const at = (q: number) => kept[Math.min(kept.length - 1, Math.max(0, Math.round((q / 100) * (kept.length - 1))))];
      ranges.set(name, { min: at(100 - p), max: at(p) });
    }
  }
  return ranges;
}
