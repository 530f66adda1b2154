import { DIGIT_MODELS, trainCnn, type TrainCheckpoint } from './cnn';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint';
import { DIGIT_PIXELS, DIGIT_SIDE, digitsPart, loadDigits, sliceDigits } from './digits';
import { SITE_SHIFTS, edgeShare, resolveShift, shiftDigits, shiftFor, shiftImage, shiftIssues } from './shifts';

const S = DIGIT_SIDE;
const ink = (img: Float32Array) => img.reduce((a, v) => a + v, 0);

/** A 28×28 image with one horizontal bar of ink on rows 12–15, columns 6–21. */
function bar(): Float32Array {
  const img = new Float32Array(DIGIT_PIXELS);
  for (let y = 12; y < 16; y++) for (let x = 6; x < 22; x++) img[y * S + x] = 1;
  return img;
}

describe('site shifts', () => {
  it('are deterministic: the same shift of the same digits gives the same bits', () => {
    const d = sliceDigits(digitsPart('heldOut'), 0, 20);
    for (const shift of Object.values(SITE_SHIFTS)) {
      expect(Buffer.from(shiftDigits(d, shift).images.buffer)).toEqual(
        Buffer.from(shiftDigits(d, shift).images.buffer),
      );
    }
  });

  it('change what each parameter should: stroke, rotation, blur and contrast', () => {
    const img = bar();
    expect(ink(shiftImage(img, { stroke: 1 }))).toBeGreaterThan(ink(img) * 1.3);
    expect(ink(shiftImage(img, { stroke: -1 }))).toBeLessThan(ink(img) * 0.6);
    // A quarter turn makes the horizontal bar vertical: columns 12–15 carry the ink.
    const turned = shiftImage(img, { rotateDeg: 90 });
    expect(turned[10 * S + 13]).toBeCloseTo(1, 4);
    expect(turned[13 * S + 8]).toBeCloseTo(0, 4);
    expect(ink(turned)).toBeCloseTo(ink(img), 2);
    // Blur keeps the ink (the bar is far from the border) but spreads it above the bar.
    const soft = shiftImage(img, { blurSigma: 1 });
    expect(ink(soft)).toBeCloseTo(ink(img), 1);
    expect(soft[11 * S + 10]).toBeGreaterThan(0.1);
    expect(soft[13 * S + 10]).toBeLessThan(1);
    const faded = shiftImage(img, { gain: 0.5, offset: 0.3 });
    expect(faded[0]).toBeCloseTo(0.3, 6);
    expect(faded[13 * S + 10]).toBeCloseTo(0.8, 6);
    // The input is never changed.
    expect(ink(img)).toBe(64);
  });

  it('leaves an image as it is with no parameters', () => {
    const d = sliceDigits(loadDigits(), 0, 3);
    expect(shiftDigits(d, {}).images).toEqual(d.images);
  });

  it('refuse unknown names and parameters out of range, saying what is accepted', () => {
    expect(shiftIssues('tilted-soft')).toEqual([]);
    expect(shiftIssues({ rotateDeg: 10, gain: 0.7 })).toEqual([]);
    expect(shiftIssues('sideways')[0]).toContain('named shifts: tilted-soft, thick-faded, thin-tilted');
    expect(shiftIssues({ rotate: 10 })[0]).toContain('unknown shift parameter "rotate"; accepted: stroke, rotateDeg');
    expect(shiftIssues({ blurSigma: 9 })[0]).toContain('blurSigma must be a number in [0, 3] (got 9)');
    expect(shiftIssues({ stroke: 0.5 })[0]).toContain('whole number');
    expect(shiftIssues(7)[0]).toContain('a name or an object');
    expect(() => resolveShift('nope')).toThrow(/unknown shift "nope"/);
    expect(resolveShift('thin-tilted')).toEqual({ stroke: -1, rotateDeg: -15 });
  });

  it('are chosen per site by name when a site names none, the same everywhere', () => {
    const a = shiftFor('factory-a');
    expect(shiftFor('factory-a')).toEqual(a);
    expect(Object.keys(SITE_SHIFTS)).toContain(a.name);
    const names = new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((s) => shiftFor(`site-${s}`).name));
    expect(names.size).toBeGreaterThan(1);
  });

  it('split the edge pool into contiguous shares, one per site, covering it once', () => {
    expect(edgeShare(0, 2)).toEqual({ from: 6_000, to: 7_000 });
    expect(edgeShare(1, 2)).toEqual({ from: 7_000, to: 8_000 });
    const three = [0, 1, 2].map((i) => edgeShare(i, 3));
    expect(three[0].from).toBe(6_000);
    expect(three[2].to).toBe(8_000);
    expect(three[1].from).toBe(three[0].to);
    expect(three[2].from).toBe(three[1].to);
    expect(() => edgeShare(2, 2)).toThrow(/site index must be a whole number in \[0, 1\] of 2 sites/);
  });
});

describe('training checkpoints', () => {
  const data = sliceDigits(digitsPart('public'), 0, 256);
  const options = { epochs: 2, tail: { epochs: 1, learningRate: 3e-4 }, seed: 11, batchSize: 32 };

  it('resume a run exactly: interrupted after each epoch, encoded and decoded, the weights are the same bits', async () => {
    const checkpoints: TrainCheckpoint[] = [];
    const straight = await trainCnn(DIGIT_MODELS.device, data, {
      ...options,
      onCheckpoint: (c) => void checkpoints.push(c),
    });
    expect(checkpoints.map((c) => c.epoch)).toEqual([1, 2, 3]);
    expect(checkpoints.map((c) => c.optimizer.phase)).toEqual([0, 0, 1]);
    // Adam's moments: two per trainable tensor (3 layers × kernel and bias).
    expect(checkpoints[0].optimizer.moments).toHaveLength(12);
    expect(checkpoints[0].optimizer.iterations).toBe(8);
    for (const after of [1, 2]) {
      const resume = decodeCheckpoint(encodeCheckpoint(checkpoints[after - 1]));
      const epochs: number[] = [];
      const resumed = await trainCnn(DIGIT_MODELS.device, data, {
        ...options,
        resume,
        onEpoch: (r) => void epochs.push(r.epoch),
      });
      expect(epochs).toEqual(after === 1 ? [2, 3] : [3]);
      resumed.dense.forEach((l, i) => expect(l.kernel.values).toEqual(straight.dense[i].kernel.values));
      resumed.convs.forEach((l, i) => expect(l.kernel.values).toEqual(straight.convs[i].kernel.values));
    }
  }, 60_000);

  it('are refused for another run, saying why', async () => {
    let first: TrainCheckpoint | undefined;
    await trainCnn(DIGIT_MODELS.device, data, { epochs: 1, seed: 11, onCheckpoint: (c) => void (first = c) });
    await expect(trainCnn(DIGIT_MODELS.device, data, { epochs: 2, seed: 12, resume: first })).rejects.toThrow(
      /cannot resume from this checkpoint: its seed is 11, this run's 12/,
    );
    expect(() => decodeCheckpoint(Buffer.from('hello'))).toThrow(/not a training checkpoint/);
  }, 30_000);
});
