import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import type { SplitLossyMode } from '@yunbian/contracts';
import { narrowTo } from '@yunbian/inference';
import { dataTypeName, encodeModel, feedInputs, type OnnxModel } from '@yunbian/onnx';
import type { TensorSizes } from './choose';
import type { Cut } from './cuts';
import { splitModel } from './extract';
import type { ComputeGraph } from './graph';

type Ort = typeof Ort;
/** onnxruntime on first use: the orchestrator loads it only in the child processes that measure. */
const ort = (): Promise<Ort> => import('onnxruntime-node');

const SESSION = { intraOpNumThreads: 1, interOpNumThreads: 1 } as const;

/**
 * The shape every graph input is fed at: `given[name]`, else the file's shape with a
 * symbolic leading dimension (the batch) read as 1. Throws saying which input needs a shape.
 */
export function resolveInputShape(
  model: OnnxModel,
  given: Readonly<Record<string, readonly number[]>> = {},
): Record<string, number[]> {
  const inputs = feedInputs(model.graph);
  const names = inputs.map((v) => v.name);
  for (const name of Object.keys(given))
    if (!names.includes(name))
      throw new Error(
        `inputShape names "${name}", which is not an input of the model; its inputs: ${names.join(', ')}`,
      );
  const out: Record<string, number[]> = {};
  for (const v of inputs) {
    const declared = v.shape;
    const shown = `[${(declared ?? []).map((d) => d ?? '?').join(', ')}]`;
    const asked = given[v.name];
    if (asked) {
      if (!asked.every((d) => Number.isInteger(d) && d > 0))
        throw new Error(`inputShape.${v.name} must be positive integers (got [${asked.join(', ')}])`);
      if (
        declared &&
        (declared.length !== asked.length || declared.some((d, i) => typeof d === 'number' && d !== asked[i]))
      )
        throw new Error(`inputShape.${v.name} [${asked.join(', ')}] does not fit the model's ${shown}`);
      out[v.name] = [...asked];
      continue;
    }
    if (!declared || declared.some((d, i) => typeof d !== 'number' && i > 0))
      throw new Error(
        `input ${v.name} has shape ${shown} with dynamic dimensions: give inputShape: { "${v.name}": [${(declared ?? [])
          .map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 'N'))
          .join(', ')}] } with numbers for them`,
      );
    out[v.name] = declared.map((d) => (typeof d === 'number' ? d : 1));
  }
  return out;
}

/** Deterministic inputs in [0, 1) (float) or zeros (integer), `seed` varying them. */
export function sampleFeeds(
  o: Ort,
  model: OnnxModel,
  shapes: Readonly<Record<string, number[]>>,
  seed = 1,
): Record<string, Ort.Tensor> {
  const feeds: Record<string, Ort.Tensor> = {};
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (const v of feedInputs(model.graph)) {
    const dims = shapes[v.name];
    const count = dims.reduce((a, b) => a * b, 1);
    const type = dataTypeName(v.elemType ?? 1);
    if (type === 'float32') feeds[v.name] = new o.Tensor('float32', Float32Array.from({ length: count }, next), dims);
    else if (type === 'int64') feeds[v.name] = new o.Tensor('int64', new BigInt64Array(count), dims);
    else if (type === 'int32') feeds[v.name] = new o.Tensor('int32', new Int32Array(count), dims);
    else
      throw new Error(`input ${v.name} has element type ${type}; only float32, int32 and int64 inputs can be sampled`);
  }
  return feeds;
}

const BYTES: Record<string, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  uint64: 8,
  int32: 4,
  uint32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/**
 * Type, shape and bytes of every tensor a compute node reads or the graph outputs, at
 * `shapes`: the model with those tensors as extra graph outputs, run once (intermediate shapes
 * are symbolic in the file). Fetched `groupSize` at a time so memory holds one group.
 */
export async function measureTensorSizes(
  model: OnnxModel,
  graph: ComputeGraph,
  shapes: Readonly<Record<string, number[]>>,
  groupSize = 40,
): Promise<TensorSizes> {
  const o = await ort();
  const wanted = new Set<string>(graph.outputs);
  for (const n of graph.nodes) for (const t of n.inputs) wanted.add(t);
  for (const t of graph.inputs) wanted.delete(t);
  const exposed: OnnxModel = {
    ...model,
    graph: {
      ...model.graph,
      outputs: [
        ...model.graph.outputs,
        ...[...wanted].filter((t) => !graph.outputs.includes(t)).map((name) => ({ name })),
      ],
    },
  };
  const session = await o.InferenceSession.create(encodeModel(exposed), SESSION);
  const sizes: Record<string, { type: string; dims: number[]; bytes: number }> = {};
  try {
    const feeds = sampleFeeds(o, model, shapes);
    for (const [name, t] of Object.entries(feeds))
      sizes[name] = { type: t.type, dims: [...t.dims], bytes: t.data.length * (BYTES[t.type] ?? 4) };
    const names = [...wanted];
    for (let k = 0; k < names.length; k += groupSize) {
      const out = await session.run(feeds, names.slice(k, k + groupSize));
      for (const [name, t] of Object.entries(out)) {
        sizes[name] = { type: t.type, dims: [...t.dims], bytes: t.size * (BYTES[t.type] ?? 4) };
        t.dispose?.();
      }
    }
  } finally {
    await session.release();
  }
  return sizes;
}

/** Median of numbers (0 for none). */
function median(values: number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface MeasuredProfile {
  /** Per compute node (ms), scaled so they add up to `totalMs`. */
  nodes: Record<string, number>;
  /** Median wall time of the whole model with the nodes' session options. */
  totalMs: number;
  /** What onnxruntime's profiler gave, summed per run (median), before scaling. */
  kernelMs: number;
  runs: number;
}

/**
 * Time of every compute node on this machine. Onnxruntime's profiler times each node of the
 * unoptimised graph (so every compute node keeps its name); the medians are then scaled to the
 * median wall time of the model as nodes run it (graph optimisations on): fusions shift time
 * between nodes, which this proportional share cannot see.
 */
export async function profileNodes(
  model: OnnxModel,
  graph: ComputeGraph,
  shapes: Readonly<Record<string, number[]>>,
  runs = 10,
): Promise<MeasuredProfile> {
  const o = await ort();
  const named: OnnxModel = { ...model, graph: { ...model.graph, nodes: [...model.graph.nodes] } };
  for (const n of graph.nodes) named.graph.nodes[n.index] = { ...named.graph.nodes[n.index], name: n.name };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'yb-split-profile-'));
  const feeds = sampleFeeds(o, model, shapes);
  try {
    const profiled = await o.InferenceSession.create(encodeModel(named), {
      ...SESSION,
      graphOptimizationLevel: 'disabled',
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'profile'),
    });
    await profiled.run(feeds); // warm-up, not counted below
    for (let k = 0; k < runs; k++) await profiled.run(feeds);
    profiled.endProfiling();
    await profiled.release();
    const file = (await readdir(dir)).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    const events = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as {
      cat?: string;
      name?: string;
      dur?: number;
    }[];
    const perNode = new Map<string, number[]>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      const list = perNode.get(name) ?? [];
      list.push((e.dur ?? 0) / 1000);
      perNode.set(name, list);
    }
    const kernel: Record<string, number> = {};
    for (const n of graph.nodes) {
      // The first event of each node is the warm-up run.
      const times = (perNode.get(n.name) ?? []).slice(1);
      kernel[n.name] = median(times);
    }
    const kernelMs = Object.values(kernel).reduce((a, b) => a + b, 0);
    const session = await o.InferenceSession.create(encodeModel(model), { ...SESSION, graphOptimizationLevel: 'all' });
    await session.run(feeds);
    const walls: number[] = [];
    for (let k = 0; k < runs; k++) {
      const t0 = performance.now();
      await session.run(feeds);
      walls.push(performance.now() - t0);
    }
    await session.release();
    const totalMs = median(walls);
    const scale = kernelMs > 0 ? totalMs / kernelMs : 0;
    const nodes: Record<string, number> = {};
    for (const n of graph.nodes) nodes[n.name] = kernelMs > 0 ? kernel[n.name] * scale : totalMs / graph.nodes.length;
    return { nodes, totalMs, kernelMs, runs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** float32 → float16 → float32 (round to nearest even, subnormals and overflow to ±Infinity). */
export function roundToFloat16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a >= 65520) return sign * Infinity;
  const exp = Math.max(Math.floor(Math.log2(a)), -14);
  const step = 2 ** (exp - 10);
  const q = a / step;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1; // ties to even
  return sign * r * step;
}

/**
 * A float32 tensor's values as they arrive after a lossy transfer: what the wire form of
 * `@yunbian/inference` carries (float16; int8 per-tensor affine over the range widened to 0),
 * so a plan's `lossyCost` measures what a split step sends.
 */
export function narrow(values: Float32Array, mode: SplitLossyMode): Float32Array {
  return narrowTo(values, mode);
}

export interface SplitComparison {
  cut: string;
  /** Largest |full − head+tail| over every output value and sample. */
  maxAbsDiff: number;
  /** Share of rows whose arg-max (last axis of the first output) agrees. */
  top1Agreement: number;
  samples: number;
}

/**
 * Runs the full model and head + tail on the same inputs and compares the outputs; with
 * `lossy`, the float32 tensors crossing the cut are narrowed on the way, as they would be sent.
 */
export async function compareSplit(
  model: OnnxModel,
  graph: ComputeGraph,
  cut: Cut,
  sizes: TensorSizes,
  feedsList: readonly Record<string, Ort.Tensor>[],
  lossy: false | SplitLossyMode = false,
  options: { full?: Ort.InferenceSession; session?: Ort.InferenceSession.SessionOptions } = {},
): Promise<SplitComparison> {
  const o = await ort();
  const parts = splitModel(model, graph, cut, sizes);
  const sessionOptions = { ...SESSION, ...options.session };
  const full = options.full ?? (await o.InferenceSession.create(encodeModel(model), sessionOptions));
  const head = parts.head ? await o.InferenceSession.create(encodeModel(parts.head), sessionOptions) : undefined;
  const tail = parts.tail ? await o.InferenceSession.create(encodeModel(parts.tail), sessionOptions) : undefined;
  let maxAbsDiff = 0;
  let rows = 0;
  let agree = 0;
  try {
    for (const feeds of feedsList) {
      const want = await full.run(feeds);
      const headOut = head ? await head.run(pick(feeds, head.inputNames)) : {};
      const got: Record<string, Ort.Tensor> = { ...headOut };
      if (tail) {
        const tailFeeds: Record<string, Ort.Tensor> = {};
        for (const name of tail.inputNames) {
          const t = headOut[name] ?? feeds[name];
          tailFeeds[name] =
            lossy && t.type === 'float32' ? new o.Tensor('float32', narrow(t.data as Float32Array, lossy), t.dims) : t;
        }
        Object.assign(got, await tail.run(tailFeeds));
      }
      for (const name of full.outputNames) {
        const a = want[name].data as Float32Array;
        const b = got[name]?.data as Float32Array | undefined;
        if (!b || b.length !== a.length)
          throw new Error(`cut ${cut.id}: output ${name} is missing or has another size`);
        for (let i = 0; i < a.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i] - b[i]));
      }
      const first = full.outputNames[0];
      const dims = want[first].dims;
      const width = dims[dims.length - 1] || 1;
      const a = want[first].data as Float32Array;
      const b = got[first].data as Float32Array;
      for (let r = 0; r < a.length / width; r++) {
        rows++;
        if (argmax(a, r * width, width) === argmax(b, r * width, width)) agree++;
      }
    }
  } finally {
    await head?.release();
    await tail?.release();
    if (!options.full) await full.release();
  }
  return { cut: cut.id, maxAbsDiff, top1Agreement: rows ? agree / rows : 1, samples: feedsList.length };
}

function pick(feeds: Record<string, Ort.Tensor>, names: readonly string[]): Record<string, Ort.Tensor> {
  return Object.fromEntries(names.map((n) => [n, feeds[n]]));
}

function argmax(values: Float32Array, from: number, width: number): number {
  let best = 0;
  for (let i = 1; i < width; i++) if (values[from + i] > values[from + best]) best = i;
  return best;
}
