import {
  DATA_TYPES,
  attribute,
  constantTensors,
  consumers,
  createTensor,
  opsetVersion,
  producers,
  tensorNames,
  topologicalOrder,
  uniqueName,
  type Graph,
  type OnnxModel,
  type OnnxNode,
  type Tensor,
} from '@yunbian/onnx';

/**
 * Static int8 quantization in the QDQ form onnxruntime turns into integer kernels: every
 * activation a Conv/Gemm/MatMul reads is quantized to uint8 (asymmetric, per tensor, with a
 * range calibrated beforehand) through a QuantizeLinear → DequantizeLinear pair, weights are
 * stored as int8 (symmetric, per output channel for Conv and Gemm, per tensor for MatMul) with
 * a DequantizeLinear, biases as int32 at scale `input scale × weight scale`. onnxruntime's QDQ
 * transformer (graph optimisation level ≥ extended) then fuses `DQ → Conv → Q` into QLinearConv
 * and `DQ → Gemm` into QGemm; ops that only move values (MaxPool, Flatten, Reshape, Transpose,
 * Squeeze, Unsqueeze) share their input's scale so their DQ/Q pairs are dropped, and a Relu
 * right after a quantized op is folded into the QuantizeLinear (zero point 0 clips at 0).
 */

/** Operators whose weights are quantized; index of their constant weight input. */
const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);
/** Operators that only move or select values: their output keeps their input's quantization. */
const PASS_THROUGH = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);

export interface ActivationRange {
  min: number;
  max: number;
}

export interface Int8Plan {
  /** Activations whose range must be calibrated (run the float model with these as outputs). */
  calibrate: string[];
  /** Nodes whose weights will be int8, by name or `op#index`. */
  weighted: string[];
  /** Weighted nodes left in float, with why. */
  skipped: { node: string; reason: string }[];
}

interface Analysis {
  plan: Int8Plan;
  /** Indices of weighted nodes to quantize. */
  weighted: number[];
  /** Activations to quantize → where their scale comes from (itself, or the input of a pass-through op). */
  quantized: Map<string, string>;
  /** Relu nodes folded into the quantization of their input: Relu index → its input. */
  foldedRelu: Map<number, string>;
}

const label = (n: OnnxNode, i: number) => n.name || `${n.opType}#${i}`;

function analyse(model: OnnxModel): Analysis {
  const opset = opsetVersion(model);
  if (opset === undefined || opset < 13) {
    throw new Error(
      `int8 quantization needs the default ONNX opset ≥ 13 (per-channel DequantizeLinear); the model imports opset ${opset ?? 'none'}`,
    );
  }
  const g = model.graph;
  const constants = constantTensors(g);
  const isFloat = (name: string) => {
    const t = constants.get(name);
    return t?.dataType === DATA_TYPES.float32;
  };
  const readers = consumers(g);
  const made = producers(g);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const order = topologicalOrder(g);
  const skipped: Int8Plan['skipped'] = [];
  const weighted: number[] = [];
  for (const i of order) {
    const n = g.nodes[i];
    if (n.domain !== '' || !WEIGHTED.has(n.opType)) continue;
    const why = weightedRefusal(n, constants, isFloat);
    if (why) skipped.push({ node: label(n, i), reason: why });
    else weighted.push(i);
  }
  // The activation each weighted node reads, then back through pass-through ops.
  const quantized = new Map<string, string>();
  for (const i of weighted) quantized.set(g.nodes[i].inputs[0], g.nodes[i].inputs[0]);
  for (const i of [...order].reverse()) {
    const n = g.nodes[i];
    if (n.domain !== '' || !PASS_THROUGH.has(n.opType) || n.outputs.length !== 1) continue;
    const [input] = n.inputs;
    if (quantized.has(n.outputs[0]) && !constants.has(input)) quantized.set(input, input);
  }
  // Pass-through outputs take their input's scale (resolved in topological order).
  for (const i of order) {
    const n = g.nodes[i];
    if (n.domain !== '' || !PASS_THROUGH.has(n.opType) || n.outputs.length !== 1) continue;
    const [input] = n.inputs;
    if (quantized.has(n.outputs[0]) && quantized.has(input)) quantized.set(n.outputs[0], quantized.get(input)!);
  }
  // Relu after a weighted node: quantize its input with the Relu's range and drop it.
  const foldedRelu = new Map<number, string>();
  const weightedSet = new Set(weighted);
  g.nodes.forEach((n, i) => {
    if (n.opType !== 'Relu' || n.domain !== '' || !quantized.has(n.outputs[0]) || outputs.has(n.outputs[0])) return;
    const x = n.inputs[0];
    const p = made.get(x);
    if (p === undefined || !weightedSet.has(p) || outputs.has(x) || (readers.get(x) ?? []).length !== 1) return;
    foldedRelu.set(i, x);
  });
  return {
    plan: {
      calibrate: [...quantized].filter(([t, from]) => t === from).map(([t]) => t),
      weighted: weighted.map((i) => label(g.nodes[i], i)),
      skipped,
    },
    weighted,
    quantized,
    foldedRelu,
  };
}

function weightedRefusal(
  n: OnnxNode,
  constants: Map<string, Tensor>,
  isFloat: (name: string) => boolean,
): string | undefined {
  const [x, w, b] = n.inputs;
  if (constants.has(x)) return 'its first input is a constant';
  if (!w || !isFloat(w)) return 'its weights are not a float32 constant';
  const weight = constants.get(w)!;
  if (b && !isFloat(b)) return 'its bias is not a float32 constant';
  if (n.opType === 'Conv' && weight.dims.length < 3) return 'its weights are not [F, C, …]';
  if (n.opType === 'Gemm') {
    if (weight.dims.length !== 2) return 'its B is not 2-D';
    if ((attribute<number>(n, 'transA') ?? 0) !== 0) return 'transA is set';
    if ((attribute<number>(n, 'alpha') ?? 1) !== 1 || (attribute<number>(n, 'beta') ?? 1) !== 1)
      return 'alpha or beta is not 1';
    const columns = (attribute<number>(n, 'transB') ?? 0) ? weight.dims[0] : weight.dims[1];
    if (b && (constants.get(b)!.dims.length !== 1 || constants.get(b)!.dims[0] !== columns))
      return `its C is not a vector of ${columns}`;
  }
  if (n.opType === 'MatMul' && weight.dims.length !== 2) return 'its B is not 2-D';
  return undefined;
}

/** Which tensors to calibrate and which nodes get int8 weights (throws for a model this recipe cannot take). */
export function planInt8(model: OnnxModel): Int8Plan {
  return analyse(model).plan;
}

/** uint8 scale and zero point of a range (widened to hold 0, as quantized zero must be exact). */
export function uint8Params(range: ActivationRange): { scale: number; zeroPoint: number } {
  const min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  if (!(max > min)) return { scale: 1, zeroPoint: 0 };
  const scale = (max - min) / 255;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-min / scale))) };
}

/**
 * Symmetric int8 quantization of `values` laid out as `[channels, perChannel]` when `axis` is
 * the leading dimension, or `[rows, channels]` when channels are the last of two dimensions.
 */
export function quantizeWeights(
  weight: Tensor,
  axis: number | undefined,
): { values: Int8Array; scales: Float32Array; dequantized: Float32Array } {
  const data = weight.data as Float32Array;
  const channels = axis === undefined ? 1 : weight.dims[axis];
  const inner = axis === undefined ? 1 : weight.dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const channelOf = (i: number) => (axis === undefined ? 0 : Math.floor(i / inner) % channels);
  const maxAbs = new Float32Array(channels);
  for (let i = 0; i < data.length; i++) maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)], Math.abs(data[i]));
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
  const values = new Int8Array(data.length);
  const dequantized = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const s = scales[channelOf(i)];
    values[i] = Math.max(-127, Math.min(127, Math.round(data[i] / s)));
    dequantized[i] = values[i] * s;
  }
  return { values, scales, dequantized };
}

export interface Int8Result {
  model: OnnxModel;
  plan: Int8Plan;
  /** Scale and zero point of every quantized activation. */
  activations: Record<string, { scale: number; zeroPoint: number }>;
}

/**
 * The QDQ int8 model of `model`, given calibrated `ranges` of `planInt8(model).calibrate`.
 * A pure transform: the input model is not changed.
 */
export function quantizeInt8(model: OnnxModel, ranges: ReadonlyMap<string, ActivationRange>): Int8Result {
  const { plan, weighted, quantized, foldedRelu } = analyse(model);
  const missing = plan.calibrate.filter((t) => !ranges.has(t));
  if (missing.length) throw new Error(`no calibrated range for ${missing.join(', ')}`);
  const g = model.graph;
  const constants = constantTensors(g);
  const taken = tensorNames(g);
  const fresh = (base: string) => uniqueName(g, base, taken);
  const initializers: Tensor[] = [...g.initializers];
  const params = new Map<string, { scale: number; zeroPoint: number; scaleName: string; zeroName: string }>();
  const foldedInputs = new Map([...foldedRelu].map(([relu, x]) => [x, g.nodes[relu].outputs[0]]));
  const paramsOf = (tensor: string) => {
    const from = quantized.get(tensor)!;
    let p = params.get(from);
    if (!p) {
      const { scale, zeroPoint } = uint8Params(ranges.get(from)!);
      p = { scale, zeroPoint, scaleName: fresh(`${from}_scale`), zeroName: fresh(`${from}_zero_point`) };
      initializers.push(
        createTensor(p.scaleName, 'float32', [], [scale]),
        createTensor(p.zeroName, 'uint8', [], [zeroPoint]),
      );
      params.set(from, p);
    }
    return p;
  };
  // Every quantized activation (or folded Relu output) is read through its DequantizeLinear.
  const dequantizedName = new Map<string, string>();
  const qdq = (source: string, as: string): OnnxNode[] => {
    const p = paramsOf(as);
    const q = fresh(`${as}_quantized`);
    const dq = fresh(`${as}_dequantized`);
    dequantizedName.set(as, dq);
    return [
      node('QuantizeLinear', [source, p.scaleName, p.zeroName], [q], fresh(`${as}_QuantizeLinear`)),
      node('DequantizeLinear', [q, p.scaleName, p.zeroName], [dq], fresh(`${as}_DequantizeLinear`)),
    ];
  };
  const nodes: OnnxNode[] = [];
  for (const input of g.inputs) if (quantized.has(input.name)) nodes.push(...qdq(input.name, input.name));
  const weightedSet = new Set(weighted);
  const order = topologicalOrder(g);
  for (const i of order) {
    if (foldedRelu.has(i)) continue;
    const n = g.nodes[i];
    const inputs = n.inputs.map((x) => dequantizedName.get(x) ?? x);
    if (weightedSet.has(i))
      inputs.splice(1, inputs.length - 1, ...weightInputs(n, constants, paramsOf, fresh, initializers, nodes));
    nodes.push({ ...n, inputs });
    for (const out of n.outputs) {
      const relu = foldedInputs.get(out);
      if (relu !== undefined) nodes.push(...qdq(out, relu));
      else if (quantized.has(out)) nodes.push(...qdq(out, out));
    }
  }
  // Drop float weights (initializers and Constant nodes) that nothing reads any more.
  const read = new Set(nodes.flatMap((n) => n.inputs));
  for (const o of g.outputs) read.add(o.name);
  const kept = nodes.filter((n) => n.opType !== 'Constant' || n.outputs.some((o) => read.has(o)));
  const graph: Graph = {
    ...g,
    nodes: kept,
    initializers: initializers.filter((t) => read.has(t.name)),
    inputs: g.inputs.filter((v) => !constants.has(v.name) || read.has(v.name)),
    // Intermediate shapes of the float graph stay true for the tensors that still exist.
    valueInfo: g.valueInfo.filter((v) => read.has(v.name)),
  };
  const activations: Int8Result['activations'] = {};
  for (const [t, p] of params) activations[t] = { scale: p.scale, zeroPoint: p.zeroPoint };
  return { model: { ...model, graph }, plan, activations };
}

function node(opType: string, inputs: string[], outputs: string[], name: string, axis?: number): OnnxNode {
  return {
    opType,
    domain: '',
    name,
    inputs,
    outputs,
    attributes: axis === undefined ? [] : [{ name: 'axis', type: 'int', value: axis }],
  };
}

/** int8 weights and int32 bias of one weighted node, with their DequantizeLinear nodes (appended to `nodes`). */
function weightInputs(
  n: OnnxNode,
  constants: Map<string, Tensor>,
  paramsOf: (tensor: string) => { scale: number },
  fresh: (base: string) => string,
  initializers: Tensor[],
  nodes: OnnxNode[],
): string[] {
  const [x, w, b] = n.inputs;
  const weight = constants.get(w)!;
  // Output channels: Conv's F (axis 0); Gemm's N (axis 1, or 0 when transB); MatMul per tensor.
  const axis =
    n.opType === 'Conv' ? 0 : n.opType === 'Gemm' ? ((attribute<number>(n, 'transB') ?? 0) ? 0 : 1) : undefined;
  const { values, scales } = quantizeWeights(weight, axis);
  const channels = scales.length;
  const wq = fresh(`${w}_quantized`);
  const ws = fresh(`${w}_scale`);
  const wz = fresh(`${w}_zero_point`);
  const wdq = fresh(`${w}_dequantized`);
  const perChannel = axis !== undefined;
  initializers.push(
    { name: wq, dataType: DATA_TYPES.int8, dims: [...weight.dims], data: values },
    createTensor(ws, 'float32', perChannel ? [channels] : [], scales),
    createTensor(wz, 'int8', perChannel ? [channels] : [], new Array<number>(channels).fill(0)),
  );
  nodes.push(
    node('DequantizeLinear', [wq, ws, wz], [wdq], fresh(`${w}_DequantizeLinear`), perChannel ? axis : undefined),
  );
  const inputs = [wdq];
  if (b) {
    const bias = constants.get(b)!.data as Float32Array;
    const sx = paramsOf(x).scale;
    const scale = Float32Array.from({ length: bias.length }, (_, c) => sx * scales[perChannel ? c : 0]);
    const bq = fresh(`${b}_quantized`);
    const bs = fresh(`${b}_scale`);
    const bz = fresh(`${b}_zero_point`);
    const bdq = fresh(`${b}_dequantized`);
    initializers.push(
      createTensor(
        bq,
        'int32',
        [bias.length],
        Array.from(bias, (v, c) => Math.round(v / scale[c])),
      ),
      createTensor(bs, 'float32', [bias.length], scale),
      createTensor(bz, 'int32', [bias.length], new Array<number>(bias.length).fill(0)),
    );
    nodes.push(node('DequantizeLinear', [bq, bs, bz], [bdq], fresh(`${b}_DequantizeLinear`), 0));
    inputs.push(bdq);
  }
  return inputs;
}
