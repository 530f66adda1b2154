/**
 * OCR latency: the reference library (@gutenye/ocr-node) against the split pipeline run in
 * one process (`recognise`, every step through the plain-data functions the services
 * use), one image at a time on the generated corpus. Both run in this process, taking
 * turns image by image (who goes first alternates) so machine noise hits both alike.
 * Prints p50/p99 per image, the split pipeline's per-step medians, both accuracies, and
 * recognition of 32 crops unbatched (32 onnxruntime runs) against batches of 8 and of 32 (one run).
 *
 *   node dist/tools/bench/ocr-reference.js     # BENCH_OCR_IMAGES=40 BENCH_OCR_ROUNDS=3 BENCH_OCR_SEED=20261126
 */
import { envInt, percentile, round } from '@yunbian/common';
import { generateCorpus } from '../corpus/corpus';
import { characterAccuracy } from '../../libs/ocr/src/accuracy';
import { createReferenceEngine } from '../../libs/ocr/src/evaluation/reference';
import { loadOcrModels } from '../../libs/ocr/src/models';
import { recognise, type OcrStep } from '../../libs/ocr/src/pipeline';
import { cropTextBoxes } from '../../libs/ocr/src/crop';
import { decodeImage } from '../../libs/ocr/src/image';
import { prepareRecognitionBatches, recogniseCrops } from '../../libs/ocr/src/recognition';
import { detectText, prepareDetectionInput } from '../../libs/ocr/src/detection';
import { extractTextBoxes } from '../../libs/ocr/src/boxes';
import type { RgbaImage } from '../../libs/ocr/src/types';

const IMAGES = envInt('BENCH_OCR_IMAGES', 40);
const ROUNDS = envInt('BENCH_OCR_ROUNDS', 3);
const SEED = envInt('BENCH_OCR_SEED', 20261126);
const WARM_UP = 3;

const print = (line = '') => process.stdout.write(line + '\n');

function summary(samples: number[]): string {
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  return `p50 ${round(percentile(samples, 50) ?? 0, 1)} ms, p99 ${round(percentile(samples, 99) ?? 0, 1)} ms, mean ${round(mean, 1)} ms`;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}

async function main(): Promise<void> {
  const corpus = await generateCorpus({ count: IMAGES, seed: SEED });
  const [models, reference] = await Promise.all([loadOcrModels(), createReferenceEngine()]);
  print(
    `OCR latency, concurrency 1: ${IMAGES} corpus images (seed ${SEED}) × ${ROUNDS} rounds, after ${WARM_UP} warm-up images`,
  );

  for (const image of corpus.slice(0, WARM_UP)) {
    await recognise(models, image.png);
    await reference.detect(image.png);
  }

  const ours: number[] = [];
  const theirs: number[] = [];
  const steps = new Map<OcrStep, number[]>();
  const read = { ours: [] as string[][], theirs: [] as string[][] };
  const onStep = (step: OcrStep, milliseconds: number) => steps.set(step, [...(steps.get(step) ?? []), milliseconds]);
  for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex++) {
    for (const [index, image] of corpus.entries()) {
      const runOurs = async () => {
        const [result, ms] = await timed(() => recognise(models, image.png, { onStep }));
        ours.push(ms);
        if (roundIndex === 0) read.ours.push(result.lines.map((line) => line.text));
      };
      const runTheirs = async () => {
        const [lines, ms] = await timed(() => reference.detect(image.png));
        theirs.push(ms);
        if (roundIndex === 0) read.theirs.push(lines.map((line) => line.text));
      };
      if ((index + roundIndex) % 2 === 0) {
        await runOurs();
        await runTheirs();
      } else {
        await runTheirs();
        await runOurs();
      }
    }
  }

  print(`  @gutenye/ocr-node            ${summary(theirs)}`);
  print(`  split pipeline, in process   ${summary(ours)}`);
  for (const [step, samples] of steps) print(`    ${step.padEnd(16)} p50 ${round(percentile(samples, 50) ?? 0, 2)} ms`);
  const accuracy = (texts: string[][]) =>
    characterAccuracy(corpus.map((image, i) => ({ expected: image.lines, actual: texts[i] }))).accuracy;
  print(
    `  character accuracy: split ${round(accuracy(read.ours) * 100, 2)} %, reference ${round(accuracy(read.theirs) * 100, 2)} %`,
  );

  // Recognition batching: the crops of the corpus's first images, 32 of them.
  const crops: RgbaImage[] = [];
  for (const image of corpus) {
    if (crops.length >= 32) break;
    const pixels = await decodeImage(image.png);
    const { tensor, geometry } = await prepareDetectionInput(pixels);
    const boxes = await extractTextBoxes(await detectText(models.detection, tensor), geometry);
    const quads = boxes.map((box) => box.quad);
    crops.push(...(await cropTextBoxes(pixels, quads)));
  }
  crops.splice(32);
  const sizes = [1, 8, crops.length];
  const samples = sizes.map((): number[] => []);
  for (let repeat = 0; repeat < 5; repeat++) {
    for (const [i, batchSize] of sizes.entries()) {
      samples[i].push((await timed(() => recogniseCrops(models.recognition, crops, { batchSize })))[1]);
    }
  }
  const batches = await Promise.all(sizes.map((batchSize) => prepareRecognitionBatches(crops, { batchSize })));
  print(`Recognition of ${crops.length} crops (median of 5):`);
  sizes.forEach((batchSize, i) => {
    // Share of the tensors' pixels that are padding: work the model does for nothing.
    const area = batches[i].reduce((sum, batch) => sum + batch.tensor.dims[0] * batch.tensor.dims[3], 0);
    const used = batches[i].reduce((sum, batch) => sum + batch.widths.reduce((a, b) => a + b, 0), 0);
    print(
      `  batchSize ${String(batchSize).padEnd(3)} ${String(batches[i].length).padStart(2)} runs  ` +
        `${round(percentile(samples[i], 50) ?? 0, 1)} ms  (padding ${round((1 - used / area) * 100, 1)} %)`,
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
