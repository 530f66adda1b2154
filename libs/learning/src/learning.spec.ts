/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import * as ort from 'onnxruntime-node';
import { DIGIT_MODELS, accuracyOf, cnnShape, predictCnn, trainCnn } from './cnn';
import { DIGITS_SPLIT, DIGIT_CLASSES, DIGIT_PIXELS, digitsPart, loadDigits, sliceDigits } from './digits';
import { DIGITS_INPUT, DIGITS_OUTPUT, cnnToOnnx } from './onnx-export';

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
    expect(cnnShape(DIGIT_MODELS.edge).parameters).toBe(5_258);
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
