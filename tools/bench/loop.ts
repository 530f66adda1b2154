/**
 * `npm run bench:loop`: the stages of the learning loop on the project's digits split, in one
 * process (the figures the services produce, without the cluster around them).
 *
 * Stage 1 is the committed cloud model (`models/digits/digits-cloud.onnx`, trained in the
 * cloud on the public pool, digits 0–5,999). Each edge site holds its share of the edge pool
 * (6,000–7,999), seen through its camera shift: stage 2 fine-tunes stage 1 on the first half
 * of that share; the second half arrives afterwards as inference requests in batches of 40
 * through a tiered step (tier 0 the stage-2 model, tier 1 the stage-1 model), whose hard
 * examples are collected with the same code as the engine's (`judgeTier`, `hardExamples`)
 * together with the true label the requests carry; stage 3 fine-tunes the stage-2 model on
 * the collected samples plus the first half the site still holds (replay). Every accuracy is
 * onnxruntime's on the held-out digits (8,000–9,999) with the site's shift.
 *
 *   npm run bench:loop                      # two sites, 2 fine-tuning epochs
 *   npm run bench:loop -- --epochs 1        # shorter
 *   npm run bench:loop -- --threshold 0.9   # the tier-0 rule (crossEntropy) that picks hard examples
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  DIGITS_INPUT,
  DIGITS_OUTPUT,
  SITE_SHIFTS,
  accuracyOf,
  cnnToOnnx,
  digitsPart,
  edgeShare,
  loadDigits,
  onnxToCnn,
  shiftDigits,
  sliceDigits,
  trainCnn,
  type Digits,
  type SiteShiftName,
} from '@yunbian/learning';
import { hardExamples, judgeTier, tierTensor, type TierDefinition } from '@yunbian/workflow';

const SITES: { site: string; shift: SiteShiftName }[] = [
  { site: 'factory-a', shift: 'tilted-soft' },
  { site: 'factory-b', shift: 'thick-faded' },
];
const STAGE2 = { learningRate: 5e-4, seed: 7 };
const BATCH = 40;

async function probabilities(session: ort.InferenceSession, images: Float32Array, n: number): Promise<Float32Array> {
  const out = await session.run({
    [DIGITS_INPUT]: new ort.Tensor('float32', Float32Array.from(images), [n, 1, 28, 28]),
  });
  return out[DIGITS_OUTPUT].data as Float32Array;
}

/**
 * The second half of a site's share through a two-tier step, batch by batch; returns the
 * hard examples collected (images, true labels) and how many samples tier 0 answered.
 */
async function collectHard(
  tier0: Uint8Array,
  tier1: Uint8Array,
  data: Digits,
  threshold: number,
): Promise<{ collected: Digits; inferences: number; pseudoRight: number }> {
  const tiers: TierDefinition[] = [
    { service: 'onnx-inference@^1', model: 'stage2', hard: { rule: 'crossEntropy', threshold } },
    { service: 'onnx-inference@^1', model: 'stage1' },
  ];
  const [s0, s1] = await Promise.all(
    [tier0, tier1].map((b) => ort.InferenceSession.create(b, { intraOpNumThreads: 1 })),
  );
  const images: number[] = [];
  const labels: number[] = [];
  let pseudoRight = 0;
  for (let start = 0; start < data.count; start += BATCH) {
    const n = Math.min(BATCH, data.count - start);
    const batch = data.images.slice(start * 784, (start + n) * 784);
    const input = {
      inputs: { [DIGITS_INPUT]: tierTensor([n, 1, 28, 28], batch) },
      labels: Array.from(data.labels.subarray(start, start + n)),
    };
    let step = judgeTier(
      tiers,
      0,
      { outputs: { [DIGITS_OUTPUT]: tierTensor([n, 10], await probabilities(s0, batch, n)) } },
      undefined,
      n,
      {},
    );
    if (!step.done) {
      const rows = step.progress.rows;
      const sub = new Float32Array(rows.length * 784);
      rows.forEach((r, k) => sub.set(batch.subarray(r * 784, (r + 1) * 784), k * 784));
      const reply = {
        outputs: { [DIGITS_OUTPUT]: tierTensor([rows.length, 10], await probabilities(s1, sub, rows.length)) },
      };
      step = judgeTier(tiers, 1, reply, step.progress, n, {});
    }
    const where = {
      dataset: 'bench',
      privacy: 'edge-private' as const,
      run: 'bench',
      step: 'classify',
      item: null,
      at: '',
    };
    for (const sample of hardExamples(input, step.progress, where)) {
      const bytes = Buffer.from(sample.input.float32, 'base64');
      const image = new Float32Array(bytes.length / 4);
      new Uint8Array(image.buffer).set(bytes);
      images.push(...image);
      labels.push(sample.label!);
      if (sample.answeredBy.pseudoLabel === sample.label) pseudoRight++;
    }
  }
  await Promise.all([s0.release(), s1.release()]);
  return {
    collected: { count: labels.length, images: Float32Array.from(images), labels: Uint8Array.from(labels) },
    inferences: data.count,
    pseudoRight,
  };
}

function concat(a: Digits, b: Digits): Digits {
  const images = new Float32Array((a.count + b.count) * 784);
  images.set(a.images);
  images.set(b.images, a.count * 784);
  const labels = new Uint8Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { count: a.count + b.count, images, labels };
}

async function accuracy(bytes: Uint8Array, data: Digits): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.run({
    [DIGITS_INPUT]: new ort.Tensor('float32', Float32Array.from(data.images), [data.count, 1, 28, 28]),
  });
  await session.release();
  return accuracyOf(out[DIGITS_OUTPUT].data as Float32Array, data);
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--epochs');
  const epochs = at >= 0 ? Number(argv[at + 1]) : 2;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`--epochs takes a whole number ≥ 1 (got ${argv[at + 1]})`);
  const th = argv.indexOf('--threshold');
  const threshold = th >= 0 ? Number(argv[th + 1]) : 0.9;
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`--threshold takes a number in (0, 1] (got ${argv[th + 1]})`);
  const cloud = readFileSync(path.resolve(__dirname, '../../../models/digits/digits-cloud.onnx'));
  const heldOut = digitsPart('heldOut');
  const plain = await accuracy(cloud, heldOut);
  process.stdout.write(`stage-1 model: digits-cloud (committed), held-out digits unshifted: ${pct(plain)}\n\n`);

  process.stdout.write('| shift | parameters | stage 1 on shifted held-out | loss |\n| --- | --- | --- | --- |\n');
  for (const [name, shift] of Object.entries(SITE_SHIFTS)) {
    const a = await accuracy(cloud, shiftDigits(heldOut, shift));
    process.stdout.write(
      `| ${name} | ${JSON.stringify(shift)} | ${pct(a)} | ${(100 * (plain - a)).toFixed(2)} points |\n`,
    );
  }

  process.stdout.write(
    `\n| site | shift | stage 2 on | stage 3 stream | stage 1 | after stage 2 (${epochs} epochs) | hard examples (crossEntropy < ${threshold}) | stage 3, hard + replay | stage 3, hard only | stage-2 CPU s | stage-3 CPU s |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n`,
  );
  const all = loadDigits();
  for (const [i, { site, shift }] of SITES.entries()) {
    const share = edgeShare(i, SITES.length);
    const mid = share.from + Math.floor((share.to - share.from) / 2);
    const first = shiftDigits(sliceDigits(all, share.from, mid), SITE_SHIFTS[shift]);
    const second = shiftDigits(sliceDigits(all, mid, share.to), SITE_SHIFTS[shift]);
    const test = shiftDigits(heldOut, SITE_SHIFTS[shift]);
    const before = await accuracy(cloud, test);
    let started = process.cpuUsage();
    const tuned = await trainCnn(onnxToCnn(cloud).spec, first, { epochs, ...STAGE2 }, onnxToCnn(cloud));
    const cpu2 = process.cpuUsage(started);
    const stage2 = cnnToOnnx(tuned);
    const after = await accuracy(stage2, test);
    const { collected, inferences, pseudoRight } = await collectHard(stage2, cloud, second, threshold);
    started = process.cpuUsage();
    const replayed = await trainCnn(tuned.spec, concat(collected, first), { epochs, ...STAGE2 }, onnxToCnn(stage2));
    const cpu3 = process.cpuUsage(started);
    const stage3 = await accuracy(cnnToOnnx(replayed), test);
    const hardOnly = collected.count
      ? await accuracy(cnnToOnnx(await trainCnn(tuned.spec, collected, { epochs, ...STAGE2 }, onnxToCnn(stage2))), test)
      : after;
    const points = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)}`;
    process.stdout.write(
      `| ${site} | ${shift} | [${share.from}, ${mid}) | [${mid}, ${share.to}) | ${pct(before)} | ${pct(after)} (${points(after - before)}) | ${collected.count} of ${inferences} (pseudo-label right on ${pseudoRight}) | ${pct(stage3)} (${points(stage3 - after)}) | ${pct(hardOnly)} (${points(hardOnly - after)}) | ${((cpu2.user + cpu2.system) / 1e6).toFixed(1)} | ${((cpu3.user + cpu3.system) / 1e6).toFixed(1)} |\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:loop: ${(err as Error).message}\n`);
  process.exit(1);
});
