/**
 * OCR end to end: the same generated corpus through (a) @gutenye/ocr-node in this process
 * (the monolithic reference) and (b) the `ocr` workflow on a local stack (nats-server, the
 * orchestrator, one agent, every OCR step a worker process), started over NATS. Prints
 * p50/p99 latency at concurrency 1 and images/s at concurrency 8, and the ratios.
 *
 *   npm run bench:ocr          # BENCH_OCR_IMAGES (default 20)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envInt, percentile, round } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { createReferenceEngine } from '../../libs/ocr/src/evaluation/reference';
import { generateCorpus } from '../corpus/corpus';
import { OCR_SERVICES, registerOcrModels } from '../stack/demo';
import { startBenchStack } from './bench-stack';

const ROOT = path.resolve(__dirname, '../../..');
const IMAGES = envInt('BENCH_OCR_IMAGES', 20);

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
  const seconds = (performance.now() - t0) / 1000;
  return { p50: percentile(latencies, 50)!, p99: percentile(latencies, 99)!, perSecond: images.length / seconds };
}

async function main(): Promise<void> {
  const print = (line = '') => process.stdout.write(line + '\n');
  const corpus = await generateCorpus({ count: IMAGES });
  const images = corpus.map((c) => c.png);

  const reference = await createReferenceEngine();
  const readReference = (png: Buffer) => reference.detect(png);
  await readReference(images[0]);
  const refC1 = await measure(images, 1, readReference);
  const refC8 = await measure(images, 8, readReference);

  const stack = await startBenchStack();
  const { transport } = stack;
  try {
    await registerOcrModels(stack.api, ROOT, () => undefined);
    for (const service of OCR_SERVICES) await stack.deploy(service);
    await stack.post('/workflows', readFileSync(path.join(ROOT, 'workflows/ocr.yaml'), 'utf8'), 'application/yaml');
    const readWorkflow = async (png: Buffer) => {
      const run = await transport.request<{ status: string; error?: { message: string } }>(
        Subjects.workflowRun,
        { workflow: 'ocr', input: { image: png.toString('base64') }, waitMs: 60_000 },
        { timeoutMs: 70_000 },
      );
      if (run.status !== 'succeeded') throw new Error(`ocr run ${run.status}: ${run.error?.message}`);
    };
    await readWorkflow(images[0]);
    const wfC1 = await measure(images, 1, readWorkflow);
    const wfC8 = await measure(images, 8, readWorkflow);

    print(`OCR on ${IMAGES} generated images (PP-OCRv4), one machine`);
    print('                                   c=1 p50    c=1 p99    c=8 images/s');
    print(
      `(a) @gutenye/ocr-node, in process  ${round(refC1.p50, 1)} ms   ${round(refC1.p99, 1)} ms   ${round(refC8.perSecond, 2)}`,
    );
    print(
      `(b) ocr workflow, 6 services       ${round(wfC1.p50, 1)} ms   ${round(wfC1.p99, 1)} ms   ${round(wfC8.perSecond, 2)}`,
    );
    print(
      `ratio (b)/(a): latency p50 ${round(wfC1.p50 / refC1.p50, 2)} (target ≤ 1.15), throughput ${round(wfC8.perSecond / refC8.perSecond, 2)} (target ≥ 1.0)`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:ocr failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
