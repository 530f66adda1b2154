import type { Graph, OnnxModel, OnnxNode } from './model';
import { DATA_TYPES, elementCount, type Tensor } from './tensor';

/** Attribute value of a node by name, typed by what the caller expects; undefined when absent. */
export function attribute<T = unknown>(node: OnnxNode, name: string): T | undefined {
  const a = node.attributes.find((x) => x.name === name);
  return a?.value as T | undefined;
}

/** For each tensor name, the index of the node producing it (graph inputs and initializers have none). */
export function producers(graph: Graph): Map<string, number> {
  const map = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => o && map.set(o, i)));
  return map;
}

/** For each tensor name, the indices of the nodes reading it (in node order). */
export function consumers(graph: Graph): Map<string, number[]> {
  const map = new Map<string, number[]>();
  graph.nodes.forEach((n, i) =>
    n.inputs.forEach((input) => {
      if (!input) return;
      const list = map.get(input) ?? [];
      if (!list.includes(i)) list.push(i);
      map.set(input, list);
    }),
  );
  return map;
}

/**
 * Tensors whose value is fixed in the file: initializers, and the outputs of `Constant` nodes
 * (`value`, or the `value_float(s)`/`value_int(s)` forms). Some exporters keep every weight in
 * Constant nodes rather than initializers.
 */
export function constantTensors(graph: Graph): Map<string, Tensor> {
  const map = new Map<string, Tensor>();
  for (const t of graph.initializers) map.set(t.name, t);
  for (const n of graph.nodes) {
    if (n.opType !== 'Constant' || n.domain !== '' || !n.outputs[0]) continue;
    const t = constantNodeTensor(n);
    if (t) map.set(n.outputs[0], t);
  }
  return map;
}

/** The tensor a Constant node produces (named after its output), or undefined for sparse/string forms it cannot build. */
export function constantNodeTensor(node: OnnxNode): Tensor | undefined {
  const name = node.outputs[0];
  const a = node.attributes[0];
  if (!a) return undefined;
  switch (a.name) {
    case 'value':
      return a.type === 'tensor' ? { ...a.value, name } : undefined;
    case 'value_float':
      return { name, dataType: DATA_TYPES.float32, dims: [], data: Float32Array.of(a.value as number) };
    case 'value_floats':
      return {
        name,
        dataType: DATA_TYPES.float32,
        dims: [(a.value as number[]).length],
        data: Float32Array.from(a.value as number[]),
      };
    case 'value_int':
      return { name, dataType: DATA_TYPES.int64, dims: [], data: BigInt64Array.of(BigInt(a.value as number)) };
    case 'value_ints':
      return {
        name,
        dataType: DATA_TYPES.int64,
        dims: [(a.value as number[]).length],
        data: BigInt64Array.from((a.value as number[]).map((v) => BigInt(v))),
      };
    default:
      return undefined;
  }
}

/** Graph inputs a caller must feed: declared inputs that are not also initializers. */
export function feedInputs(graph: Graph): Graph['inputs'] {
  const init = new Set(graph.initializers.map((t) => t.name));
  return graph.inputs.filter((v) => !init.has(v.name));
}

/**
 * Node indices in an order where every node comes after the producers of its inputs (Kahn's
 * algorithm, stable: among ready nodes the earliest in the file goes first). Throws naming the
 * tensors of a cycle's nodes, or an input that nothing provides.
 */
export function topologicalOrder(graph: Graph, outerScope: Iterable<string> = []): number[] {
  const available = new Set<string>([
    ...outerScope,
    ...graph.inputs.map((v) => v.name),
    ...graph.initializers.map((t) => t.name),
    '',
  ]);
  const produced = producers(graph);
  for (const n of graph.nodes)
    for (const i of n.inputs)
      if (!available.has(i) && !produced.has(i))
        throw new Error(`node ${n.name || n.opType} reads "${i}", which no node, input or initializer provides`);
  const waiting = graph.nodes.map((n) => new Set(n.inputs.filter((i) => !available.has(i))));
  const readers = consumers(graph);
  const ready: number[] = [];
  waiting.forEach((w, i) => w.size === 0 && ready.push(i));
  const order: number[] = [];
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(i);
    for (const out of graph.nodes[i].outputs) {
      for (const j of readers.get(out) ?? []) {
        const w = waiting[j];
        if (w.delete(out) && w.size === 0) ready.push(j);
      }
    }
  }
  if (order.length < graph.nodes.length) {
    const stuck = graph.nodes.filter((_, i) => !order.includes(i)).map((n) => n.name || n.opType);
    throw new Error(`the graph has a cycle through ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', …' : ''}`);
  }
  return order;
}

/** Count of each operator type (`domain:op` outside the default domain), subgraphs included. */
export function opCounts(graph: Graph): Record<string, number> {
  const counts: Record<string, number> = {};
  const visit = (g: Graph) => {
    for (const n of g.nodes) {
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType;
      counts[key] = (counts[key] ?? 0) + 1;
      for (const a of n.attributes) {
        if (a.type === 'graph') visit(a.value);
        if (a.type === 'graphs') a.value.forEach(visit);
      }
    }
  };
  visit(graph);
  return counts;
}

/** Number of values in the model's constant tensors (initializers and Constant nodes): its parameters. */
export function parameterCount(model: OnnxModel): number {
  let n = 0;
  for (const t of constantTensors(model.graph).values()) n += elementCount(t.dims);
  return n;
}

/** A tensor name not yet used in the graph, built from `base`. */
export function uniqueName(graph: Graph, base: string, taken = tensorNames(graph)): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** Every tensor and node name in the graph. */
export function tensorNames(graph: Graph): Set<string> {
  const names = new Set<string>();
  for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) names.add(v.name);
  for (const t of graph.initializers) names.add(t.name);
  for (const n of graph.nodes) {
    if (n.name) names.add(n.name);
    for (const x of [...n.inputs, ...n.outputs]) if (x) names.add(x);
  }
  return names;
}
