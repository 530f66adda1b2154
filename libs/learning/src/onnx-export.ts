import { writeOnnxModel, type OnnxNode, type OnnxGraph } from '@yunbian/models';
import { cnnShape, type CnnWeights } from './cnn';
import { DIGIT_CLASSES, DIGIT_SIDE } from './digits';

/** Names of the exported graph's input (`[batch, 1, 28, 28]`, values in [0, 1]) and output (`[batch, 10]`). */
export const DIGITS_INPUT = 'image';
export const DIGITS_OUTPUT = 'probabilities';

/**
 * The classifier as an ONNX graph (opset 13: Conv, Relu, MaxPool, Flatten, Gemm, Softmax)
 * taking NCHW images. Two layout changes from tfjs: conv kernels go from `[kh, kw, C, F]` to
 * `[F, C, kh, kw]`, and the rows of the first dense kernel from tfjs's (h, w, c) flattening to
 * ONNX's (c, h, w).
 */
export function cnnToOnnx(weights: CnnWeights, name = 'digits'): Buffer {
  const nodes: OnnxNode[] = [];
  const initializers: NonNullable<OnnxGraph['initializers']> = [];
  let current = DIGITS_INPUT;
  weights.convs.forEach(({ kernel, bias }, i) => {
    const [kh, kw, c, f] = kernel.shape;
    const onnx = new Array<number>(kernel.values.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let ci = 0; ci < c; ci++)
          for (let fi = 0; fi < f; fi++)
            onnx[((fi * c + ci) * kh + y) * kw + x] = kernel.values[((y * kw + x) * c + ci) * f + fi];
    initializers.push(
      { name: `conv${i}.weight`, type: 'float32', dims: [f, c, kh, kw], values: onnx },
      { name: `conv${i}.bias`, type: 'float32', dims: [f], values: Array.from(bias.values) },
    );
    nodes.push(
      {
        op: 'Conv',
        inputs: [current, `conv${i}.weight`, `conv${i}.bias`],
        outputs: [`conv${i}`],
        attributes: { kernel_shape: { ints: [kh, kw] } },
      },
      { op: 'Relu', inputs: [`conv${i}`], outputs: [`relu${i}`] },
      {
        op: 'MaxPool',
        inputs: [`relu${i}`],
        outputs: [`pool${i}`],
        attributes: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } },
      },
    );
    current = `pool${i}`;
  });
  nodes.push({ op: 'Flatten', inputs: [current], outputs: ['features'] });
  current = 'features';
  const { side, channels } = cnnShape(weights.spec);
  weights.dense.forEach(({ kernel, bias }, i) => {
    const [k, m] = kernel.shape;
    let values = Array.from(kernel.values);
    if (i === 0 && weights.convs.length > 0) {
      values = new Array<number>(k * m);
      for (let y = 0; y < side; y++)
        for (let x = 0; x < side; x++)
          for (let c = 0; c < channels; c++) {
            const from = (y * side + x) * channels + c;
            const to = (c * side + y) * side + x;
            for (let j = 0; j < m; j++) values[to * m + j] = kernel.values[from * m + j];
          }
    }
    initializers.push(
      { name: `dense${i}.weight`, type: 'float32', dims: [k, m], values },
      { name: `dense${i}.bias`, type: 'float32', dims: [m], values: Array.from(bias.values) },
    );
    const last = i === weights.dense.length - 1;
    nodes.push({
      op: 'Gemm',
      inputs: [current, `dense${i}.weight`, `dense${i}.bias`],
      outputs: [last ? 'logits' : `gemm${i}`],
    });
    if (!last) nodes.push({ op: 'Relu', inputs: [`gemm${i}`], outputs: [`hidden${i}`] });
    current = last ? 'logits' : `hidden${i}`;
  });
  nodes.push({ op: 'Softmax', inputs: ['logits'], outputs: [DIGITS_OUTPUT], attributes: { axis: { int: 1 } } });
  return writeOnnxModel({
    name,
    nodes,
    initializers,
    inputs: [{ name: DIGITS_INPUT, type: 'float32', shape: ['batch', 1, DIGIT_SIDE, DIGIT_SIDE] }],
    outputs: [{ name: DIGITS_OUTPUT, type: 'float32', shape: ['batch', DIGIT_CLASSES] }],
  });
}
