import { gzipSync } from 'node:zlib';
import { DATA_TYPES, constantTensors, type OnnxModel, type Tensor } from '@yunbian/onnx';

/** Operators whose second input is a weight matrix/kernel that magnitude pruning zeroes. */
const PRUNABLE = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

export interface PruneOptions {
  /** Share of each weight tensor's values set to zero, in [0, 1). */
  sparsity: number;
  /** Tensors with fewer values than this are left alone (default 16: tiny kernels hurt most). */
  minElements?: number;
}

export interface PruneResult {
  model: OnnxModel;
  /** Per pruned tensor: its values and how many are zero now. */
  tensors: { name: string; values: number; zeros: number }[];
  /** Zeros over all values of the pruned tensors. */
  sparsity: number;
}

/**
 * Magnitude pruning: in every float32 weight (the second input of Conv, ConvTranspose, Gemm
 * and MatMul, held in an initializer or a Constant node), the `sparsity` share of values with
 * the smallest magnitude become 0, per tensor. Biases are kept. CPU kernels do not skip zeros:
 * the file is as large and as fast as before and only compresses better (see `gzipBytes`).
 */
export function pruneMagnitude(model: OnnxModel, options: PruneOptions): PruneResult {
  const { sparsity } = options;
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`sparsity must be in [0, 1) (got ${sparsity})`);
  const minElements = options.minElements ?? 16;
  const g = model.graph;
  const constants = constantTensors(g);
  const targets = new Set<string>();
  for (const n of g.nodes) {
    const w = n.inputs[1];
    if (n.domain === '' && PRUNABLE.has(n.opType) && w && constants.get(w)?.dataType === DATA_TYPES.float32)
      targets.add(w);
  }
  const pruned = new Map<string, Tensor>();
  const report: PruneResult['tensors'] = [];
  for (const name of targets) {
    const t = constants.get(name)!;
    const data = t.data as Float32Array;
    if (data.length < minElements) continue;
    const out = pruneTensor(data, sparsity);
    pruned.set(name, { ...t, data: out });
    report.push({ name, values: out.length, zeros: out.reduce((z, v) => z + (v === 0 ? 1 : 0), 0) });
  }
  const replace = (t: Tensor) => pruned.get(t.name) ?? t;
  const nodes = g.nodes.map((n) => {
    const out = n.outputs[0];
    if (n.opType !== 'Constant' || !pruned.has(out)) return n;
    return {
      ...n,
      attributes: n.attributes.map((a) =>
        a.name === 'value' && a.type === 'tensor' ? { ...a, value: { ...pruned.get(out)!, name: a.value.name } } : a,
      ),
    };
  });
  const values = report.reduce((s, r) => s + r.values, 0);
  return {
    model: { ...model, graph: { ...g, nodes, initializers: g.initializers.map(replace) } },
    tensors: report,
    sparsity: values ? report.reduce((s, r) => s + r.zeros, 0) / values : 0,
  };
}

/** A copy of `data` with its `sparsity` share of smallest-magnitude values set to 0. */
export function pruneTensor(data: Float32Array, sparsity: number): Float32Array {
  const count = Math.floor(data.length * sparsity);
  const out = Float32Array.from(data);
  if (count === 0) return out;
  const order = Array.from({ length: data.length }, (_, i) => i).sort((a, b) => Math.abs(data[a]) - Math.abs(data[b]));
  for (let i = 0; i < count; i++) out[order[i]] = 0;
  return out;
}

/** Size of the bytes gzipped (level 9): what pruning buys for storage and transfer. */
export function gzipBytes(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).length;
}
