/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { addBiasModel } from '@yunbian/models';
import { cnnShape, predictCnn, type CnnWeights } from './cnn';
import { digitsPart, sliceDigits } from './digits';
import { DIGITS_INPUT, DIGITS_OUTPUT, cnnToOnnx } from './onnx-export';
import { onnxToCnn } from './onnx-import';
import { pruneCnnStructured, pseudoLabels } from './shrink';

const file = (tier: string) => readFileSync(path.resolve(__dirname, `../../../models/digits/digits-${tier}.onnx`));

async function onnxProbabilities(bytes: Uint8Array, images: Float32Array, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.run({
    [DIGITS_INPUT]: new ort.Tensor('float32', Float32Array.from(images), [count, 1, 28, 28]),
  });
  await session.release();
  return out[DIGITS_OUTPUT].data as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('onnxToCnn', () => {
  it('is the inverse of cnnToOnnx: the committed tier models are written back byte for byte', () => {
    for (const tier of ['device', 'edge', 'cloud']) {
      const bytes = file(tier);
      const weights = onnxToCnn(bytes);
      expect(cnnToOnnx(weights, `digits-${tier}`).equals(bytes)).toBe(true);
    }
    expect(onnxToCnn(file('cloud')).spec).toEqual({ conv: [32, 64], dense: [128] });
  });

  it('refuses other graphs, naming what differs', () => {
    expect(() => onnxToCnn(addBiasModel(4))).toThrow(
      'not a digits CNN written by cnnToOnnx: its input is [batch, 4], not [batch, 1, 28, 28]',
    );
  });
});

describe('structured pruning', () => {
  const sample = sliceDigits(digitsPart('heldOut'), 0, 32);

  it('keeping every filter changes nothing; keeping half gives a smaller CNN that tfjs and onnxruntime agree on', async () => {
    const edge = onnxToCnn(file('edge'));
    const all = pruneCnnStructured(edge, 1);
    expect(all.spec).toEqual(edge.spec);
    expect(maxDiff(await predictCnn(all, sample), await predictCnn(edge, sample))).toBeLessThan(1e-6);

    const half = pruneCnnStructured(onnxToCnn(file('cloud')), 0.5);
    expect(half.spec).toEqual({ conv: [16, 32], dense: [64] });
    expect(cnnShape(half.spec).parameters).toBeLessThan(cnnShape({ conv: [32, 64], dense: [128] }).parameters / 3);
    const tfjs = await predictCnn(half, sample);
    const onnx = await onnxProbabilities(cnnToOnnx(half), sample.images, sample.count);
    expect(maxDiff(tfjs, onnx)).toBeLessThan(1e-5);
  }, 60_000);

  it('keeps the filters with the largest L1 norm, and the matching inputs of the next layer', () => {
    // One conv of 3 filters over 1 channel: filter 1 is the largest, then 2, then 0.
    const kernel = new Float32Array(9 * 3);
    for (let p = 0; p < 9; p++) kernel.set([0.1, 1, -0.5], p * 3);
    const side = 13; // (28 − 2) / 2
    const dense: CnnWeights['dense'] = [
      {
        kernel: {
          shape: [side * side * 3, 10],
          values: Float32Array.from({ length: side * side * 3 * 10 }, (_, i) => i),
        },
        bias: { shape: [10], values: new Float32Array(10) },
      },
    ];
    const weights: CnnWeights = {
      spec: { conv: [3], dense: [] },
      convs: [
        { kernel: { shape: [3, 3, 1, 3], values: kernel }, bias: { shape: [3], values: Float32Array.from([7, 8, 9]) } },
      ],
      dense,
    };
    const pruned = pruneCnnStructured(weights, 0.67);
    expect(pruned.spec.conv).toEqual([2]);
    expect(Array.from(pruned.convs[0].bias.values)).toEqual([8, 9]);
    expect(Array.from(pruned.convs[0].kernel.values.subarray(0, 2))).toEqual([1, -0.5]);
    // Rows of the first dense layer are (h, w, c): at position 0 the rows of channels 1 and 2.
    expect(pruned.dense[0].kernel.shape).toEqual([side * side * 2, 10]);
    expect(Array.from(pruned.dense[0].kernel.values.subarray(0, 20))).toEqual([
      ...Array.from({ length: 10 }, (_, j) => 10 + j),
      ...Array.from({ length: 10 }, (_, j) => 20 + j),
    ]);
    expect(() => pruneCnnStructured(weights, 0)).toThrow('keep must be in (0, 1] (got 0)');
  });
});

describe('pseudoLabels', () => {
  it("labels each image with the teacher's most probable class", () => {
    const p = new Float32Array(20);
    p[3] = 0.9;
    p[10 + 7] = 0.6;
    expect(Array.from(pseudoLabels(new Float32Array(2 * 784), 2, p).labels)).toEqual([3, 7]);
  });
});
