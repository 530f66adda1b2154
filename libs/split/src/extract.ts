import { DATA_TYPES, type Graph, type OnnxModel, type OnnxNode, type Dim, type ValueInfo } from '@yunbian/onnx';
import { ALL_FIRST, ALL_SECOND, type Cut } from './cuts';
import { outerScopeReads, type ComputeGraph } from './graph';

/** Element type codes by onnxruntime's names. */
const TYPE_CODES: Readonly<Record<string, number>> = DATA_TYPES;

/** The head and tail of a model for one cut. The head's outputs are the tail's inputs (graph inputs among them pass by). */
export interface SplitModels {
  cut: string;
  /** Absent for `all-second` (nothing runs first). */
  head?: OnnxModel;
  /** Absent for `all-first`. */
  tail?: OnnxModel;
  /** Tensors the tail takes, in its input order: head outputs, then graph inputs it reads. */
  tensors: string[];
}

/** Metadata key a head or tail carries: `{ part, cut, parentSha256? }` as JSON. */
export const SPLIT_METADATA_KEY = 'yunbian.split';

/**
 * Writes the head and the tail of `model` for `cut` (nodes kept in the file's order, which is
 * topological). Each part copies the initializers and Constant nodes its nodes read. The head
 * outputs the crossing tensors it makes (and any graph output it makes); the tail takes every
 * crossing tensor as an input, typed from `types` (element types by tensor name, as measured:
 * the file rarely states them), with the batch dimension open (see `crossingShape`).
 */
export function splitModel(
  model: OnnxModel,
  graph: ComputeGraph,
  cut: Cut,
  types: Readonly<Record<string, { type: string; dims?: number[] }>>,
  parentSha256?: string,
): SplitModels {
  const head = new Set(cut.head.map((i) => graph.nodes[i].index));
  const tail = new Set(graph.nodes.map((n) => n.index).filter((i) => !head.has(i)));
  const g = model.graph;
  const describe = (name: string): ValueInfo => {
    const t = types[name];
    const known = [...g.outputs, ...g.valueInfo].find((v) => v.name === name);
    if (!t && known?.elemType !== undefined) return { name, elemType: known.elemType };
    if (!t) throw new Error(`no element type known for tensor "${name}": measure the tensor sizes first`);
    const code = TYPE_CODES[t.type];
    if (code === undefined) throw new Error(`tensor "${name}" has element type ${t.type}, which cannot cross a cut`);
    return { name, elemType: code, ...(t.dims ? { shape: crossingShape(name, t.dims) } : {}) };
  };
  // A model whose inputs are fixed past the batch makes fixed-size tensors: the tail declares
  // them (an inference service warms a part up from its declared shape). Otherwise only the
  // batch (symbolic) and the channels (dimension 1 of a 3+-d tensor) are stated.
  const fixedInputs = g.inputs.every((v) => v.shape?.slice(1).every((d) => typeof d === 'number' && d > 0));
  // Symbolic names are per tensor: onnxruntime takes one name for one size across the graph.
  const crossingShape = (name: string, dims: number[]): Dim[] =>
    dims.map((d, i) => (i === 0 ? 'batch' : fixedInputs || (i === 1 && dims.length >= 3) ? d : `${name}_d${i}`));
  const meta = (part: 'head' | 'tail') => [
    ...model.metadataProps.filter((p) => p.key !== SPLIT_METADATA_KEY),
    {
      key: SPLIT_METADATA_KEY,
      value: JSON.stringify({ part, cut: cut.id, ...(parentSha256 ? { parentSha256 } : {}) }),
    },
  ];
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const madeInHead = new Set<string>();
  for (const i of head) for (const o of g.nodes[i].outputs) madeInHead.add(o);
  const headOutputs = cut.tensors.filter((t) => madeInHead.has(t));
  const passed = cut.tensors.filter((t) => !madeInHead.has(t));
  const tensors = [...headOutputs, ...passed];
  const result: SplitModels = { cut: cut.id, tensors };
  if (cut.id !== ALL_SECOND) {
    const outputs = [
      ...headOutputs.map((t) => (graphOutputs.has(t) ? g.outputs.find((o) => o.name === t)! : describe(t))),
      ...g.outputs.filter((o) => madeInHead.has(o.name) && !headOutputs.includes(o.name)),
    ];
    result.head = part(model, head, outputs, meta('head'), `${g.name}_head`);
  }
  if (cut.id !== ALL_FIRST) {
    const inputs = tensors.map((t) => g.inputs.find((v) => v.name === t) ?? describe(t));
    const outputs = g.outputs.filter((o) => !madeInHead.has(o.name));
    result.tail = part(model, tail, outputs, meta('tail'), `${g.name}_tail`, inputs);
  }
  return result;
}

function part(
  model: OnnxModel,
  keep: ReadonlySet<number>,
  outputs: ValueInfo[],
  metadataProps: OnnxModel['metadataProps'],
  name: string,
  inputs?: ValueInfo[],
): OnnxModel {
  const g = model.graph;
  const reads = new Set<string>();
  g.nodes.forEach((n, i) => {
    if (!keep.has(i)) return;
    n.inputs.forEach((t) => t && reads.add(t));
    outerScopeReads(n).forEach((t) => reads.add(t));
  });
  const nodes: OnnxNode[] = [];
  g.nodes.forEach((n, i) => {
    const isConstant = n.opType === 'Constant' && n.domain === '';
    if (keep.has(i) || (isConstant && n.outputs.some((o) => reads.has(o)))) nodes.push(n);
  });
  const graph: Graph = {
    name,
    nodes,
    initializers: g.initializers.filter((t) => reads.has(t.name)),
    inputs: inputs ?? g.inputs.filter((v) => reads.has(v.name) && !g.initializers.some((t) => t.name === v.name)),
    outputs,
    valueInfo: [],
    ...(g.docString ? { docString: g.docString } : {}),
  };
  const { functions, trainingInfo, ...rest } = model;
  void trainingInfo;
  return { ...rest, ...(functions ? { functions } : {}), metadataProps, graph };
}
