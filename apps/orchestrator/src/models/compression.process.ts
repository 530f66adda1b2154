/**
 * Child process of the orchestrator: runs one compression recipe on a model file and measures
 * sizes and accuracy of parent and result, away from the orchestrator's event loop (tfjs
 * training and onnxruntime calibration take seconds to minutes of CPU). Input and reply go over IPC.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { CompressRequest, ModelSizeFigures } from '@yunbian/contracts';
import {
  accuracyOfRows,
  calibrateRanges,
  gzipBytes,
  optimizedOps,
  planInt8,
  predictOnnx,
  pruneMagnitude,
  quantizeInt8,
  type SampleSet,
} from '@yunbian/compression';
import { decodeDataset } from '@yunbian/models';
import { decodeModel, encodeModel, parameterCount } from '@yunbian/onnx';

export interface CompressionTask {
  recipe: CompressRequest['recipe'];
  options: NonNullable<CompressRequest['options']>;
  parentFile: string;
  outFile: string;
  /** Per role: the file and layout of a dataset. */
  datasets: Record<string, { file: string; count: number; shape: number[]; labelled: boolean }>;
}

export interface CompressionOutcome {
  parent: ModelSizeFigures & { accuracy: number };
  compressed: ModelSizeFigures & { accuracy: number };
  kernels?: Record<string, number>;
  details: Record<string, unknown>;
}

export type CompressionReply = { ok: true; outcome: CompressionOutcome } | { ok: false; error: string };

function load(task: CompressionTask, role: string): SampleSet & { labels?: Uint8Array } {
  const d = task.datasets[role];
  return decodeDataset(readFileSync(d.file), d);
}

const first = (s: SampleSet & { labels?: Uint8Array }, n: number) => {
  const size = s.shape.reduce((a, d) => a * d, 1);
  const count = Math.min(n, s.count);
  return { count, shape: s.shape, images: s.images.subarray(0, count * size), labels: s.labels?.subarray(0, count) };
};

async function compress(task: CompressionTask): Promise<CompressionOutcome> {
  const parentBytes = readFileSync(task.parentFile);
  const parent = decodeModel(parentBytes);
  const o = task.options;
  let bytes: Buffer;
  let details: Record<string, unknown>;
  let kernels: Record<string, number> | undefined;
  switch (task.recipe) {
    case 'int8': {
      const samples = first(
        load(task, task.datasets.calibration ? 'calibration' : 'validation'),
        o.calibrationSamples ?? 500,
      );
      const plan = planInt8(parent);
      const method = o.calibration ?? 'minmax';
      const ranges = await calibrateRanges(parent, plan.calibrate, samples, { method, percentile: o.percentile });
      const result = quantizeInt8(parent, ranges);
      bytes = encodeModel(result.model);
      kernels = await optimizedOps(bytes);
      details = {
        calibration: {
          method,
          ...(method === 'percentile' ? { percentile: o.percentile ?? 99.99 } : {}),
          samples: samples.count,
        },
        weighted: plan.weighted,
        skipped: plan.skipped,
        activations: result.activations,
      };
      break;
    }
    case 'prune': {
      const result = pruneMagnitude(parent, { sparsity: o.sparsity ?? 0.5 });
      bytes = encodeModel(result.model);
      details = { sparsity: result.sparsity, tensors: result.tensors };
      break;
    }
    case 'structured':
    case 'distill': {
      // tfjs is loaded only for the recipes that train.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const learning = require('@yunbian/learning') as typeof import('@yunbian/learning');
      const training = load(task, 'training');
      const seed = o.seed ?? 1;
      if (task.recipe === 'structured') {
        const teacher = learning.onnxToCnn(parentBytes);
        const keep = o.keep ?? 0.5;
        const pruned = learning.pruneCnnStructured(teacher, keep);
        const epochs = o.epochs ?? 2;
        const tuned = await learning.trainCnn(
          pruned.spec,
          { count: training.count, images: training.images, labels: training.labels! },
          { epochs, seed },
          pruned,
        );
        bytes = learning.cnnToOnnx(tuned, parent.graph.name || 'digits');
        details = { keep, from: teacher.spec, architecture: tuned.spec, epochs, seed, trainingSamples: training.count };
      } else {
        const rows = await predictOnnx(parentBytes, training);
        const flat = new Float32Array(rows.length * 10);
        rows.forEach((r, i) => flat.set(r.subarray(0, 10), i * 10));
        const labelled = learning.pseudoLabels(training.images, training.count, flat);
        const student = o.student ?? { conv: [8, 16], dense: [] };
        const epochs = o.epochs ?? 4;
        const weights = await learning.trainCnn(student, labelled, { epochs, seed });
        bytes = learning.cnnToOnnx(weights, parent.graph.name || 'digits');
        let agreement: number | undefined;
        if (training.labels) agreement = accuracyOfRows(rows, training.labels);
        details = {
          student,
          epochs,
          seed,
          trainingSamples: training.count,
          // How often the teacher's pseudo-labels match the true labels, when the set has them.
          ...(agreement !== undefined ? { teacherLabelAccuracy: agreement } : {}),
        };
      }
      break;
    }
  }
  writeFileSync(task.outFile, bytes);
  const validation = load(task, 'validation');
  const figures = async (b: Uint8Array) => ({
    bytes: b.length,
    gzipBytes: gzipBytes(b),
    parameters: parameterCount(decodeModel(b)),
    accuracy: accuracyOfRows(await predictOnnx(b, validation), validation.labels!),
  });
  return { parent: await figures(parentBytes), compressed: await figures(bytes), kernels, details };
}

process.once('message', (task: CompressionTask) => {
  compress(task).then(
    (outcome) => process.send?.({ ok: true, outcome } satisfies CompressionReply, () => process.exit(0)),
    (err: Error) => process.send?.({ ok: false, error: err.message } satisfies CompressionReply, () => process.exit(0)),
  );
});
