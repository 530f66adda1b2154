/**
 * Child process of split planning: everything that runs onnxruntime (tensor sizes, a per-node
 * profile of this machine, the cost of a lossy transfer) runs here, apart from the
 * orchestrator, so a model that makes onnxruntime abort, hang or eat memory cannot take the
 * API down; the parent bounds its time and memory (see split-child.ts).
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { SplitLossyCost, SplitLossyMode } from '@yunbian/contracts';
import { decodeModel } from '@yunbian/onnx';
import {
  compareSplit,
  computeGraph,
  cutFromId,
  measureTensorSizes,
  profileNodes,
  sampleFeeds,
  type MeasuredProfile,
  type TensorSizes,
} from '@yunbian/split';

export type SplitChildRequest =
  | { kind: 'sizes'; file: string; inputShape: Record<string, number[]> }
  | { kind: 'profile'; file: string; inputShape: Record<string, number[]>; runs: number }
  | {
      kind: 'lossy';
      file: string;
      inputShape: Record<string, number[]>;
      cut: string;
      mode: SplitLossyMode;
      samples: number;
    };

export type SplitChildReply =
  { ok: true; sizes?: TensorSizes; profile?: MeasuredProfile; lossy?: SplitLossyCost } | { ok: false; error: string };

async function handle(request: SplitChildRequest): Promise<SplitChildReply> {
  const model = decodeModel(await readFile(request.file));
  const graph = computeGraph(model);
  if (request.kind === 'sizes') return { ok: true, sizes: await measureTensorSizes(model, graph, request.inputShape) };
  if (request.kind === 'profile')
    return { ok: true, profile: await profileNodes(model, graph, request.inputShape, request.runs) };
  const sizes = await measureTensorSizes(model, graph, request.inputShape);
  const feeds = Array.from({ length: request.samples }, (_, i) => sampleFeeds(ort, model, request.inputShape, 101 + i));
  const result = await compareSplit(model, graph, cutFromId(graph, request.cut), sizes, feeds, request.mode);
  return {
    ok: true,
    lossy: {
      mode: request.mode,
      samples: request.samples,
      sampleSource: `${request.samples} pseudo-random inputs, uniform in [0, 1), not real data`,
      maxAbsDiff: result.maxAbsDiff,
      top1Agreement: result.top1Agreement,
    },
  };
}

process.once('message', (request: SplitChildRequest) => {
  void handle(request)
    .catch((err: Error): SplitChildReply => ({ ok: false, error: err.message }))
    .then((reply) => process.send?.(reply, () => process.exit(0)));
});
