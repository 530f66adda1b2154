/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 *
 * Accuracy harness: the split pipeline against the reference library (@gutenye/ocr-node) on
 * the same generated corpus. Prints both character accuracies and requires ours to be
 * within one percentage point of the reference's, and above a floor.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCorpus, type CorpusImage } from '../../../../tools/corpus/corpus';
import { characterAccuracy } from '../accuracy';
import { loadOcrModels, type OcrModels } from '../models';
import { recognise } from '../pipeline';
import { runReferenceInChildProcess } from './reference';

const IMAGES = 40;
const FLOOR = 0.9;
const TOLERANCE = 0.01;

jest.setTimeout(150_000);

describe('OCR accuracy against the reference', () => {
  let corpus: CorpusImage[];
  let directory: string;
  let models: OcrModels;

  beforeAll(async () => {
    [corpus, directory, models] = await Promise.all([
      generateCorpus({ count: IMAGES }),
      mkdtemp(path.join(tmpdir(), 'ocr-corpus-')),
      loadOcrModels(),
    ]);
    await Promise.all(corpus.map((image) => writeFile(path.join(directory, image.name), image.png)));
  });

  afterAll(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it(`reads ${IMAGES} generated images within ${TOLERANCE * 100} point of @gutenye/ocr-node`, async () => {
    const readAll = async () => {
      const read: string[][] = [];
      for (const image of corpus) read.push((await recognise(models, image.png)).lines.map((line) => line.text));
      return read;
    };
    // The reference runs in its own process meanwhile (the machine has two cores); both are
    // awaited even when one fails, so the child never outlives the corpus directory.
    const [oursRun, referenceRun] = await Promise.allSettled([
      readAll(),
      runReferenceInChildProcess(corpus.map((image) => path.join(directory, image.name))),
    ]);
    if (oursRun.status === 'rejected') throw oursRun.reason;
    if (referenceRun.status === 'rejected') throw referenceRun.reason;
    const ours = oursRun.value;
    const theirs = referenceRun.value.map((run) => run.lines);

    const score = (read: string[][], subset = corpus) =>
      characterAccuracy(subset.map((image) => ({ expected: image.lines, actual: read[corpus.indexOf(image)] })));
    const mine = score(ours);
    const reference = score(theirs);
    const identical = corpus.filter((_, i) => JSON.stringify(ours[i]) === JSON.stringify(theirs[i])).length;
    const sizes = [...new Set(corpus.map((image) => image.fontSize))].sort((a, b) => a - b);
    const percent = (value: number) => `${(value * 100).toFixed(2)} %`;
    process.stdout.write(
      [
        `OCR character accuracy on ${corpus.length} images, ${mine.tally.characters} characters:`,
        `  split pipeline     ${percent(mine.accuracy)} (${mine.tally.errors} edits)`,
        `  @gutenye/ocr-node  ${percent(reference.accuracy)} (${reference.tally.errors} edits)`,
        `  same output on ${identical}/${corpus.length} images`,
        ...sizes.map((size) => {
          const subset = corpus.filter((image) => image.fontSize === size);
          return `  ${size} px (${subset.length} images): ${percent(score(ours, subset).accuracy)} vs ${percent(score(theirs, subset).accuracy)}`;
        }),
        '',
      ].join('\n'),
    );

    expect(mine.accuracy).toBeGreaterThan(FLOOR);
    expect(Math.abs(mine.accuracy - reference.accuracy)).toBeLessThanOrEqual(TOLERANCE);
  });
});
