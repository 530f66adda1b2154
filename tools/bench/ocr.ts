/**
 * OCR end to end: the same generated corpus through (a) @gutenye/ocr-node in this process
 * (the monolithic reference), (b) the `ocr` workflow (regions → recognise per box → lines)
 * and (c) the `ocr-steps` workflow (every step its own service) on a local stack
 * (nats-server, the orchestrator, one agent, every service a worker process), started over
 * NATS. Prints p50/p99 latency at concurrency 1, images/s at concurrency 8, the ratios, and
 * where a run of (b) and (c) spends its time (median per step, from the run records).
 *
 *   npm run bench:ocr     # BENCH_OCR_IMAGES (default 20), BENCH_OCR_ROUNDS (2), BENCH_OCR_STEPS=0 skips (c),
 *                         # BENCH_OCR_CONFIG='{"ocr-recognise":{"maxParallel":1}}' instance configs,
 *                         # BENCH_OCR_INSTANCES='{"ocr-regions":2}' instances per service (default 1)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envInt, percentile, round } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { createReferenceEngine } from '../../libs/ocr/src/evaluation/reference';
import { generateCorpus } from '../corpus/corpus';
import { OCR_SERVICES, OCR_STEP_SERVICES, registerOcrModels } from '../stack/demo';
import { startBenchStack } from './bench-stack';
import { apiFetch } from '../common/api-key';

const ROOT = path.resolve(__dirname, '../../..');
const IMAGES = envInt('BENCH_OCR_IMAGES', 20);
const ROUNDS = envInt('BENCH_OCR_ROUNDS', 2);
const WITH_STEPS = process.env.BENCH_OCR_STEPS !== '0';
const CONFIGS = JSON.parse(process.env.BENCH_OCR_CONFIG ?? '{}') as Record<string, Record<string, unknown>>;
const INSTANCES = JSON.parse(process.env.BENCH_OCR_INSTANCES ?? '{}') as Record<string, number>;

interface RunReply {
  id: string;
  status: string;
  error?: { message: string };
}

interface RunDetail {
  steps: { id: string; history: { startedAt?: string; finishedAt?: string }[] }[];
}

interface Variant {
  label: string;
  read: (png: Buffer) => Promise<unknown>;
  /** c=1 latencies and c=8 images/seconds, pooled over rounds. */
  latencies: number[];
  /** images/s at c=8, per round. */
  rates: number[];
  images: number;
  seconds: number;
  runIds: string[];
}

/** Reads every image with `concurrency` readers; returns each latency and the wall time. */
async function measure(images: Buffer[], concurrency: number, read: (png: Buffer) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < images.length) {
        const png = images[next++];
        const started = performance.now();
        await read(png);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const print = (line = '') => process.stdout.write(line + '\n');
  const corpus = await generateCorpus({ count: IMAGES });
  const images = corpus.map((c) => c.png);
  const variant = (label: string, read: Variant['read']): Variant => ({
    label,
    read,
    latencies: [],
    rates: [],
    images: 0,
    seconds: 0,
    runIds: [],
  });

  const reference = await createReferenceEngine();
  const variants = [variant('(a) @gutenye/ocr-node, in process', (png) => reference.detect(png))];
  const stack = await startBenchStack();
  const { transport } = stack;
  const stepTimes = new Map<string, Map<string, number[]>>();
  try {
    await registerOcrModels(stack.api, ROOT, () => undefined);
    const services = new Set([...OCR_SERVICES, ...(WITH_STEPS ? OCR_STEP_SERVICES : [])]);
    for (const service of services) {
      for (let i = 0; i < (INSTANCES[service] ?? 1); i++) await stack.deploy(service, CONFIGS[service]);
    }
    const workflows: [string, string][] = [
      ['(b) ocr workflow, 3 services', 'workflows/ocr.yaml'],
      ...(WITH_STEPS
        ? [['(c) ocr-steps workflow, 6 services', 'docs/examples/ocr-steps.yaml'] as [string, string]]
        : []),
    ];
    for (const [label, file] of workflows) {
      const definition = readFileSync(path.join(ROOT, file), 'utf8');
      const name = /^name:\s*(\S+)/m.exec(definition)![1];
      await stack.post('/workflows', definition, 'application/yaml');
      const read = async (png: Buffer) => {
        const run = await transport.request<RunReply>(
          Subjects.workflowRun,
          { workflow: name, input: { image: png.toString('base64') }, waitMs: 60_000 },
          { timeoutMs: 70_000 },
        );
        if (run.status !== 'succeeded') throw new Error(`${name} run ${run.status}: ${run.error?.message}`);
        return run;
      };
      variants.push(variant(label, read));
    }
    for (const v of variants) for (const png of images.slice(0, 2)) await v.read(png);

    // Rounds alternate the order, so drift on a shared machine falls on every variant alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
        const c1 = await measure(images, 1, async (png) => {
          const run = await v.read(png);
          if (run && typeof run === 'object' && 'id' in run) v.runIds.push(String(run.id));
        });
        v.latencies.push(...c1.latencies);
        const c8 = await measure(images, 8, v.read);
        v.images += images.length;
        v.seconds += c8.seconds;
        v.rates.push(images.length / c8.seconds);
      }
    }
    // Per-step wall time (first attempt started → last finished), from the run records.
    for (const v of variants.slice(1)) {
      const times = new Map<string, number[]>();
      stepTimes.set(v.label, times);
      for (const id of v.runIds) {
        const run = (await (await apiFetch(`${stack.api}/runs/${id}`)).json()) as RunDetail;
        for (const step of run.steps) {
          const attempts = step.history.filter((a) => a.startedAt && a.finishedAt);
          if (attempts.length === 0) continue;
          const start = Math.min(...attempts.map((a) => Date.parse(a.startedAt!)));
          const end = Math.max(...attempts.map((a) => Date.parse(a.finishedAt!)));
          if (!times.has(step.id)) times.set(step.id, []);
          times.get(step.id)!.push(end - start);
        }
      }
    }
  } finally {
    await stack.stop();
  }

  const ref = variants[0];
  const p50 = (v: Variant) => percentile(v.latencies, 50)!;
  const rate = (v: Variant) => v.images / v.seconds;
  print(`OCR on ${IMAGES} generated images (PP-OCRv4), ${ROUNDS} rounds, one machine`);
  print(`${''.padEnd(38)}c=1 p50    c=1 p99    c=8 images/s   ratio p50 | images/s`);
  for (const v of variants) {
    print(
      `${v.label.padEnd(38)}${`${round(p50(v), 1)} ms`.padEnd(11)}${`${round(percentile(v.latencies, 99)!, 1)} ms`.padEnd(11)}` +
        `${String(round(rate(v), 2)).padEnd(15)}${round(p50(v) / p50(ref), 2)} | ${round(rate(v) / rate(ref), 2)}`,
    );
  }
  print('targets for (b)/(a): latency p50 ≤ 1.15, throughput ≥ 1.0');
  for (const v of variants.slice(1)) {
    const ratios = v.rates.map((r, i) => round(r / ref.rates[i], 2));
    print(`${v.label}: c=8 throughput ratio per round ${ratios.join(', ')}`);
  }
  for (const [label, times] of stepTimes) {
    const parts = [...times].map(([step, ms]) => `${step} ${round(percentile(ms, 50)!, 1)} ms`);
    print(`${label} at c=1, median step wall time: ${parts.join(', ')}`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:ocr failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
