/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DIGIT_MODELS, accuracyOf, augmentShifts, cnnShape, predictCnn, shiftDigit, trainCnn } from './cnn';
import { DIGITS_SPLIT, DIGIT_CLASSES, DIGIT_PIXELS, DIGIT_SIDE, digitsPart, loadDigits, sliceDigits } from './digits';
import { DIGITS_INPUT, DIGITS_OUTPUT, cnnToOnnx } from './onnx-export';
import { onnxToCnn } from './onnx-import';

describe('the digits split', () => {
  it('covers the 10,000 digits once, each part holding every class near its overall share', () => {
    const all = loadDigits();
    expect(all.count).toBe(10_000);
    expect(DIGITS_SPLIT.public.to).toBe(DIGITS_SPLIT.edge.from);
    expect(DIGITS_SPLIT.edge.to).toBe(DIGITS_SPLIT.heldOut.from);
    expect(DIGITS_SPLIT.heldOut.to).toBe(all.count);
    for (const part of ['public', 'edge', 'heldOut'] as const) {
      const d = digitsPart(part, all);
      const counts = new Array<number>(DIGIT_CLASSES).fill(0);
      for (const label of d.labels) counts[label]++;
      // Each class is 8.6–11.3 % of the whole; a shuffled part of ≥ 2,000 stays within 6–15 %.
      for (const c of counts) expect(c / d.count).toBeGreaterThan(0.06);
      for (const c of counts) expect(c / d.count).toBeLessThan(0.15);
    }
    // Pixel values are intensities in [0, 1].
    const first = all.images.subarray(0, DIGIT_PIXELS);
    expect(Math.max(...first)).toBeLessThanOrEqual(1);
    expect(Math.min(...first)).toBeGreaterThanOrEqual(0);
  });

  it('refuses a range outside the data', () => {
    expect(() => sliceDigits(loadDigits(), 9_000, 10_001)).toThrow(/outside the 10000 available/);
  });
});

describe('digit classifiers', () => {
  it('count the parameters of the three tiers', () => {
    expect(cnnShape(DIGIT_MODELS.device).parameters).toBe(2_346);
    expect(cnnShape(DIGIT_MODELS.edge).parameters).toBe(56_714);
    expect(cnnShape(DIGIT_MODELS.cloud).parameters).toBe(225_034);
  });

  it('export to ONNX graphs onnxruntime runs to the same probabilities as tfjs', async () => {
    const sample = sliceDigits(digitsPart('heldOut'), 0, 16);
    for (const spec of [DIGIT_MODELS.edge, DIGIT_MODELS.cloud]) {
      // No epoch: the seeded initial weights, enough to check the layout of every layer.
      const weights = await trainCnn(spec, sample, { epochs: 0, seed: 7 });
      const expected = await predictCnn(weights, sample);
      const session = await ort.InferenceSession.create(cnnToOnnx(weights));
      const out = await session.run({
        [DIGITS_INPUT]: new ort.Tensor('float32', Float32Array.from(sample.images), [sample.count, 1, 28, 28]),
      });
      const got = out[DIGITS_OUTPUT].data as Float32Array;
      expect(got.length).toBe(expected.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
      expect(worst).toBeLessThan(1e-5);
      await session.release();
    }
  }, 60_000);

  it('learn: two epochs on 2,000 public digits classify held-out digits far above chance', async () => {
    const reports: number[] = [];
    const weights = await trainCnn(DIGIT_MODELS.device, sliceDigits(digitsPart('public'), 0, 2_000), {
      epochs: 2,
      seed: 1,
      onEpoch: (r) => reports.push(r.loss),
    });
    expect(reports).toHaveLength(2);
    expect(reports[1]).toBeLessThan(reports[0]);
    const heldOut = sliceDigits(digitsPart('heldOut'), 0, 500);
    // Chance is 10 %; this tiny model reaches ≈ 80 % here.
    expect(accuracyOf(await predictCnn(weights, heldOut), heldOut)).toBeGreaterThan(0.5);
  }, 120_000);
});

describe('augmentation and distillation', () => {
  it('shifts a digit by whole pixels, blank where it moved from', () => {
    const image = new Float32Array(DIGIT_PIXELS);
    image[5 * DIGIT_SIDE + 7] = 1; // row 5, column 7
    image[27 * DIGIT_SIDE + 27] = 0.5; // the bottom-right corner
    const moved = shiftDigit(image, 2, -1);
    expect(moved[4 * DIGIT_SIDE + 9]).toBe(1);
    // The corner pixel moved out of the image; nothing else has ink.
    expect(moved.reduce((a, b) => a + b, 0)).toBe(1);
    expect(shiftDigit(image, 0, 0)).toEqual(image);
    const back = shiftDigit(shiftDigit(image, -3, 2), 3, -2);
    expect(back[5 * DIGIT_SIDE + 7]).toBe(1);
  });

  it("draws each epoch's shifts from the seed and the epoch alone, over the whole range", () => {
    const a = augmentShifts(202, 3, 1_000, 2);
    expect(augmentShifts(202, 3, 1_000, 2)).toEqual(a);
    expect(augmentShifts(202, 4, 1_000, 2)).not.toEqual(a);
    expect(augmentShifts(203, 3, 1_000, 2)).not.toEqual(a);
    expect([...new Set(a)].sort((x, y) => x - y)).toEqual([-2, -1, 0, 1, 2]);
  });

  it('refuses distillation and augmentation settings outside their ranges, naming them', async () => {
    const data = sliceDigits(digitsPart('public'), 0, 8);
    const teacher = await trainCnn(DIGIT_MODELS.device, data, { epochs: 0, seed: 1 });
    await expect(
      trainCnn(DIGIT_MODELS.device, data, {
        epochs: 1,
        seed: 1,
        distill: { teacher, temperature: 0, weight: 1.5 },
        augment: { shiftPx: 0.5 },
      }),
    ).rejects.toThrow(
      'cannot train with these options: distill.temperature must be > 0 (got 0); distill.weight must be in [0, 1] (got 1.5); augment.shiftPx must be a whole number of pixels in [0, 8] (got 0.5)',
    );
  });

  it("a student distilled with weight 1 learns the teacher's answers, not the labels it is given", async () => {
    const teacher = onnxToCnn(readFileSync(path.resolve(__dirname, '../../../models/digits/digits-cloud.onnx')));
    const public2000 = sliceDigits(digitsPart('public'), 0, 2_000);
    // Every label wrong: trained on these labels alone, a model would be right almost never.
    const wrong = { ...public2000, labels: public2000.labels.map((l) => (l + 1) % DIGIT_CLASSES) };
    const student = await trainCnn(DIGIT_MODELS.device, wrong, {
      epochs: 2,
      seed: 1,
      distill: { teacher, temperature: 2, weight: 1 },
      augment: { shiftPx: 1 },
    });
    const heldOut = sliceDigits(digitsPart('heldOut'), 0, 500);
    expect(accuracyOf(await predictCnn(student, heldOut), heldOut)).toBeGreaterThan(0.5);
  }, 240_000);
});
