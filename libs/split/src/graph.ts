import {
  constantTensors,
  feedInputs,
  topologicalOrder,
  type Graph,
  type OnnxModel,
  type OnnxNode,
} from '@yunbian/onnx';

/** One compute node: an ONNX node that is not a Constant (weights are not compute). */
export interface ComputeNode {
  /** Unique name: the ONNX node's, or `<opType>_<index>` when empty (ONNX Runtime's naming). */
  name: string;
  opType: string;
  /** Index of the node in the file's `graph.node`. */
  index: number;
  /** Activation tensors it reads: graph inputs and outputs of other compute nodes (no weights). */
  inputs: string[];
  outputs: string[];
}

/**
 * The compute DAG of a model, as plain data (hand-made graphs in specs are this too). `nodes`
 * are in a topological order; tensors are named by their ONNX names.
 */
export interface ComputeGraph {
  nodes: ComputeNode[];
  /** Graph inputs a caller feeds. */
  inputs: string[];
  outputs: string[];
}

/** Tensors every query needs, built once per graph. */
export interface GraphIndex {
  graph: ComputeGraph;
  /** Tensor → position in `graph.nodes` of its producer (graph inputs: none). */
  producer: Map<string, number>;
  /** Tensor → positions of the compute nodes reading it. */
  consumers: Map<string, number[]>;
  byName: Map<string, number>;
}

const indexes = new WeakMap<ComputeGraph, GraphIndex>();

export function graphIndex(graph: ComputeGraph): GraphIndex {
  let index = indexes.get(graph);
  if (index) return index;
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const byName = new Map<string, number>();
  graph.nodes.forEach((n, i) => {
    byName.set(n.name, i);
    for (const o of n.outputs) producer.set(o, i);
    for (const t of n.inputs) {
      const list = consumers.get(t) ?? [];
      if (!list.includes(i)) list.push(i);
      consumers.set(t, list);
    }
  });
  index = { graph, producer, consumers, byName };
  indexes.set(graph, index);
  return index;
}

/** The name `@yunbian/split` (and stored profiles) use for the node at `index` of the file. */
export function computeNodeName(node: OnnxNode, index: number): string {
  return node.name || `${node.opType}_${index}`;
}

/** Tensor names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing scope. */
export function outerScopeReads(node: OnnxNode): string[] {
  const reads = new Set<string>();
  const visit = (g: Graph, outer: Set<string>) => {
    const local = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
    for (const n of g.nodes) for (const o of n.outputs) local.add(o);
    for (const n of g.nodes) {
      for (const i of n.inputs) if (i && !local.has(i)) outer.add(i);
      for (const a of n.attributes) {
        const inner = new Set<string>();
        if (a.type === 'graph') visit(a.value, inner);
        if (a.type === 'graphs') a.value.forEach((sub) => visit(sub, inner));
        for (const i of inner) if (!local.has(i)) outer.add(i);
      }
    }
    for (const o of g.outputs) if (!local.has(o.name)) outer.add(o.name);
  };
  for (const a of node.attributes) {
    if (a.type === 'graph') visit(a.value, reads);
    if (a.type === 'graphs') a.value.forEach((g) => visit(g, reads));
  }
  return [...reads];
}

/**
 * The compute DAG of a model: every node but Constant nodes, reading the activations they
 * take (graph inputs and other nodes' outputs; initializers and Constant outputs are weights,
 * copied into whichever part needs them). Subgraph reads from the outer scope count as inputs.
 */
export function computeGraph(model: OnnxModel): ComputeGraph {
  const g = model.graph;
  const constants = new Set(constantTensors(g).keys());
  for (const n of g.nodes) if (n.opType === 'Constant' && n.domain === '') n.outputs.forEach((o) => constants.add(o));
  const order = topologicalOrder(g);
  const taken = new Set<string>();
  const nodes: ComputeNode[] = [];
  for (const i of order) {
    const n = g.nodes[i];
    if (n.opType === 'Constant' && n.domain === '') continue;
    let name = computeNodeName(n, i);
    for (let k = 1; taken.has(name); k++) name = `${computeNodeName(n, i)}#${k}`;
    taken.add(name);
    const inputs = [...new Set([...n.inputs, ...outerScopeReads(n)])].filter((t) => t && !constants.has(t));
    nodes.push({ name, opType: n.opType, index: i, inputs, outputs: n.outputs.filter(Boolean) });
  }
  return {
    nodes,
    inputs: feedInputs(g).map((v) => v.name),
    outputs: g.outputs.map((v) => v.name),
  };
}

/**
 * Ancestors of every node as bit rows (row i: the positions of the nodes i depends on,
 * itself included). n² bits: 0.1 MB for the 330 compute nodes of PP-OCRv4 det.
 */
export function ancestorRows(graph: ComputeGraph): Uint8Array[] {
  const { producer } = graphIndex(graph);
  const rows: Uint8Array[] = [];
  graph.nodes.forEach((n, i) => {
    const row = new Uint8Array(graph.nodes.length);
    row[i] = 1;
    for (const t of n.inputs) {
      const p = producer.get(t);
      if (p === undefined) continue;
      const up = rows[p];
      for (let k = 0; k <= p; k++) if (up[k]) row[k] = 1;
    }
    rows.push(row);
  });
  return rows;
}
