/**
 * `npm run bench:loop`: the stages of the learning loop on the project's digits split, in one
 * process (the figures the services produce, without the cluster around them).
 *
 * Stage 1 is the committed cloud model (`models/digits/digits-cloud.onnx`, trained in the
 * cloud on the public pool, digits 0–5,999). Each edge site holds its share of the edge pool
 * (6,000–7,999), seen through its camera shift; stage 2 fine-tunes stage 1 on that share.
 * Every accuracy is onnxruntime's on the held-out digits (8,000–9,999) with the site's shift.
 *
 *   npm run bench:loop                      # two sites, 2 fine-tuning epochs
 *   npm run bench:loop -- --epochs 1        # shorter
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

const SITES: { site: string; shift: SiteShiftName }[] = [
  { site: 'factory-a', shift: 'tilted-soft' },
  { site: 'factory-b', shift: 'thick-faded' },
];
const STAGE2 = { learningRate: 5e-4, seed: 7 };

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
    `\n| site | shift | edge share | stage 1 | after stage 2 (${epochs} epochs) | won back | stage 3 | stage-2 CPU s |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n`,
  );
  const all = loadDigits();
  for (const [i, { site, shift }] of SITES.entries()) {
    const share = edgeShare(i, SITES.length);
    const train = shiftDigits(sliceDigits(all, share.from, share.to), SITE_SHIFTS[shift]);
    const test = shiftDigits(heldOut, SITE_SHIFTS[shift]);
    const before = await accuracy(cloud, test);
    const started = process.cpuUsage();
    const tuned = await trainCnn(onnxToCnn(cloud).spec, train, { epochs, ...STAGE2 }, onnxToCnn(cloud));
    const cpu = process.cpuUsage(started);
    const after = await accuracy(cnnToOnnx(tuned), test);
    process.stdout.write(
      `| ${site} | ${shift} | [${share.from}, ${share.to}) | ${pct(before)} | ${pct(after)} | ${(100 * (after - before)).toFixed(2)} points | — | ${((cpu.user + cpu.system) / 1e6).toFixed(1)} |\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:loop: ${(err as Error).message}\n`);
  process.exit(1);
});
