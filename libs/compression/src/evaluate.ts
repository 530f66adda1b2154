import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import { decodeModel, opCounts } from '@yunbian/onnx';
import { checkSamples, forEachBatch, type SampleSet } from './calibrate';

/** Class probabilities (or scores) of every sample, `count × classes`, from onnxruntime with the nodes' options. */
export async function predictOnnx(bytes: Uint8Array, samples: SampleSet, batchSize = 250): Promise<Float32Array[]> {
  const input = checkSamples(decodeModel(bytes), samples, 'the dataset');
  const session = await ort.InferenceSession.create(bytes, { ...MODEL_SESSION_OPTIONS });
  const rows: Float32Array[] = [];
  try {
    await forEachBatch(session, input, samples, batchSize, (outputs, _from, count) => {
      const out = outputs[session.outputNames[0]];
      const width = out.data.length / count;
      const data = out.data as Float32Array;
      for (let i = 0; i < count; i++) rows.push(data.slice(i * width, (i + 1) * width));
    });
  } finally {
    await session.release();
  }
  return rows;
}

/** The index of the largest value of each row. */
export function argmaxRows(rows: Float32Array[]): number[] {
  return rows.map((r) => {
    let best = 0;
    for (let k = 1; k < r.length; k++) if (r[k] > r[best]) best = k;
    return best;
  });
}

/** Share of samples whose top class is their label. */
export function accuracyOfRows(rows: Float32Array[], labels: ArrayLike<number>): number {
  if (rows.length !== labels.length) throw new Error(`${rows.length} predictions for ${labels.length} labels`);
  const top = argmaxRows(rows);
  let right = 0;
  top.forEach((k, i) => k === labels[i] && right++);
  return rows.length ? right / rows.length : 0;
}

/**
 * The operators onnxruntime actually runs after its graph optimisations (with the nodes'
 * options), read back from the optimised model it writes: QLinearConv / QGemm there mean the
 * int8 kernels run, a float Conv next to DequantizeLinear means the weights are dequantized.
 */
export async function optimizedOps(bytes: Uint8Array): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yb-optimized-'));
  try {
    const file = path.join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(bytes, {
      ...MODEL_SESSION_OPTIONS,
      optimizedModelFilePath: file,
    });
    await session.release();
    return opCounts(decodeModel(await readFile(file)).graph);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
