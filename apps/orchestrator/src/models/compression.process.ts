/**
 * Child process of the orchestrator: runs one compression recipe on a model file and measures
 * sizes and accuracy of parent and result, away from the orchestrator's event loop (tfjs
 * training and onnxruntime calibration take seconds to minutes of CPU). Input and reply go over IPC.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { CompressRequest, ModelSizeFigures } from '@yunbian/contracts';
import {
  accuracyOfRows,
  int8Recipe,
  modelFigures,
  predictOnnx,
  pruneRecipe,
  type SampleSet,
} from '@yunbian/compression';
import { decodeDataset } from '@yunbian/models';
import { decodeModel } from '@yunbian/onnx';

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

async function compress(task: CompressionTask): Promise<CompressionOutcome> {
  const parentBytes = readFileSync(task.parentFile);
  const parent = decodeModel(parentBytes);
  const o = task.options;
  let bytes: Uint8Array;
  let details: Record<string, unknown>;
  let kernels: Record<string, number> | undefined;
  switch (task.recipe) {
    case 'int8': {
      const calibration = load(task, task.datasets.calibration ? 'calibration' : 'validation');
      ({ bytes, kernels, details } = await int8Recipe(parentBytes, calibration, o));
      break;
    }
    case 'prune':
      ({ bytes, details } = pruneRecipe(parentBytes, o));
      break;
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
  const figures = (b: Uint8Array) => modelFigures(b, { ...validation, labels: validation.labels! });
  return { parent: await figures(parentBytes), compressed: await figures(bytes), kernels, details };
}

process.once('message', (task: CompressionTask) => {
  compress(task).then(
    (outcome) => process.send?.({ ok: true, outcome } satisfies CompressionReply, () => process.exit(0)),
    (err: Error) => process.send?.({ ok: false, error: err.message } satisfies CompressionReply, () => process.exit(0)),
  );
});
