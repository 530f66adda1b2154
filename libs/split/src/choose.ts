import type { SplitCutEstimate, SplitLink, SplitLossyMode, SplitObjective } from '@yunbian/contracts';
import { cutFromHead, dedupe, singleTensorCuts, trivialCuts, type Cut } from './cuts';
import { dominatedBy } from './dominance';
import { graphIndex, type ComputeGraph } from './graph';
import { INFINITE, minCut, type FlowEdge } from './max-flow';

/** Type, shape and size of one tensor at a given input shape. */
export interface TensorSize {
  /** Element type as onnxruntime names it (`float32`, `int64`…). */
  type: string;
  dims: number[];
  bytes: number;
}

export type TensorSizes = Readonly<Record<string, TensorSize>>;

/** Milliseconds per compute node name on one side. */
export type NodeTimes = Readonly<Record<string, number>>;

/** Everything a cut's cost depends on. */
export interface SplitProblem {
  graph: ComputeGraph;
  sizes: TensorSizes;
  /** Compute times on the first node (where the data is) and on the second. */
  first: NodeTimes;
  second: NodeTimes;
  link: SplitLink;
  lossy?: false | SplitLossyMode;
}

/** Bytes per millisecond carried by one Mbit/s. */
const BYTES_PER_MS_PER_MBPS = 125;

/** Bytes a tensor takes on the wire: float32 narrowed to float16 (2 B) or int8 (1 B + scale and zero point). */
export function wireBytes(size: TensorSize, lossy: false | SplitLossyMode | undefined): number {
  if (!lossy || size.type !== 'float32') return size.bytes;
  const count = size.bytes / 4;
  return lossy === 'float16' ? count * 2 : count + 8;
}

export function transferMs(bytes: number, link: SplitLink): number {
  return bytes === 0 ? 0 : bytes / (BYTES_PER_MS_PER_MBPS * link.mbps);
}

function sizeOf(problem: SplitProblem, tensor: string): TensorSize {
  const size = problem.sizes[tensor];
  if (!size) throw new Error(`no measured size for tensor "${tensor}": measure the tensor sizes at this input shape`);
  return size;
}

function timeOf(times: NodeTimes, node: string, side: string): number {
  const ms = times[node];
  if (ms === undefined || !(ms >= 0))
    throw new Error(`the ${side} node's profile has no time for compute node "${node}" (got ${ms})`);
  return ms;
}

/** Checks that both profiles cover every compute node; throws naming the first few missing. */
export function checkProfiles(graph: ComputeGraph, first: NodeTimes, second: NodeTimes): void {
  for (const [side, times] of [
    ['first', first],
    ['second', second],
  ] as const) {
    const missing = graph.nodes.filter((n) => !(times[n.name] >= 0)).map((n) => n.name);
    if (missing.length)
      throw new Error(
        `the ${side} node's profile has no time for ${missing.length} of ${graph.nodes.length} compute nodes: ` +
          `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`,
      );
  }
}

/** What one cut costs: head + transfer + RTT (when anything runs on the second node) + tail. */
export function estimateCut(problem: SplitProblem, cut: Cut): SplitCutEstimate {
  const { graph, first, second, link, lossy } = problem;
  const head = new Set(cut.head);
  let headMs = 0;
  let tailMs = 0;
  graph.nodes.forEach((n, i) => {
    if (head.has(i)) headMs += timeOf(first, n.name, 'first');
    else tailMs += timeOf(second, n.name, 'second');
  });
  const transferBytes = cut.tensors.reduce((sum, t) => sum + wireBytes(sizeOf(problem, t), lossy), 0);
  const xfer = transferMs(transferBytes, link);
  const rttMs = head.size === graph.nodes.length ? 0 : link.rttMs;
  return {
    id: cut.id,
    kind: cut.kind,
    tensors: cut.tensors,
    headNodes: head.size,
    tailNodes: graph.nodes.length - head.size,
    headMs,
    transferBytes,
    transferMs: xfer,
    rttMs,
    tailMs,
    totalMs: headMs + xfer + rttMs + tailMs,
    periodMs: Math.max(headMs, xfer, tailMs),
  };
}

/**
 * The flow network of DADS (Hu et al., INFOCOM 2019) for this problem. Vertex 0 is the first
 * node (source), 1 the second (sink), 2 + i compute node i, then one auxiliary vertex per
 * tensor read by several nodes (or a graph input). A vertex on the source side of a cut runs
 * on the first node:
 * - s → v costs v's time on the second node (cut when v runs there), v → t its time on the first;
 * - a tensor x made by u (u = s for a graph input) costs its transfer once however many read it:
 *   u → a(x) with the transfer time, a(x) → each reader ∞ (DADS's auxiliary vertex; with one
 *   reader and u a compute node, u → reader directly);
 * - reader → u ∞: a tail result never travels back, so the head is upstream-closed.
 * A minimum s-t cut is then head time + transfer time + tail time, minimal over all cuts.
 * `forceTail`: compute nodes that must run on the second node (→ t with ∞).
 */
export function flowNetwork(
  problem: SplitProblem,
  forceTail: readonly number[] = [],
): { vertices: number; edges: FlowEdge[] } {
  const { graph, first, second } = problem;
  const { consumers, producer } = graphIndex(graph);
  const edges: FlowEdge[] = [];
  const v = (i: number) => 2 + i;
  graph.nodes.forEach((n, i) => {
    edges.push({ from: 0, to: v(i), capacity: timeOf(second, n.name, 'second') });
    edges.push({ from: v(i), to: 1, capacity: timeOf(first, n.name, 'first') });
  });
  let vertices = 2 + graph.nodes.length;
  for (const [tensor, readers] of consumers) {
    const p = producer.get(tensor);
    if (p === undefined && !graph.inputs.includes(tensor)) continue;
    const from = p === undefined ? 0 : v(p);
    const cost = transferMs(wireBytes(sizeOf(problem, tensor), problem.lossy), problem.link);
    if (readers.length === 1 && p !== undefined) {
      edges.push({ from, to: v(readers[0]), capacity: cost });
    } else {
      const aux = vertices++;
      edges.push({ from, to: aux, capacity: cost });
      for (const r of readers) edges.push({ from: aux, to: v(r), capacity: INFINITE });
    }
    if (p !== undefined) for (const r of readers) edges.push({ from: v(r), to: from, capacity: INFINITE });
  }
  for (const i of forceTail) edges.push({ from: v(i), to: 1, capacity: INFINITE });
  return { vertices, edges };
}

/** The minimum cut of the flow network as a `Cut`, with the network's cut value. */
export function minimumCut(problem: SplitProblem, forceTail: readonly number[] = []): { cut: Cut; value: number } {
  const { vertices, edges } = flowNetwork(problem, forceTail);
  const { value, sourceSide } = minCut(vertices, edges, 0, 1);
  const head: number[] = [];
  problem.graph.nodes.forEach((_, i) => sourceSide[2 + i] && head.push(i));
  return { cut: cutFromHead(problem.graph, head), value };
}

/**
 * The latency-optimal cut (Neurosurgeon's choice on a chain, DADS's on a DAG): one RTT is paid
 * whenever anything runs on the second node, so the answer is the better of all-first and the
 * minimum cut that keeps a graph output's producer on the second node (+ RTT).
 */
export function latencyOptimalCut(problem: SplitProblem): { cut: Cut; totalMs: number; flowMs: number } {
  const { graph } = problem;
  const [allFirst] = trivialCuts(graph);
  let best = { cut: allFirst, totalMs: estimateCut(problem, allFirst).totalMs, flowMs: NaN };
  const { producer } = graphIndex(graph);
  const outputProducers = [
    ...new Set(graph.outputs.map((o) => producer.get(o)).filter((p): p is number => p !== undefined)),
  ];
  for (const o of outputProducers) {
    const { cut, value } = minimumCut(problem, [o]);
    const totalMs = value + problem.link.rttMs;
    if (totalMs < best.totalMs - 1e-9) best = { cut, totalMs, flowMs: value };
  }
  return best;
}

/** Bandwidths the candidate min-cuts are taken at: 0.1 Mbit/s to 10 Gbit/s, 6 per decade. */
export const SWEEP_MBPS = Array.from({ length: 31 }, (_, k) => Math.round(0.1 * 10 ** (k / 6) * 1000) / 1000);

/**
 * The cuts a plan compares: the two trivial placements, every single-tensor cut, and the
 * latency-optimal (min) cut at every bandwidth of `SWEEP_MBPS` and at the problem's own link —
 * the multi-tensor cuts the chooser would pick as the link varies.
 */
export function candidateCuts(problem: SplitProblem, extra: Iterable<Cut> = []): Cut[] {
  const cuts: Cut[] = [...trivialCuts(problem.graph), ...singleTensorCuts(problem.graph)];
  for (const mbps of [...SWEEP_MBPS, problem.link.mbps]) {
    cuts.push(latencyOptimalCut({ ...problem, link: { ...problem.link, mbps } }).cut);
  }
  return dedupe([...cuts, ...extra]);
}

export interface SplitChoice {
  /**
   * Every candidate, best first by the objective; a candidate another one dominates for the
   * objective (see `dominatedBy`) names it in `dominatedBy`.
   */
  candidates: SplitCutEstimate[];
  chosen: SplitCutEstimate;
  reason: string;
}

const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

/**
 * Chooses a cut. Latency: the minimum s-t cut of DADS's network (optimal over every cut,
 * candidates or not; added to them). Throughput (DADS's heavy-load mode, pipelined
 * inferences): the candidate with the smallest max(head, transfer, tail) — a search over the
 * candidate cuts, not DADS's own iteration; ties go to the lower latency.
 */
export function chooseCut(problem: SplitProblem, objective: SplitObjective, candidates: readonly Cut[]): SplitChoice {
  checkProfiles(problem.graph, problem.first, problem.second);
  const optimal = latencyOptimalCut(problem);
  const all = dedupe([...candidates, optimal.cut]).map((c) => estimateCut(problem, c));
  const key = (e: SplitCutEstimate) => (objective === 'latency' ? e.totalMs : e.periodMs);
  all.sort((a, b) => key(a) - key(b) || a.totalMs - b.totalMs || a.transferBytes - b.transferBytes);
  for (const [id, by] of dominatedBy(all, objective)) all.find((e) => e.id === id)!.dominatedBy = by;
  const chosen = all[0];
  const runnerUp = all[1];
  const allFirst = all.find((e) => e.kind === 'all-first')!;
  const allSecond = all.find((e) => e.kind === 'all-second')!;
  const what = objective === 'latency' ? 'latency' : 'period (pipelined)';
  const trivialBest = Math.min(key(allFirst), key(allSecond));
  const parts =
    `head ${ms(chosen.headMs)} + transfer ${chosen.transferBytes} B ${ms(chosen.transferMs)}` +
    ` + RTT ${ms(chosen.rttMs)} + tail ${ms(chosen.tailMs)}`;
  let reason =
    `${chosen.id} has the smallest ${what} of ${all.length} cuts: ${ms(key(chosen))} (${parts}); ` +
    `all-first ${ms(key(allFirst))}, all-second ${ms(key(allSecond))}`;
  if (chosen.kind === 'single' || chosen.kind === 'multi')
    reason += `, ${(trivialBest / key(chosen)).toFixed(2)}× better than the better of them`;
  if (runnerUp) reason += `; next ${runnerUp.id} ${ms(key(runnerUp))}`;
  if (objective === 'latency')
    reason +=
      optimal.cut.id === chosen.id
        ? `. It is the minimum s-t cut of the DADS flow graph (${ms(optimal.totalMs)}).`
        : `. The minimum s-t cut of the DADS flow graph, ${optimal.cut.id}, ties at ${ms(optimal.totalMs)}.`;
  else reason += '.';
  return { candidates: all, chosen, reason };
}
