import { cnnShape, type CnnSpec, type CnnWeights, type WeightTensor } from './cnn';
import { DIGIT_CLASSES, type Digits } from './digits';

/** Indices of the `keep` largest scores, in ascending index order. */
function topIndices(scores: number[], keep: number): number[] {
  return scores
    .map((s, i) => ({ s, i }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, keep)
    .map((x) => x.i)
    .sort((a, b) => a - b);
}

/** Columns `kept` of a `[rows, cols]` matrix. */
function columns(t: WeightTensor, kept: number[]): WeightTensor {
  const [rows, cols] = t.shape;
  const values = new Float32Array(rows * kept.length);
  for (let r = 0; r < rows; r++) kept.forEach((c, j) => (values[r * kept.length + j] = t.values[r * cols + c]));
  return { shape: [rows, kept.length], values };
}

/** Rows `kept` of a `[rows, cols]` matrix. */
function rows(t: WeightTensor, kept: number[]): WeightTensor {
  const [, cols] = t.shape;
  const values = new Float32Array(kept.length * cols);
  kept.forEach((r, j) => values.set(t.values.subarray(r * cols, (r + 1) * cols), j * cols));
  return { shape: [kept.length, cols], values };
}

const pick = (t: WeightTensor, kept: number[]): WeightTensor => ({
  shape: [kept.length],
  values: Float32Array.from(kept, (i) => t.values[i]),
});

/**
 * Structured pruning: keeps the `keep` share (at least one) of each conv layer's filters and
 * each hidden dense layer's units with the largest L1 norm of their weights, and removes the
 * matching input channels/rows of the next layer. The result is a smaller CNN of the same
 * shape family (fewer filters, fewer units), to be fine-tuned.
 */
export function pruneCnnStructured(weights: CnnWeights, keep: number): CnnWeights {
  if (!(keep > 0 && keep <= 1)) throw new Error(`keep must be in (0, 1] (got ${keep})`);
  const spec: CnnSpec = { conv: [], dense: [] };
  const convs: CnnWeights['convs'] = [];
  let inputKept: number[] | undefined; // channels of the previous conv kept
  weights.convs.forEach(({ kernel, bias }) => {
    const [kh, kw, c, f] = kernel.shape;
    const channelsIn = inputKept ?? Array.from({ length: c }, (_, i) => i);
    // Drop removed input channels first: [kh, kw, C, F] → [kh, kw, C', F].
    const reduced = new Float32Array(kh * kw * channelsIn.length * f);
    for (let p = 0; p < kh * kw; p++)
      channelsIn.forEach((ci, j) => {
        for (let fi = 0; fi < f; fi++)
          reduced[(p * channelsIn.length + j) * f + fi] = kernel.values[(p * c + ci) * f + fi];
      });
    const l1 = new Array<number>(f).fill(0);
    for (let i = 0; i < reduced.length; i++) l1[i % f] += Math.abs(reduced[i]);
    const kept = topIndices(l1, Math.max(1, Math.round(f * keep)));
    const out = new Float32Array((reduced.length / f) * kept.length);
    for (let r = 0; r < reduced.length / f; r++)
      kept.forEach((fi, j) => (out[r * kept.length + j] = reduced[r * f + fi]));
    convs.push({ kernel: { shape: [kh, kw, channelsIn.length, kept.length], values: out }, bias: pick(bias, kept) });
    spec.conv.push(kept.length);
    inputKept = kept;
  });
  const { side } = cnnShape(weights.spec);
  const dense: CnnWeights['dense'] = [];
  let rowsKept: number[] | undefined;
  if (inputKept) {
    // First dense rows are in (h, w, c) order: keep the rows of kept channels.
    const c = weights.spec.conv.at(-1)!;
    rowsKept = [];
    for (let p = 0; p < side * side; p++) for (const ci of inputKept) rowsKept.push(p * c + ci);
  }
  weights.dense.forEach(({ kernel, bias }, i) => {
    let k = rowsKept ? rows(kernel, rowsKept) : kernel;
    const last = i === weights.dense.length - 1;
    if (last) {
      dense.push({ kernel: k, bias });
      return;
    }
    const m = k.shape[1];
    const l1 = new Array<number>(m).fill(0);
    for (let r = 0; r < k.shape[0]; r++) for (let j = 0; j < m; j++) l1[j] += Math.abs(k.values[r * m + j]);
    const kept = topIndices(l1, Math.max(1, Math.round(m * keep)));
    k = columns(k, kept);
    dense.push({ kernel: k, bias: pick(bias, kept) });
    spec.dense.push(kept.length);
    rowsKept = kept;
  });
  return { spec, convs, dense };
}

/**
 * The teacher's answers as labels: the most probable class of each row of `probabilities`
 * (`count × 10`), for training a student on unlabelled images (distillation by pseudo-labels).
 */
export function pseudoLabels(images: Float32Array, count: number, probabilities: Float32Array): Digits {
  if (probabilities.length !== count * DIGIT_CLASSES)
    throw new Error(`${probabilities.length} probabilities for ${count} images of ${DIGIT_CLASSES} classes`);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 1; k < DIGIT_CLASSES; k++)
      if (probabilities[i * DIGIT_CLASSES + k] > probabilities[i * DIGIT_CLASSES + best]) best = k;
    labels[i] = best;
  }
  return { count, images, labels };
}
