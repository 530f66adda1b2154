import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CompressionJob, DatasetMeta, NodeClassLatency } from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(120_000);

const CLOUD = readFileSync(path.join(ROOT, 'models/digits/digits-cloud.onnx'));

/**
 * Registry → datasets → compression → profiling on a CPU-limited node, across real processes:
 * nats-server, the orchestrator and one agent as the "device" class (0.25 core, enforced by a
 * cgroup where this machine allows it).
 */
describe('compressing a registered model into a new version (real nats-server, orchestrator, agent)', () => {
  let cluster: TestCluster;
  const device = {
    id: `cmp-dev-${process.pid}`,
    site: 'factory',
    tier: 'device' as const,
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0.01,
    limits: { cpu: 0.25 },
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(device, { YUNBIAN_HEARTBEAT_MS: '500' });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('registers the held-out digits as a dataset, and refuses bad bodies saying what is accepted', async () => {
    const created = await cluster.call('POST', '/datasets', { source: 'digits', part: 'heldOut' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'digits-heldOut',
      privacy: 'public',
      labelled: true,
      count: 2_000,
      shape: [1, 28, 28],
      classes: 10,
      size: 2_000 * (4 * 784 + 1),
      source: { kind: 'digits', part: 'heldOut', from: 8_000, to: 10_000 },
    });
    const calibration = await cluster.call('POST', '/datasets', { source: 'digits', part: 'public', to: 500 });
    expect(calibration.status).toBe(201);
    expect(calibration.body.name).toBe('digits-public-0-500');
    expect((await cluster.get<DatasetMeta[]>('/datasets')).map((d) => d.name)).toEqual([
      'digits-heldOut',
      'digits-public-0-500',
    ]);

    const again = await cluster.call('POST', '/datasets', { source: 'digits', part: 'heldOut' });
    expect(again.status).toBe(409);
    const badPart = await cluster.call('POST', '/datasets', { source: 'digits', part: 'test' });
    expect(badPart.status).toBe(400);
    expect(badPart.body.message).toContain('/part must be one of "public", "edge", "heldOut"');
    const badRange = await cluster.call('POST', '/datasets', { source: 'digits', part: 'edge', from: 10, to: 5_000 });
    expect(badRange.status).toBe(400);
    expect(badRange.body.message).toContain('0 ≤ from < to ≤ 2000 within the edge part');
    // A raw upload whose length is not a whole number of samples.
    const raw = await cluster.fetch(`/datasets?name=odd&shape=1,28,28`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(3_000),
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { message: string }).message).toContain(
      'a labelled sample of [1, 28, 28] takes 3137 bytes',
    );
  });

  it('compresses digits-cloud to int8: a new version ≥ 3.5× smaller, within 0.5 points, profiled on the device', async () => {
    const upload = await cluster.fetch(`/models?name=digits-cloud`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: CLOUD,
    });
    expect(upload.status).toBe(201);
    const bad = await cluster.call('POST', '/models/digits-cloud/versions/1/compress', {
      recipe: 'int8',
      datasets: { validation: 'nope' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('/datasets/validation names "nope", which is not registered');

    const started = await cluster.call('POST', '/models/digits-cloud/versions/1/compress', {
      recipe: 'int8',
      datasets: { validation: 'digits-heldOut', calibration: 'digits-public-0-500' },
      options: { nodeClasses: ['device', 'edge'], batchSize: 64 },
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const job = await cluster.waitFor(
      async () => {
        const j = await cluster.get<CompressionJob>(`/compressions/${id}`);
        return j.status !== 'running' ? j : undefined;
      },
      90_000,
      'the compression job',
    );
    expect(job.error).toBeUndefined();
    expect(job).toMatchObject({ status: 'succeeded', result: { name: 'digits-cloud', version: 2 } });

    const meta = await cluster.get<ModelMeta>('/models/digits-cloud/versions/2');
    expect(meta.derivedFrom).toEqual({ name: 'digits-cloud', version: 1, recipe: 'int8' });
    const report = meta.compression!;
    expect(report.parent.bytes).toBe(CLOUD.length);
    expect(report.compressed.bytes).toBe(meta.size);
    expect(report.sizeRatio).toBeGreaterThanOrEqual(3.5);
    expect(Math.abs(report.accuracyDeltaPoints)).toBeLessThanOrEqual(0.5);
    expect(report.parent.accuracy).toBeGreaterThan(0.97);
    expect(report.validation).toEqual({ dataset: 'digits-heldOut', samples: 2_000, privacy: 'public' });
    expect(report.kernels?.['com.microsoft:QLinearConv']).toBe(2);
    expect(report.kernels?.['com.microsoft:QGemm']).toBe(2);

    const byClass = Object.fromEntries(report.latency.map((l) => [l.nodeClass, l])) as Record<string, NodeClassLatency>;
    expect(byClass.edge).toEqual({
      nodeClass: 'edge',
      measured: false,
      reason: 'not measured: no live node of class edge',
    });
    const onDevice = byClass.device;
    if (!onDevice.measured) throw new Error(`device not measured: ${onDevice.reason}`);
    expect(onDevice).toMatchObject({ nodeId: device.id, cpu: 0.25 });
    for (const figures of [onDevice.parent, onDevice.compressed]) {
      expect(figures.map((f) => f.batch)).toEqual([1, 64]);
      for (const f of figures) expect(f.medianMs).toBeGreaterThan(0);
    }
    // Only a wide margin on a loaded machine: a model that dequantized its weights at run
    // time instead of running int8 kernels would be several times slower.
    expect(onDevice.speedup['1']).toBeGreaterThan(0.5);
    expect(onDevice.speedup['64']).toBeGreaterThan(0.5);
    process.stdout.write(
      `compression e2e: ${report.parent.bytes} → ${report.compressed.bytes} bytes (${report.sizeRatio}×), accuracy ${report.parent.accuracy} → ${report.compressed.accuracy}, device (${onDevice.cpu} core, enforced ${onDevice.cpuEnforced}) ${JSON.stringify(onDevice.parent)} vs ${JSON.stringify(onDevice.compressed)}\n`,
    );
  });
  it('writes derived versions with prune, structured pruning (fine-tuned) and distillation (teacher-labelled data)', async () => {
    const run = async (recipe: string, datasets: Record<string, string>, options: Record<string, unknown>) => {
      const started = await cluster.call('POST', '/models/digits-cloud/versions/1/compress', {
        recipe,
        datasets,
        options: { ...options, nodeClasses: [] },
      });
      expect(started.status).toBe(202);
      return cluster.waitFor(
        async () => {
          const j = await cluster.get<CompressionJob>(`/compressions/${started.body.id as string}`);
          return j.status !== 'running' ? j : undefined;
        },
        60_000,
        `the ${recipe} job`,
      );
    };
    const unlabelled = await cluster.call('POST', '/datasets', {
      source: 'digits',
      part: 'edge',
      labelled: false,
    });
    expect(unlabelled.body).toMatchObject({
      name: 'digits-edge-unlabelled',
      privacy: 'edge-private',
      labelled: false,
    });

    const pruned = await run('prune', { validation: 'digits-heldOut' }, { sparsity: 0.8 });
    expect(pruned.error).toBeUndefined();
    expect(pruned.report!.compressed.gzipBytes).toBeLessThan(0.6 * pruned.report!.parent.gzipBytes);
    expect(pruned.report!.latency).toEqual([]);

    const structured = await run(
      'structured',
      { validation: 'digits-heldOut', training: 'digits-public-0-500' },
      { keep: 0.5, epochs: 1 },
    );
    expect(structured.error).toBeUndefined();
    expect(structured.report!.details).toMatchObject({ architecture: { conv: [16, 32], dense: [64] }, epochs: 1 });
    expect(structured.report!.compressed.parameters).toBeLessThan(structured.report!.parent.parameters / 3);
    // Chance is 10 %; one epoch on 500 digits brings the pruned CNN back far above it.
    expect(structured.report!.compressed.accuracy).toBeGreaterThan(0.8);

    const distilled = await run(
      'distill',
      { validation: 'digits-heldOut', training: 'digits-edge-unlabelled' },
      { student: { conv: [4, 8], dense: [] }, epochs: 3 },
    );
    expect(distilled.error).toBeUndefined();
    expect(distilled.report!.datasets.training).toEqual({
      name: 'digits-edge-unlabelled',
      privacy: 'edge-private',
      samples: 2_000,
    });
    expect(distilled.report!.compressed.parameters).toBe(2_346);
    // The tiny student learns from the teacher's labels alone (chance is 10 %).
    expect(distilled.report!.compressed.accuracy).toBeGreaterThan(0.6);
    const versions = (await cluster.get<{ versions: ModelMeta[] }>('/models/digits-cloud')).versions;
    expect(versions.map((v) => v.derivedFrom?.recipe ?? 'upload')).toEqual([
      'upload',
      'int8',
      'prune',
      'structured',
      'distill',
    ]);
    process.stdout.write(
      `compression e2e: prune ${JSON.stringify(pruned.report!.compressed)}, structured ${JSON.stringify(structured.report!.compressed)}, distill ${JSON.stringify(distilled.report!.compressed)}\n`,
    );
  });
});
