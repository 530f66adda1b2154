import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Objm } from '@nats-io/obj';
import { freePort } from '@yunbian/common';
import { TRAINING_CHECKPOINT_BUCKET, type InstanceRecord, type TrainingResult } from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(150_000);

interface RunView {
  id: string;
  status: string;
  error?: { code: string; message: string };
  output?: TrainingResult;
  steps: { id: string; history: { instance?: string; error?: { message: string } }[] }[];
}

/**
 * The training service across real processes: nats-server, the orchestrator (registry) and
 * one agent whose two training instances are worker processes running tfjs. A small model
 * (the committed edge digits CNN, 5.3 K parameters) on a few thousand digits keeps it short.
 */
describe('training as a service (real nats-server, orchestrator, agent, tfjs workers)', () => {
  let cluster: TestCluster;
  let metricsPort: number;
  let instances: InstanceRecord[];
  const node = 'trainer-1';

  const agentLog = () => readFileSync(path.join(cluster.logDir, `${node}.log`), 'utf8');
  const workflow = (name: string, input: unknown) =>
    cluster.call('POST', '/workflows', {
      name,
      steps: [
        {
          id: 'train',
          service: 'training',
          input,
          timeoutMs: 120_000,
          retry: { maxAttempts: 3, initialDelayMs: 500 },
        },
      ],
      output: '$steps.train.output',
    });
  const waitRun = (id: string, ms: number) =>
    cluster.waitFor(
      async () => {
        const run = await cluster.get<RunView>(`/runs/${id}`);
        return run.status !== 'running' && run.status !== 'pending' ? run : undefined;
      },
      ms,
      `run ${id} to finish`,
    );

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    metricsPort = await freePort();
    cluster.startAgent(
      { id: node, site: 'cloud', tier: 'cloud', cpuCores: 2, memoryMb: 8192, costPerHour: 1 },
      { YUNBIAN_HEARTBEAT_MS: '500', YUNBIAN_METRICS_PORT: String(metricsPort) },
    );
    await cluster.waitFor(async () => (await cluster.node(node))?.status === 'alive', 20_000, 'the agent');
    const upload = await cluster.fetch(`/models?name=digits-edge`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(path.join(ROOT, 'models/digits/digits-edge.onnx')),
    });
    expect(upload.status).toBe(201);
    instances = [await cluster.deploy('training', node), await cluster.deploy('training', node)];
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('fine-tunes a registered version and registers the result with its lineage and metrics', async () => {
    expect(
      (
        await workflow('fine-tune', {
          base: 'digits-edge@1',
          training: [{ digits: { part: 'public', from: 0, to: 1_000 } }],
          validation: { digits: { part: 'heldOut', to: 1_000 } },
          hyperParameters: { epochs: 2, learningRate: 5e-4, seed: 3 },
          register: 'digits-edge-tuned',
        })
      ).status,
    ).toBe(201);
    const { body } = await cluster.call('POST', '/workflows/fine-tune/runs', { input: {} });
    // Two epochs of the 57 K-parameter edge model on 1,000 digits, then validation: ≈ 15 s an epoch
    // on a loaded machine; the wait leaves room for a machine loaded more.
    const run = await waitRun((body as unknown as RunView).id, 150_000);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    const result = run.output!;
    expect(result.model).toMatchObject({ name: 'digits-edge-tuned', version: 1 });
    expect(result.epochsRun).toBe(2);

    const meta = await cluster.get<ModelMeta>('/models/digits-edge-tuned/versions/1');
    expect(meta.sha256).toBe(result.model.sha256);
    const lineage = meta.training!;
    expect(lineage.parent).toMatchObject({ name: 'digits-edge', version: 1 });
    expect(lineage.architecture).toEqual({ conv: [16, 32], dense: [64] });
    expect(lineage.datasets.training).toEqual([
      { label: 'digits public [0, 1000)', privacy: 'public', count: 1_000, digits: { from: 0, to: 1_000 } },
    ]);
    expect(lineage.datasets.validation).toMatchObject({ label: 'digits heldOut [8000, 9000)', count: 1_000 });
    expect(lineage.hyperParameters).toEqual({ epochs: 2, learningRate: 5e-4, batchSize: 64, seed: 3 });
    expect(lineage.metrics.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    // The committed edge model is 97.85 % on all 2,000 held-out digits; a short fine-tune on
    // data it has seen stays near it (a broken export or evaluation would be near 10 %).
    expect(lineage.metrics.parentValidationAccuracy).toBeGreaterThan(0.9);
    expect(lineage.metrics.validationAccuracy).toBeGreaterThan(0.9);
    expect(lineage.resumedFromEpoch).toBe(0);
    expect(lineage.node).toBe(node);
    // The staged bytes were taken by the registry; the finished step's checkpoint is gone.
    const client = await cluster.client();
    const checkpoints = await new Objm(client.jetstream()).open(TRAINING_CHECKPOINT_BUCKET);
    const left: string[] = [];
    for (const info of await checkpoints.list()) left.push(info.name);
    expect(left.filter((n) => n.startsWith(run.id))).toEqual([]);

    // Progress shows in the node's metrics (the worker reports its registry to the agent).
    const text = await cluster.waitFor(
      async () => {
        const page = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return /yunbian_training_accuracy\{[^}]*set="validation"/.test(page) ? page : undefined;
      },
      10_000,
      'training metrics on the agent',
    );
    expect(text).toMatch(/yunbian_training_epochs_total\{model="digits-edge-tuned",node="trainer-1"\} 2/);
    expect(text).toMatch(/yunbian_training_accuracy\{[^}]*model="digits-edge-tuned"[^}]*set="validation"[^}]*\} 0\.9/);
  }, 240_000);

  it('refuses a request it cannot train, saying where and what is accepted', async () => {
    await workflow('bad-train', {
      architecture: 'edge',
      base: 'digits-edge@1',
      training: [{ digits: { part: 'edge', share: { index: 3, of: 2 } } }],
      validation: { digits: { part: 'heldOut' } },
      register: 'never',
    });
    const { body } = await cluster.call('POST', '/workflows/bad-train/runs', { input: {} });
    const run = await waitRun((body as unknown as RunView).id, 30_000);
    expect(run.status).toBe('failed');
    expect(run.error!.message).toContain('/base give exactly one of base');
    expect(run.error!.message).toContain('/training/0/digits/share must be { index, of }');
  });

  it('resumes from its checkpoint when the worker is killed -9 mid-epoch, and runs the requested epochs in all', async () => {
    const epochs = 5;
    await workflow('resume', {
      // Given by its layers: the named edge architecture (57 K parameters) has epochs several times longer.
      architecture: { conv: [8, 16], dense: [] },
      training: [{ digits: { part: 'public', from: 0, to: 3_000 } }],
      validation: { digits: { part: 'heldOut', to: 1_000 } },
      hyperParameters: { epochs, seed: 9 },
      register: 'digits-resumed',
    });
    const logBefore = agentLog().length;
    const { body } = await cluster.call('POST', '/workflows/resume/runs', { input: {} });
    const runId = (body as unknown as RunView).id;
    // After the second epoch's checkpoint is stored (not only the epoch's end: its write may
    // still be in flight then), during the third epoch.
    await cluster.waitFor(
      async () => agentLog().slice(logBefore).includes('"msg":"checkpoint of epoch 2 stored"'),
      90_000,
      "the second epoch's checkpoint",
    );
    const running = await cluster.get<RunView>(`/runs/${runId}`);
    const victimId = running.steps[0].history[0].instance!;
    const victim = await cluster.get<InstanceRecord>(`/instances/${victimId}`);
    expect(instances.map((i) => i.id)).toContain(victimId);
    process.kill(victim.pid!, 'SIGKILL');

    const run = await waitRun(runId, 120_000);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('succeeded');
    const history = run.steps[0].history;
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history[0].error!.message).toContain(victimId);
    const result = run.output!;
    const from = result.lineage.resumedFromEpoch;
    expect(from).toBeGreaterThanOrEqual(2);
    expect(from).toBeLessThan(epochs);
    expect(result.epochsRun).toBe(epochs - from);
    // Every epoch once: those of the killed worker from the checkpoint, the rest run after it.
    expect(result.lineage.metrics.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5]);
    const log = agentLog().slice(logBefore);
    expect(log).toContain(`"msg":"resumed from epoch ${from}"`);
    expect(log).toContain('"msg":"epoch 5 of 5"');
    // Trained from scratch, 5 epochs on 3,000 digits: well above chance.
    expect(result.lineage.metrics.validationAccuracy).toBeGreaterThan(0.85);
    const meta = await cluster.get<ModelMeta>('/models/digits-resumed/versions/1');
    expect(meta.training!.resumedFromEpoch).toBe(from);
    // Training yields between batches (≈ 0.1 s each here): the event loop is never held for
    // an epoch (≈ 9 s here), so the worker's NATS connection and IPC keep being served.
    expect(result.eventLoopMaxMs).toBeLessThan(3_000);
  });
});
