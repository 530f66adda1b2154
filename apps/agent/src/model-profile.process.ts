/**
 * Child process of the agent: loads ONNX files with onnxruntime-node (the nodes' session
 * options) and times them, in the cgroup the agent put it in (the node's CPU limit). Models
 * take turns run by run, so whatever else loads the machine slows all of them alike.
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { MODEL_SESSION_OPTIONS } from '@yunbian/inference';
import type { LatencyFigure, ProfileModelsReply } from '@yunbian/contracts';
import { decodeModel } from '@yunbian/onnx';
import { computeGraph, profileNodes } from '@yunbian/split';
import { latencyFigure, sampleFeed } from './profile-figures';

export interface ProfileJob {
  files: { label: string; file: string }[];
  batchSizes: number[];
  runs: Record<string, number>;
  warmup: number;
  /** Per-compute-node times for split planning instead of latencies (see `ProfileModelsRequest.nodeTimes`). */
  nodeTimes?: { inputShape: Record<string, number[]>; runs: number };
}

export type ProfileJobReply =
  | { ok: true; results: Record<string, LatencyFigure[]>; nodeTimes?: ProfileModelsReply['nodeTimes'] }
  | { ok: false; error: string };

/** Each model's compute nodes timed by onnxruntime's profiler, one model after the other. */
async function profileComputeNodes(
  job: ProfileJob,
  spec: NonNullable<ProfileJob['nodeTimes']>,
): Promise<ProfileJobReply> {
  try {
    const nodeTimes: NonNullable<ProfileModelsReply['nodeTimes']> = {};
    for (const { label, file } of job.files) {
      const model = decodeModel(await readFile(file));
      const measured = await profileNodes(model, computeGraph(model), spec.inputShape, spec.runs);
      nodeTimes[label] = { nodes: measured.nodes, totalMs: measured.totalMs, runs: measured.runs };
    }
    return { ok: true, results: {}, nodeTimes };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function profile(job: ProfileJob): Promise<ProfileJobReply> {
  if (job.nodeTimes) return profileComputeNodes(job, job.nodeTimes);
  const sessions: { label: string; session: ort.InferenceSession }[] = [];
  try {
    for (const { label, file } of job.files)
      sessions.push({ label, session: await ort.InferenceSession.create(file, MODEL_SESSION_OPTIONS) });
    const results: Record<string, LatencyFigure[]> = Object.fromEntries(job.files.map((f) => [f.label, []]));
    for (const batch of job.batchSizes) {
      const feeds = sessions.map(({ label, session }) => {
        const meta = session.inputMetadata;
        return sampleFeed(
          label,
          meta.map((m) => ({
            name: m.name,
            type: m.isTensor ? m.type : 'non-tensor',
            shape: m.isTensor ? m.shape : [],
          })),
          batch,
        );
      });
      const toOrt = (f: ReturnType<typeof sampleFeed>) =>
        Object.fromEntries(Object.entries(f).map(([n, t]) => [n, new ort.Tensor('float32', t.data, t.dims)]));
      const ortFeeds = feeds.map(toOrt);
      for (let i = 0; i < job.warmup; i++)
        for (let s = 0; s < sessions.length; s++) await sessions[s].session.run(ortFeeds[s]);
      const runs = job.runs[String(batch)] ?? 50;
      const times = sessions.map(() => [] as number[]);
      for (let r = 0; r < runs; r++) {
        for (let s = 0; s < sessions.length; s++) {
          const started = process.hrtime.bigint();
          await sessions[s].session.run(ortFeeds[s]);
          times[s].push(Number(process.hrtime.bigint() - started) / 1e6);
        }
      }
      sessions.forEach(({ label }, s) => results[label].push(latencyFigure(batch, times[s])));
    }
    return { ok: true, results };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    for (const { session } of sessions) await session.release().catch(() => undefined);
  }
}

process.once('message', (job: ProfileJob) => {
  void profile(job).then((reply) => process.send?.(reply, () => process.exit(0)));
});
