/**
 * Writes an OCR corpus: PNG images of known text and a manifest.json of their lines.
 *
 *   node dist/tools/corpus/main.js --out /tmp/ocr-corpus --count 40 [--seed 20261126]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { corpusManifest, DEFAULT_SEED, generateCorpus } from './corpus';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      count: { type: 'string', default: '40' },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
    },
  });
  const count = Number(values.count);
  const seed = Number(values.seed);
  if (!values.out || !Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    process.stderr.write('usage: main.js --out <dir> [--count <positive integer>] [--seed <integer>]\n');
    process.exit(2);
  }
  const images = await generateCorpus({ count, seed });
  await mkdir(values.out, { recursive: true });
  await Promise.all(images.map((image) => writeFile(path.join(values.out!, image.name), image.png)));
  await writeFile(path.join(values.out, 'manifest.json'), JSON.stringify(corpusManifest(images, seed), null, 2) + '\n');
  process.stdout.write(`${images.length} images and manifest.json written to ${values.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
