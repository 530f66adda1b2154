import { attribute, constantTensors, decodeModel, feedInputs, topologicalOrder } from '@yunbian/onnx';
import { cnnShape, type CnnSpec, type CnnWeights, type WeightTensor } from './cnn';
import { DIGIT_CLASSES, DIGIT_SIDE } from './digits';

/**
 * The inverse of `cnnToOnnx`: the tfjs-layout weights of a digits CNN read back from its ONNX
 * file, so a model the project trained can be fine-tuned or pruned again (tfjs cannot import
 * ONNX). Accepts exactly the graphs `cnnToOnnx` writes — 3×3 Conv → Relu → 2×2 MaxPool
 * blocks, Flatten, Gemm (→ Relu → Gemm …), Softmax — and throws, naming the first node that
 * differs, for anything else.
 */
export function onnxToCnn(bytes: Uint8Array): CnnWeights {
  const model = decodeModel(bytes);
  const g = model.graph;
  const nodes = topologicalOrder(g).map((i) => g.nodes[i]);
  const constants = constantTensors(g);
  const inputs = feedInputs(g);
  const fail = (why: string): never => {
    throw new Error(`not a digits CNN written by cnnToOnnx: ${why}`);
  };
  if (inputs.length !== 1) fail(`it takes ${inputs.length} inputs, not 1`);
  const shape = inputs[0].shape ?? [];
  if (shape.length !== 4 || shape[1] !== 1 || shape[2] !== DIGIT_SIDE || shape[3] !== DIGIT_SIDE)
    fail(`its input is [${shape.join(', ')}], not [batch, 1, 28, 28]`);
  const weight = (name: string | undefined, what: string): { dims: number[]; values: Float32Array } => {
    const t = name === undefined ? undefined : constants.get(name);
    if (!t || !(t.data instanceof Float32Array)) return fail(`${what} is not a float32 constant`);
    return { dims: t.dims, values: t.data };
  };
  let at = 0;
  const expect = (op: string) => {
    const n = nodes[at];
    if (!n || n.opType !== op) fail(`node ${at} is ${n ? n.opType : 'missing'}, expected ${op}`);
    at++;
    return n;
  };
  const conv: number[] = [];
  const convs: CnnWeights['convs'] = [];
  while (nodes[at]?.opType === 'Conv') {
    const n = expect('Conv');
    const ks = attribute<number[]>(n, 'kernel_shape');
    if (ks && (ks[0] !== 3 || ks[1] !== 3)) fail(`conv ${convs.length} has a ${ks.join('×')} kernel, not 3×3`);
    for (const a of ['pads', 'strides', 'dilations', 'group']) {
      const v = attribute<number | number[]>(n, a);
      const trivial = v === undefined || (Array.isArray(v) ? v.every((x) => x === (a === 'pads' ? 0 : 1)) : v === 1);
      if (!trivial) fail(`conv ${convs.length} sets ${a}`);
    }
    const w = weight(n.inputs[1], `conv ${convs.length}'s weight`);
    const b = weight(n.inputs[2], `conv ${convs.length}'s bias`);
    const [f, c, kh, kw] = w.dims;
    // ONNX [F, C, kh, kw] → tfjs [kh, kw, C, F].
    const kernel = new Float32Array(w.values.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let ci = 0; ci < c; ci++)
          for (let fi = 0; fi < f; fi++)
            kernel[((y * kw + x) * c + ci) * f + fi] = w.values[((fi * c + ci) * kh + y) * kw + x];
    convs.push({
      kernel: { shape: [kh, kw, c, f], values: kernel },
      bias: { shape: [f], values: Float32Array.from(b.values) },
    });
    conv.push(f);
    expect('Relu');
    const pool = expect('MaxPool');
    const pk = attribute<number[]>(pool, 'kernel_shape');
    if (!pk || pk[0] !== 2 || pk[1] !== 2) fail(`pooling after conv ${convs.length - 1} is not 2×2`);
  }
  expect('Flatten');
  const spec: CnnSpec = { conv, dense: [] };
  const denseLayers: { kernel: WeightTensor; bias: WeightTensor }[] = [];
  for (;;) {
    const n = expect('Gemm');
    if (attribute<number>(n, 'transB')) fail('a Gemm sets transB');
    const w = weight(n.inputs[1], `dense ${denseLayers.length}'s weight`);
    const b = weight(n.inputs[2], `dense ${denseLayers.length}'s bias`);
    denseLayers.push({
      kernel: { shape: [...w.dims], values: Float32Array.from(w.values) },
      bias: { shape: [...b.dims], values: Float32Array.from(b.values) },
    });
    if (nodes[at]?.opType !== 'Relu') break;
    expect('Relu');
    spec.dense.push(w.dims[1]);
  }
  expect('Softmax');
  if (at !== nodes.length) fail(`${nodes.length - at} node(s) follow the Softmax`);
  if (denseLayers.at(-1)!.kernel.shape[1] !== DIGIT_CLASSES)
    fail(`the last layer has ${denseLayers.at(-1)!.kernel.shape[1]} outputs, not 10`);
  const { side, channels, features } = cnnShape(spec);
  if (denseLayers[0].kernel.shape[0] !== features)
    fail(`the first dense layer takes ${denseLayers[0].kernel.shape[0]} features, not ${features}`);
  // ONNX flattens NCHW as (c, h, w); tfjs's rows are in (h, w, c) order.
  if (conv.length > 0) {
    const [k, m] = denseLayers[0].kernel.shape;
    const onnx = denseLayers[0].kernel.values;
    const rows = new Float32Array(k * m);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        for (let c = 0; c < channels; c++) {
          const to = (y * side + x) * channels + c;
          const from = (c * side + y) * side + x;
          rows.set(onnx.subarray(from * m, (from + 1) * m), to * m);
        }
    denseLayers[0].kernel.values = rows;
  }
  return { spec, convs, dense: denseLayers };
}
