import { float32FromBase64 } from '@yunbian/common';
import type { TierDefinition } from './definition';
import {
  fallBack,
  judgeTier,
  mergeRows,
  requestBatch,
  sliceRequest,
  sliceRows,
  tierTensor,
  type TierTensor,
} from './tiers';

const values = (t: TierTensor) => Array.from(float32FromBase64(t.float32));
const reply = (rows: number[][]) => ({
  outputs: { probabilities: tierTensor([rows.length, rows[0].length], rows.flat()) },
});

const TIERS: TierDefinition[] = [
  { service: 'onnx-inference@^1', model: 'digits@1', hard: { threshold: 0.9 } },
  { service: 'onnx-inference@^1', model: 'digits@2', hard: { rule: 'margin', threshold: 0.5 } },
  { service: 'onnx-inference@^1', model: 'digits@3' },
];

describe('tiers: slicing and merging rows', () => {
  const x = tierTensor([4, 2], [0, 1, 10, 11, 20, 21, 30, 31]);

  it('slices the rows asked for, in that order, keeping the other dimensions', () => {
    const part = sliceRows('x', x, [3, 1]);
    expect(part.dims).toEqual([2, 2]);
    expect(values(part)).toEqual([30, 31, 10, 11]);
    expect(sliceRows('x', tierTensor([2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), [1]).dims).toEqual([1, 1, 2, 2]);
  });

  it('slices every input tensor of a request and keeps its other fields', () => {
    const request = { inputs: { x, y: tierTensor([4], [0, 1, 2, 3]) }, extra: true };
    expect(requestBatch(request)).toBe(4);
    const sliced = sliceRequest(request, [2]) as { inputs: Record<string, TierTensor>; extra: boolean };
    expect(values(sliced.inputs.x)).toEqual([20, 21]);
    expect(values(sliced.inputs.y)).toEqual([2]);
    expect(sliced.extra).toBe(true);
    // The true labels (collect) go with their samples.
    const labelled = sliceRequest({ ...request, labels: [7, null, 3, 1] }, [2, 1]) as { labels: unknown[] };
    expect(labelled.labels).toEqual([3, null]);
  });

  it('merges a sub-batch answer back into its rows', () => {
    const merged = mergeRows('x', x, tierTensor([2, 2], [-3, -3, -1, -1]), [3, 1]);
    expect(values(merged)).toEqual([0, 1, -1, -1, 20, 21, -3, -3]);
    expect(values(x)).toEqual([0, 1, 10, 11, 20, 21, 30, 31]);
  });

  it('says what is wrong with requests that are not batches of tensors', () => {
    expect(() => requestBatch({ image: 'x' })).toThrow('the step input has no inputs');
    expect(() => requestBatch({ inputs: { a: tierTensor([2, 1], [1, 2]), b: tierTensor([3], [1, 2, 3]) } })).toThrow(
      'disagree on the batch size',
    );
    expect(() => sliceRows('x', { dims: [4, 2], float32: tierTensor([3], [1, 2, 3]).float32 }, [0])).toThrow(
      'tensor x [4, 2] needs 8 float32 values, got 3',
    );
    expect(() => mergeRows('x', x, tierTensor([1, 3], [1, 2, 3]), [0])).toThrow('cannot replace 1 rows of [4, 2]');
  });
});

describe('tiers: judging answers tier by tier', () => {
  it('sends only the hard samples up and answers each from the tier that was sure', () => {
    // Tier 0 (threshold 0.9): samples 1 and 3 are unsure.
    const t0 = judgeTier(
      TIERS,
      0,
      reply([
        [0.95, 0.05],
        [0.6, 0.4],
        [0.02, 0.98],
        [0.5, 0.5],
      ]),
      undefined,
      4,
      {
        model: 'digits@1',
        node: 'dev-1',
      },
    );
    expect(t0.done).toBe(false);
    expect(t0.progress.tier).toBe(1);
    expect(t0.progress.rows).toEqual([1, 3]);
    expect(t0.progress.answers[0]).toEqual({
      tier: 0,
      model: 'digits@1',
      why: { rule: 'threshold', score: 0.95, threshold: 0.9, hard: false },
    });
    expect(t0.progress.counts).toEqual([
      { tier: 0, model: 'digits@1', node: 'dev-1', service: undefined, inferences: 4, hardExamples: 2, fallbacks: 0 },
    ]);
    // Tier 1 (margin 0.5) gets samples 1 and 3: 0.9 − 0.1 is sure, 0.55 − 0.45 is not.
    const t1 = judgeTier(
      TIERS,
      1,
      reply([
        [0.9, 0.1],
        [0.45, 0.55],
      ]),
      t0.progress,
      4,
      { model: 'digits@2' },
    );
    expect(t1.done).toBe(false);
    expect(t1.progress.rows).toEqual([3]);
    expect(t1.progress.answers[1].tier).toBe(1);
    expect(t1.progress.answers[1].why?.rule).toBe('margin');
    // Tier 2, the last, answers what it gets; why is the check that sent it up.
    const t2 = judgeTier(TIERS, 2, reply([[0.01, 0.99]]), t1.progress, 4, { model: 'digits@3' });
    expect(t2.done).toBe(true);
    if (!t2.done) return;
    expect(t2.output.samples.map((s) => s.tier)).toEqual([0, 1, 0, 2]);
    expect(t2.output.samples[3]).toEqual({
      tier: 2,
      model: 'digits@3',
      why: { rule: 'margin', score: expect.closeTo(0.1, 5) as number, threshold: 0.5, hard: true },
      // The first tier that sent it on, and the class it predicted (what a collection keeps).
      sentBy: { tier: 0, model: 'digits@1', prediction: 0 },
    });
    expect(values(t2.output.outputs.probabilities).map((v) => Math.round(v * 100) / 100)).toEqual([
      0.95, 0.05, 0.9, 0.1, 0.02, 0.98, 0.01, 0.99,
    ]);
    expect(t2.output.tiers.map((c) => [c.tier, c.inferences, c.hardExamples])).toEqual([
      [0, 4, 2],
      [1, 2, 1],
      [2, 1, 0],
    ]);
  });

  it('is done at the first tier with no hard sample', () => {
    const t0 = judgeTier(TIERS, 0, reply([[0.95, 0.05]]), undefined, 1, {});
    expect(t0.done).toBe(true);
    expect(t0.progress.counts).toHaveLength(1);
  });

  it('falls back to the lower tier for the samples an unreachable tier should have answered', () => {
    const t0 = judgeTier(
      TIERS,
      0,
      reply([
        [0.95, 0.05],
        [0.6, 0.4],
      ]),
      undefined,
      2,
      { model: 'digits@1' },
    );
    const { output } = fallBack(t0.progress, 'tier 1 unreachable: UNAVAILABLE');
    expect(output.samples[0].fallback).toBeUndefined();
    expect(output.samples[1]).toEqual({
      tier: 0,
      model: 'digits@1',
      why: { rule: 'threshold', score: 0.6, threshold: 0.9, hard: true },
      fallback: { tier: 1, reason: 'tier 1 unreachable: UNAVAILABLE' },
      sentBy: { tier: 0, model: 'digits@1', prediction: 0 },
    });
    expect(output.tiers[0].fallbacks).toBe(1);
    expect(values(output.outputs.probabilities)[2]).toBeCloseTo(0.6, 6);
  });

  it('names the tier and the output when a reply cannot be judged', () => {
    expect(() =>
      judgeTier(TIERS, 0, { outputs: { logits: tierTensor([1, 2], [1, 0]) } }, undefined, 1, {}),
    ).not.toThrow();
    expect(() =>
      judgeTier(
        [{ ...TIERS[0], output: 'probabilities' }, TIERS[2]],
        0,
        { outputs: { logits: tierTensor([1, 2], [1, 0]) } },
        undefined,
        1,
        {},
      ),
    ).toThrow('has no output "probabilities"; its outputs are logits');
    expect(() =>
      judgeTier([{ ...TIERS[0], hard: { rule: 'ibt' } }, TIERS[2]], 0, reply([[0.5, 0.5]]), undefined, 1, {}),
    ).toThrow('tier 0, output probabilities: hard-example rule ibt does not read probabilities');
    expect(() => judgeTier(TIERS, 0, reply([[0.5, 0.5]]), undefined, 2, {})).toThrow(
      'output probabilities has 1 rows for 2 samples',
    );
  });
});
