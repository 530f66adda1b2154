/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { digitsPart, sliceDigits } from '@yunbian/learning';
import { createTensor, decodeModel, encodeModel, parameterCount, type OnnxModel } from '@yunbian/onnx';
import { calibrateRanges, type SampleSet } from './calibrate';
import { accuracyOfRows, optimizedOps, predictOnnx } from './evaluate';
import { planInt8, quantizeInt8, quantizeWeights, uint8Params } from './int8';
import { gzipBytes, pruneMagnitude, pruneTensor } from './prune';

const ROOT = path.resolve(__dirname, '../../..');
const cloud = () => readFileSync(path.join(ROOT, 'models/digits/digits-cloud.onnx'));
const samples = (part: 'public' | 'heldOut', from: number, to: number): SampleSet & { labels: Uint8Array } => {
  const d = sliceDigits(digitsPart(part), from, to);
  return { count: d.count, shape: [1, 28, 28], images: d.images, labels: d.labels };
};

describe('int8 quantization (static QDQ)', () => {
  it('plans the activations to calibrate and the weighted nodes of a digits classifier', () => {
    const plan = planInt8(decodeModel(cloud()));
    // The input, both Relu outputs before pooling (pooled outputs share their scale) and the hidden layer.
    expect(plan.calibrate.sort()).toEqual(['hidden0', 'image', 'relu0', 'relu1']);
    expect(plan.weighted).toHaveLength(4);
    expect(plan.skipped).toEqual([]);
  });

  it('makes digits-cloud ≥ 3.5× smaller, as accurate within 0.5 points, running int8 kernels in onnxruntime', async () => {
    const bytes = cloud();
    const model = decodeModel(bytes);
    const ranges = await calibrateRanges(model, planInt8(model).calibrate, samples('public', 0, 500));
    const { model: int8 } = quantizeInt8(model, ranges);
    const quantized = encodeModel(int8);
    expect(bytes.length / quantized.length).toBeGreaterThan(3.5);
    const heldOut = samples('heldOut', 0, 1_000);
    const before = accuracyOfRows(await predictOnnx(bytes, heldOut), heldOut.labels);
    const after = accuracyOfRows(await predictOnnx(quantized, heldOut), heldOut.labels);
    expect(Math.abs(after - before)).toBeLessThanOrEqual(0.005);
    // What onnxruntime runs after its optimisations: integer convolutions and GEMMs, no float ones.
    const ops = await optimizedOps(quantized);
    expect(ops['com.microsoft:QLinearConv']).toBe(2);
    expect(ops['com.microsoft:QGemm']).toBe(2);
    expect(ops.Conv ?? 0).toBe(0);
    expect(ops.Gemm ?? 0).toBe(0);
    expect(ops.DequantizeLinear ?? 0).toBe(0);
    // The input model is left as it was.
    expect(encodeModel(model).equals(encodeModel(decodeModel(bytes)))).toBe(true);
  }, 60_000);

  it('quantizes a MatMul per tensor and stays close to the float output', async () => {
    const weights = Array.from({ length: 8 * 4 }, (_, i) => Math.sin(i) / 2);
    const model: OnnxModel = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      metadataProps: [],
      graph: {
        name: 'matmul',
        nodes: [{ opType: 'MatMul', domain: '', name: 'mm', inputs: ['x', 'w'], outputs: ['y'], attributes: [] }],
        initializers: [createTensor('w', 'float32', [8, 4], weights)],
        inputs: [{ name: 'x', elemType: 1, shape: ['batch', 8] }],
        outputs: [{ name: 'y', elemType: 1, shape: ['batch', 4] }],
        valueInfo: [],
      },
    };
    const x: SampleSet = { count: 4, shape: [8], images: Float32Array.from({ length: 32 }, (_, i) => (i % 9) / 9) };
    const ranges = await calibrateRanges(model, planInt8(model).calibrate, x);
    const quantized = encodeModel(quantizeInt8(model, ranges).model);
    const [want, got] = [await predictOnnx(encodeModel(model), x), await predictOnnx(quantized, x)];
    for (let i = 0; i < 4; i++) for (let k = 0; k < 4; k++) expect(Math.abs(got[i][k] - want[i][k])).toBeLessThan(0.05);
  });

  it('refuses a model below opset 13, saying why', () => {
    const model = decodeModel(cloud());
    model.opsetImport = [{ domain: '', version: 11 }];
    expect(() => planInt8(model)).toThrow(
      'int8 quantization needs the default ONNX opset ≥ 13 (per-channel DequantizeLinear); the model imports opset 11',
    );
  });

  it('computes uint8 activation parameters holding 0 and symmetric per-channel int8 weights', () => {
    const relu = uint8Params({ min: 0, max: 2.55 });
    expect(relu.zeroPoint).toBe(0);
    expect(relu.scale).toBeCloseTo(0.01, 12);
    const p = uint8Params({ min: -1, max: 3 });
    expect(p.zeroPoint).toBe(64);
    expect(p.scale).toBeCloseTo(4 / 255, 10);
    // Two channels of two values ([2, 2]: axis 0), the second ten times larger.
    const w = createTensor('w', 'float32', [2, 2], [0.5, -1, 5, -10]);
    const { values, scales, dequantized } = quantizeWeights(w, 0);
    expect(Array.from(values)).toEqual([64, -127, 64, -127]);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), Math.fround(10 / 127)]);
    for (let i = 0; i < 4; i++)
      expect(Math.abs(dequantized[i] - (w.data as Float32Array)[i])).toBeLessThanOrEqual(scales[i >> 1] / 2);
  });
});

describe('magnitude pruning', () => {
  it('zeroes the smallest values of a tensor', () => {
    expect(Array.from(pruneTensor(Float32Array.from([0.1, -3, 0.2, -0.05, 2]), 0.6))).toEqual([0, -3, 0, 0, 2]);
  });

  it('prunes the weights of digits-cloud to a sparsity: same size, smaller gzip, still a working model', async () => {
    const bytes = cloud();
    const model = decodeModel(bytes);
    const { model: pruned, sparsity, tensors } = pruneMagnitude(model, { sparsity: 0.5 });
    expect(tensors.map((t) => t.name).sort()).toEqual([
      'conv0.weight',
      'conv1.weight',
      'dense0.weight',
      'dense1.weight',
    ]);
    expect(sparsity).toBeGreaterThanOrEqual(0.5);
    expect(sparsity).toBeLessThan(0.501);
    expect(parameterCount(pruned)).toBe(parameterCount(model));
    const out = encodeModel(pruned);
    expect(Math.abs(out.length - bytes.length)).toBeLessThan(100);
    expect(gzipBytes(out)).toBeLessThan(0.8 * gzipBytes(bytes));
    const heldOut = samples('heldOut', 0, 500);
    // Half the weights of a trained CNN can go with little loss (≈ 97 % here, chance is 10 %).
    expect(accuracyOfRows(await predictOnnx(out, heldOut), heldOut.labels)).toBeGreaterThan(0.9);
    expect(() => pruneMagnitude(model, { sparsity: 1 })).toThrow('sparsity must be in [0, 1) (got 1)');
    // onnxruntime over 500 digits and gzip of two 0.9 MB models: seconds on a loaded machine.
  }, 60_000);

  it('prunes weights kept in Constant nodes too', () => {
    const model = decodeModel(cloud());
    // Move every initializer into a Constant node, as some exporters write them.
    model.graph.nodes.unshift(
      ...model.graph.initializers.map((t) => ({
        opType: 'Constant',
        domain: '',
        name: `${t.name}_const`,
        inputs: [],
        outputs: [t.name],
        attributes: [{ name: 'value', type: 'tensor' as const, value: t }],
      })),
    );
    model.graph.initializers = [];
    const { tensors } = pruneMagnitude(model, { sparsity: 0.9 });
    expect(tensors).toHaveLength(4);
    for (const t of tensors) expect(t.zeros / t.values).toBeGreaterThanOrEqual(0.89);
  });
});
