/**
 * Footprint: resident memory (RSS, from /proc) of each kind of Yunbian process, against
 * what a 1–4 GB edge box can afford — an agent, a data-service worker in its own process
 * (idle json-transform), a shared worker with 1 and with 5 light instances, an inference
 * instance with a tiny model (its weights reported apart), and the whole `npm start` demo
 * stack after its demo has run. Medians of BENCH_SAMPLES fresh processes each.
 *
 *   npm run bench:footprint     # BENCH_SAMPLES=3; BENCH_DEMO=0 skips the demo stack
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { envInt, freePort, percentile, round, stopChild, waitUntil } from '@yunbian/common';
import type { InstanceRecord } from '@yunbian/contracts';
import { addBiasModel } from '@yunbian/models';
import { startBenchStack, type BenchStack } from './bench-stack';
import { apiFetch } from '../common/api-key';

const DIST = path.resolve(__dirname, '../..');
const ROOT = path.resolve(DIST, '..');
const SAMPLES = envInt('BENCH_SAMPLES', 3);
const DEMO = process.env.BENCH_DEMO !== '0';
/** The demo stack took 2.2 GB when this benchmark was written; the goal is half of that. */
const DEMO_STACK_BEFORE_MB = 2200;

const print = (line = '') => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => percentile(values, 50) ?? NaN;

/** RSS of one process in MiB (0 once it is gone). */
function rssMb(pid: number): number {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Median of a few reads of the summed RSS of `pids`, a moment apart (RSS settles after start). */
async function settledRss(pids: () => number[] | Promise<number[]>, reads = 3): Promise<number> {
  await sleep(1_500);
  const values: number[] = [];
  for (let i = 0; i < reads; i++) {
    const list = [...new Set(await pids())];
    values.push(list.reduce((sum, pid) => sum + rssMb(pid), 0));
    await sleep(400);
  }
  return median(values);
}

async function instancesOf(stack: BenchStack, nodeId: string): Promise<InstanceRecord[]> {
  return (await (await apiFetch(`${stack.api}/instances?node=${nodeId}`)).json()) as InstanceRecord[];
}

async function workerPids(stack: BenchStack, nodeId: string): Promise<number[]> {
  return (await instancesOf(stack, nodeId)).flatMap((i) => (i.pid ? [i.pid] : []));
}

/** Drains every instance of a node and waits until the catalogue has none left. */
async function clear(stack: BenchStack, nodeId: string): Promise<void> {
  for (const i of await instancesOf(stack, nodeId)) {
    await apiFetch(`${stack.api}/instances/${i.id}?drainTimeoutMs=2000`, { method: 'DELETE' });
  }
  await waitUntil(async () => (await instancesOf(stack, nodeId)).length === 0, 30_000, `${nodeId} to be empty`);
}

interface Figures {
  agentMb: number[];
  standaloneWorkerMb: number[];
  shared1Mb: number[];
  shared5Mb: number[];
  inferenceMb: number[];
  modelBytes: number;
}

async function measureNodes(): Promise<Figures> {
  // bench-solo runs every instance in its own process (YUNBIAN_SHARED_WORKER=0); bench-node
  // lets light services share a worker.
  const stack = await startBenchStack({ extraAgents: { 'bench-solo': { YUNBIAN_SHARED_WORKER: '0' } } });
  const figures: Figures = {
    agentMb: [],
    standaloneWorkerMb: [],
    shared1Mb: [],
    shared5Mb: [],
    inferenceMb: [],
    modelBytes: 0,
  };
  try {
    const model = addBiasModel(4);
    figures.modelBytes = model.length;
    await stack.post('/models?name=bench-tiny', model, 'application/octet-stream');
    for (let sample = 0; sample < SAMPLES; sample++) {
      figures.agentMb.push(await settledRss(() => [stack.agentPids['bench-node']]));
      figures.agentMb.push(await settledRss(() => [stack.agentPids['bench-solo']]));

      await stack.deploy('json-transform@^1', {}, 'bench-solo');
      figures.standaloneWorkerMb.push(await settledRss(() => workerPids(stack, 'bench-solo')));
      await clear(stack, 'bench-solo');

      await stack.deploy('onnx-inference@^1', { model: 'bench-tiny' }, 'bench-solo');
      figures.inferenceMb.push(await settledRss(() => workerPids(stack, 'bench-solo')));
      await clear(stack, 'bench-solo');

      await stack.deploy('json-transform@^1', {}, 'bench-node');
      figures.shared1Mb.push(await settledRss(() => workerPids(stack, 'bench-node')));
      for (let i = 0; i < 4; i++) await stack.deploy('json-transform@^1', {}, 'bench-node');
      figures.shared5Mb.push(await settledRss(() => workerPids(stack, 'bench-node')));
      await clear(stack, 'bench-node');
      print(
        `sample ${sample + 1}/${SAMPLES}: agents ${figures.agentMb
          .slice(-2)
          .map((v) => round(v, 1))
          .join(' / ')} MB, standalone worker ${round(figures.standaloneWorkerMb.at(-1)!, 1)} MB, ` +
          `inference ${round(figures.inferenceMb.at(-1)!, 1)} MB, workers of 1 / 5 light instances ` +
          `${round(figures.shared1Mb.at(-1)!, 1)} / ${round(figures.shared5Mb.at(-1)!, 1)} MB`,
      );
    }
  } finally {
    await stack.stop();
  }
  return figures;
}

/** Every descendant of `root` (its children, theirs…), from /proc. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** What a stack process is, from its command line and environment. */
function label(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const script = cmd.find((a) => a.endsWith('.js')) ?? cmd[0];
    if (/nats-server/.test(cmd[0])) return 'nats-server';
    if (script.includes('orchestrator/src/main.js')) return 'orchestrator';
    if (script.includes('agent/src/main.js'))
      return `agent ${path.basename(cmd[cmd.indexOf('--node') + 1] ?? '', '.yaml')}`;
    if (script.includes('worker/src/')) {
      return env.YUNBIAN_SERVICE ? `worker ${env.YUNBIAN_SERVICE}` : `shared worker ${env.YUNBIAN_NODE_ID ?? ''}`;
    }
    return path.basename(script);
  } catch {
    return `pid ${pid}`;
  }
}

/** `npm start`'s stack on free ports; RSS of every process once the demo has run. */
async function measureDemoStack(): Promise<{ totalMb: number; parts: [string, number][] }> {
  const port = await freePort();
  const stack = spawn(process.execPath, [path.join(DIST, 'tools/stack/main.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      YUNBIAN_NATS_PORT: String(await freePort()),
      YUNBIAN_NATS_MONITOR_PORT: String(await freePort()),
      YUNBIAN_AGENT_METRICS_PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const up = new Promise<void>((resolve, reject) => {
    stack.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('The stack is up')) resolve();
    });
    stack.once('exit', (code) =>
      reject(new Error(`the demo stack exited (${code}) before its demo ended:\n${output}`)),
    );
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      up,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the demo stack did not finish its demo in 10 minutes')), 600_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const totalMb = await settledRss(() => [stack.pid!, ...descendants(stack.pid!)], 5);
    const byLabel = new Map<string, number>();
    for (const pid of [stack.pid!, ...descendants(stack.pid!)]) {
      const name = pid === stack.pid ? 'stack (npm start)' : label(pid);
      byLabel.set(name, (byLabel.get(name) ?? 0) + rssMb(pid));
    }
    return { totalMb, parts: [...byLabel].sort((a, b) => b[1] - a[1]) };
  } finally {
    await stopChild(stack, 'SIGINT', 60_000);
  }
}

async function main(): Promise<void> {
  const f = await measureNodes();
  const perFurther = f.shared5Mb.map((v, i) => (v - f.shared1Mb[i]) / 4);
  const rows: [string, number, string, boolean | undefined][] = [
    ['agent (idle, no instances)', median(f.agentMb), '≤ 80 MB', median(f.agentMb) <= 80],
    [
      'data-service worker in its own process (idle json-transform)',
      median(f.standaloneWorkerMb),
      '≤ 90 MB',
      median(f.standaloneWorkerMb) <= 90,
    ],
    ['worker process(es) of 1 light instance (json-transform)', median(f.shared1Mb), '', undefined],
    ['worker process(es) of 5 light instances', median(f.shared5Mb), '', undefined],
    ['each further light instance ((5 − 1) ÷ 4)', median(perFurther), '≤ 10 MB', median(perFurther) <= 10],
    [
      `inference instance (onnx-inference, a ${f.modelBytes}-byte model: its weights not counted)`,
      median(f.inferenceMb),
      '',
      undefined,
    ],
  ];
  let demo: Awaited<ReturnType<typeof measureDemoStack>> | undefined;
  if (DEMO) {
    demo = await measureDemoStack();
    rows.push([
      'demo stack after its demo (sum over every process)',
      demo.totalMb,
      `≤ ${DEMO_STACK_BEFORE_MB / 2} MB`,
      demo.totalMb <= DEMO_STACK_BEFORE_MB / 2,
    ]);
  }
  print();
  print(`RSS, medians of ${SAMPLES} samples (fresh processes each)`);
  print(`${'figure'.padEnd(88)}${'MB'.padStart(8)}   goal       `);
  for (const [name, mb, goal, ok] of rows) {
    print(
      `${name.padEnd(88)}${round(mb, 1).toFixed(1).padStart(8)}   ${goal.padEnd(10)} ${ok === undefined ? '' : ok ? 'met' : 'NOT MET'}`,
    );
  }
  if (demo) {
    print();
    print('demo stack by process (MB)');
    for (const [name, mb] of demo.parts) print(`  ${name.padEnd(40)}${round(mb, 1).toFixed(1).padStart(8)}`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:footprint failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
