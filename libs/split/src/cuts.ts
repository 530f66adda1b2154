import { ancestorRows, graphIndex, type ComputeGraph } from './graph';

export type CutKind = 'all-first' | 'all-second' | 'single' | 'multi';

/**
 * A cut of a compute DAG: the head (positions in `graph.nodes`, an upstream-closed set: every
 * producer of what a head node reads is in the head) runs on the first node, the rest (the
 * tail) on the second; `tensors` cross from the first to the second (graph inputs the tail
 * reads among them). The head is canonical: the crossing tensors' producers and their
 * ancestors, so a cut is known by its tensors.
 */
export interface Cut {
  id: string;
  kind: CutKind;
  head: number[];
  tensors: string[];
}

export const ALL_FIRST = 'all-first';
export const ALL_SECOND = 'all-second';

/** Tensors a tail needs from the head side: graph inputs it reads and head outputs it reads. */
export function crossingTensors(graph: ComputeGraph, head: ReadonlySet<number>): string[] {
  const crossing = new Set<string>();
  graph.nodes.forEach((n, i) => {
    if (head.has(i)) return;
    for (const t of n.inputs) {
      const p = graphIndex(graph).producer.get(t);
      if (p === undefined || head.has(p)) crossing.add(t);
    }
  });
  return [...crossing].sort();
}

/** A head node reading a tensor made in the tail, described, if there is one. */
function headReadsTail(graph: ComputeGraph, head: ReadonlySet<number>): string | undefined {
  const { producer } = graphIndex(graph);
  for (const i of head) {
    for (const t of graph.nodes[i].inputs) {
      const p = producer.get(t);
      if (p !== undefined && !head.has(p))
        return `${graph.nodes[i].name} (head) reads ${t}, made by ${graph.nodes[p].name} (tail)`;
    }
  }
  return undefined;
}

export function cutId(tensors: readonly string[], headSize: number, total: number): string {
  if (headSize === 0) return ALL_SECOND;
  if (headSize === total) return ALL_FIRST;
  return tensors.join('+');
}

/**
 * The cut with this head, made canonical (see `Cut`). Throws, naming the edge, when the head
 * is not upstream-closed (a tail result would have to travel back).
 */
export function cutFromHead(graph: ComputeGraph, head: Iterable<number>): Cut {
  const set = new Set(head);
  const wrong = headReadsTail(graph, set);
  if (wrong) throw new Error(`not a valid cut: ${wrong}`);
  const total = graph.nodes.length;
  if (set.size === total)
    return { id: ALL_FIRST, kind: 'all-first', head: [...set].sort((a, b) => a - b), tensors: [] };
  const tensors = crossingTensors(graph, set);
  const canonical = closure(graph, tensors);
  return makeCut(graph, canonical);
}

function makeCut(graph: ComputeGraph, head: Set<number>): Cut {
  const total = graph.nodes.length;
  const tensors = head.size === total ? [] : crossingTensors(graph, head);
  const id = cutId(tensors, head.size, total);
  const kind: CutKind =
    head.size === 0 ? 'all-second' : head.size === total ? 'all-first' : tensors.length === 1 ? 'single' : 'multi';
  return { id, kind, head: [...head].sort((a, b) => a - b), tensors };
}

/** Producers of `tensors` and all their ancestors. */
function closure(graph: ComputeGraph, tensors: readonly string[]): Set<number> {
  const { producer } = graphIndex(graph);
  const head = new Set<number>();
  const stack = tensors.map((t) => producer.get(t)).filter((p): p is number => p !== undefined);
  while (stack.length) {
    const i = stack.pop()!;
    if (head.has(i)) continue;
    head.add(i);
    for (const t of graph.nodes[i].inputs) {
      const p = producer.get(t);
      if (p !== undefined && !head.has(p)) stack.push(p);
    }
  }
  return head;
}

/**
 * The cut a cut id names: `all-first`, `all-second`, or crossing tensors joined by `+`.
 * Throws saying what is wrong (an unknown tensor, tensors that do not cut the graph).
 */
export function cutFromId(graph: ComputeGraph, id: string): Cut {
  const total = graph.nodes.length;
  if (id === ALL_FIRST) return makeCut(graph, new Set(graph.nodes.map((_, i) => i)));
  if (id === ALL_SECOND) return makeCut(graph, new Set());
  const { producer, consumers } = graphIndex(graph);
  const tensors = id.split('+');
  for (const t of tensors) {
    if (!producer.has(t) && !graph.inputs.includes(t))
      throw new Error(`cut "${id}": no compute node makes tensor "${t}" and it is not a graph input`);
    if (!consumers.has(t)) throw new Error(`cut "${id}": tensor "${t}" is read by no compute node`);
  }
  const cut = makeCut(graph, closure(graph, tensors));
  if (cut.id !== [...tensors].sort().join('+') || cut.head.length === total)
    throw new Error(
      `"${id}" is not a cut: the head that makes those tensors sends ${cut.tensors.join(', ') || 'nothing'} to the tail`,
    );
  return cut;
}

/** The two placements without a split: everything on the first node, everything on the second. */
export function trivialCuts(graph: ComputeGraph): [Cut, Cut] {
  return [makeCut(graph, new Set(graph.nodes.map((_, i) => i))), makeCut(graph, new Set())];
}

/**
 * Every single-tensor cut: a tensor t such that t's producer and its ancestors, as the head,
 * send only t to the tail (Neurosurgeon's layer boundaries, in a DAG). One pass per tensor.
 */
export function singleTensorCuts(graph: ComputeGraph): Cut[] {
  const rows = ancestorRows(graph);
  const { consumers, producer } = graphIndex(graph);
  const total = graph.nodes.length;
  const cuts: Cut[] = [];
  graph.nodes.forEach((n, p) => {
    const row = rows[p];
    let size = 0;
    for (let k = 0; k < total; k++) size += row[k];
    if (size === total) return;
    for (const t of n.outputs) {
      if (!consumers.has(t)) continue;
      // Only t may leave the head: every other tensor read by a tail node must come from the tail.
      let single = true;
      for (let j = 0; j < total && single; j++) {
        if (row[j]) continue;
        for (const x of graph.nodes[j].inputs) {
          if (x === t) continue;
          const q = producer.get(x);
          if (q === undefined || row[q]) {
            single = false;
            break;
          }
        }
      }
      if (!single) continue;
      // A head node's other output read by the tail would cross too (checked above); t crosses.
      const head = new Set<number>();
      for (let k = 0; k < total; k++) if (row[k]) head.add(k);
      cuts.push(makeCut(graph, head));
    }
  });
  return dedupe(cuts);
}

/**
 * Cuts between consecutive nodes of the graph's topological order (n − 1 of them, each
 * canonical): every single-tensor cut of a chain, and in a DAG the multi-tensor cuts a
 * sequential execution passes through (4 scales of PP-OCRv4 det's FPN, for example).
 */
export function prefixCuts(graph: ComputeGraph): Cut[] {
  const cuts: Cut[] = [];
  const head = new Set<number>();
  for (let k = 0; k < graph.nodes.length - 1; k++) {
    head.add(k);
    cuts.push(cutFromHead(graph, head));
  }
  return dedupe(cuts).filter((c) => c.kind === 'single' || c.kind === 'multi');
}

export function dedupe(cuts: Iterable<Cut>): Cut[] {
  const seen = new Map<string, Cut>();
  for (const c of cuts) if (!seen.has(c.id)) seen.set(c.id, c);
  return [...seen.values()];
}
