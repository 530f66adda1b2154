import { createHash } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import type { InstanceRecord, ModelAlias } from '@yunbian/contracts';
import { fromWire, toWire, type WireTensor } from '@yunbian/inference';
import { canaryDraw } from '@yunbian/workflow';
import { addBiasModel, MODEL_ALIAS_BUCKET, modelAliasKey, type ModelMeta } from '@yunbian/models';
import { TestCluster } from './support/cluster';

jest.setTimeout(120_000);

/** Two versions of one real ONNX model: y = x + bias, bias 0…3 in version 1 and 100…103 in version 2. */
const V1 = addBiasModel(4, 0);
const V2 = addBiasModel(4, 100);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const CALLS = 200;

interface Attempt {
  instance?: string;
  model?: string;
  error?: { code: string; message: string };
}
interface RunView {
  id: string;
  status: string;
  error?: { code: string; message: string; details?: unknown };
  output?: { classify?: { outputs: { y: WireTensor } } };
  steps: { id: string; history: Attempt[] }[];
}

describe('model-addressed inference (real nats-server, orchestrator, agent, onnxruntime workers)', () => {
  let cluster: TestCluster;
  const byVersion: Record<number, string[]> = { 1: [], 2: [] };

  const upload = async (bytes: Buffer) => {
    const response = await cluster.fetch(`/models?name=digits`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ModelMeta;
  };
  const startInstance = async (model: string) => {
    const { status, body } = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { model, maxDelayMs: 0 },
    });
    expect(status).toBe(201);
    return (body as unknown as InstanceRecord).id;
  };
  const workflow = (name: string, model: string) =>
    cluster.call('POST', '/workflows', {
      name,
      durability: 'none',
      steps: [{ id: 'classify', service: 'onnx-inference@^1', model, input: '$input', retry: { maxAttempts: 1 } }],
    });
  const run = async (name: string, i: number): Promise<RunView> => {
    const input = { inputs: { x: toWire({ dims: [1, 4], data: new Float32Array([i, 0, 0, 0]) }) } };
    const { body } = await cluster.call('POST', `/workflows/${name}/runs?wait=30000`, { input });
    return cluster.get<RunView>(`/runs/${(body as { id: string }).id}`);
  };
  /** `CALLS` runs, ten at a time; each with the instance and model that answered and the bias it added. */
  const runMany = async (name: string) => {
    const answers: { run: string; instance?: string; model?: string; bias: number; status: string }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < CALLS) {
          const i = next++;
          const view = await run(name, i);
          const [attempt] = view.steps[0].history;
          const y = view.output?.classify ? fromWire('y', view.output.classify.outputs.y).data : undefined;
          answers.push({
            run: view.id,
            instance: attempt?.instance,
            model: attempt?.model,
            bias: y ? y[1] : NaN,
            status: view.status,
          });
        }
      }),
    );
    return answers;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 8192, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    expect((await upload(V1)).version).toBe(1);
    expect((await upload(V2)).version).toBe(2);
    // Two instances of version 1, one of version 2 (each its own worker process with onnxruntime).
    const ids = await Promise.all(['digits@1', 'digits@1', 'digits@2'].map(startInstance));
    await cluster.waitFor(
      async () => {
        const instances = await cluster.get<InstanceRecord[]>('/instances');
        return ids.every(
          (id) => instances.find((i) => i.id === id)?.status === 'ready' && instances.find((i) => i.id === id)?.model,
        );
      },
      60_000,
      'three inference instances ready',
    );
    byVersion[1] = ids.slice(0, 2);
    byVersion[2] = ids.slice(2);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('shows the model name, version and sha256 each instance serves in GET /instances', async () => {
    const instances = await cluster.get<InstanceRecord[]>('/instances');
    for (const [version, bytes] of [
      [1, V1],
      [2, V2],
    ] as const) {
      for (const id of byVersion[version]) {
        expect(instances.find((i) => i.id === id)?.model).toEqual({ name: 'digits', version, sha256: sha256(bytes) });
      }
    }
  });

  it('refuses an instance or deployment of an unknown model or version at request time, naming what exists', async () => {
    const version = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { model: 'digits@9' },
    });
    expect(version.status).toBe(404);
    expect(version.body.message).toBe('/config/model: model digits has no version 9 (versions of digits: 1, 2)');
    const unknown = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { model: 'letters' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toContain('model "letters" is not in the registry (registered models: digits)');
    const deployment = await cluster.call('POST', '/deployments', {
      name: 'letters-pool',
      service: 'onnx-inference',
      config: { model: 'letters@1' },
      replicas: { count: 1 },
    });
    expect(deployment.status).toBe(404);
    expect(deployment.body.message).toContain('model "letters" is not in the registry');
    expect((await cluster.get<InstanceRecord[]>('/instances')).length).toBe(3);
  });

  it('sets aliases over REST, durably, recording who set them and when', async () => {
    const response = await cluster.fetch(`/models/digits/aliases/stable`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-yunbian-actor': 'release-bot' },
      body: JSON.stringify({ version: 1, canary: { version: 2, share: 0.2 } }),
    });
    expect(response.status).toBe(200);
    const alias = (await response.json()) as ModelAlias;
    expect(alias).toMatchObject({ model: 'digits', alias: 'stable', version: 1, canary: { version: 2, share: 0.2 } });
    expect(alias.setBy).toBe('release-bot');
    expect(Date.now() - Date.parse(alias.setAt)).toBeLessThan(60_000);
    expect(await cluster.get<ModelAlias[]>('/models/digits/aliases')).toEqual([alias]);
    // In JetStream KV, not only in the orchestrator's memory.
    const kv = await new Kvm((await cluster.client()).connection).open(MODEL_ALIAS_BUCKET);
    expect((await kv.get(modelAliasKey('digits', 'stable')))?.json()).toEqual(alias);

    const bad = await cluster.call('PUT', '/models/digits/aliases/stable', { version: 5 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('digits has no version 5 (registered versions of digits: 1, 2)');
    const canary = await cluster.call('PUT', '/models/digits/aliases/canary', { version: 2 });
    expect(canary.status).toBe(400);
    expect(canary.body.message).toContain('names the canary of digits@stable');
    const anonymous = await cluster.call('PUT', '/models/digits/aliases/old', { version: 1 });
    expect(anonymous.body).toMatchObject({ setBy: 'anonymous', version: 1 });
    expect((await cluster.call('DELETE', '/models/digits/aliases/old')).status).toBe(200);
    expect((await cluster.call('GET', '/models/digits/aliases/old')).status).toBe(404);
  });

  it(`sends all ${CALLS} calls naming digits@canary to the canary version's instance`, async () => {
    expect((await workflow('digits-canary', 'digits@canary')).status).toBe(201);
    const answers = await runMany('digits-canary');
    expect(answers.filter((a) => a.status !== 'succeeded')).toEqual([]);
    expect(new Set(answers.map((a) => a.instance))).toEqual(new Set(byVersion[2]));
    expect(new Set(answers.map((a) => a.model))).toEqual(new Set(['digits@2']));
    // And the model that ran was version 2's (bias 101 at position 1).
    expect(new Set(answers.map((a) => a.bias))).toEqual(new Set([101]));
  });

  it(`splits digits@stable with a 0.2 canary share over ${CALLS} calls`, async () => {
    expect((await workflow('digits-stable', 'digits@stable')).status).toBe(201);
    const answers = await runMany('digits-stable');
    expect(answers.filter((a) => a.status !== 'succeeded')).toEqual([]);
    const canary = answers.filter((a) => byVersion[2].includes(a.instance!));
    const stable = answers.filter((a) => byVersion[1].includes(a.instance!));
    expect(canary.length + stable.length).toBe(CALLS);
    // 40 expected; 20–60 is more than three standard deviations (5.7) either side.
    expect(canary.length).toBeGreaterThanOrEqual(CALLS * 0.1);
    expect(canary.length).toBeLessThanOrEqual(CALLS * 0.3);
    expect(new Set(canary.map((a) => a.bias))).toEqual(new Set([101]));
    expect(new Set(stable.map((a) => a.bias))).toEqual(new Set([1]));
    // Exactly the runs whose draw fell below the share: the split is the documented one.
    const drawn = answers.filter((a) => canaryDraw(`${a.run}:classify:`) < 0.2).map((a) => a.run);
    expect(canary.map((a) => a.run).sort()).toEqual(drawn.sort());
    process.stdout.write(`digits@stable, canary share 0.2: ${canary.length}/${CALLS} calls reached the canary\n`);
  });

  it('fails a step naming a model no instance serves, saying which instances serve what', async () => {
    expect((await workflow('digits-seven', 'digits@7')).status).toBe(201);
    const view = await run('digits-seven', 0);
    expect(view.status).toBe('failed');
    expect(view.error?.code).toBe('UNAVAILABLE');
    expect(view.error?.message).toContain('no instance serves model digits@7');
    expect(view.error?.message).toContain(
      `digits@1: ${[...byVersion[1]]
        .sort()
        .map((id) => `${id} on edge-a`)
        .join(', ')}`,
    );
    expect(view.error?.message).toContain(`digits@2: ${byVersion[2][0]} on edge-a`);
    expect(view.error?.message).toContain('no deployment serves model digits');

    // A deployment serving the model (no replicas yet) is named.
    const pool = await cluster.call('POST', '/deployments', {
      name: 'digits-pool',
      service: 'onnx-inference',
      config: { model: 'digits@2' },
      replicas: { count: 0 },
    });
    expect(pool.status).toBe(201);
    const named = await run('digits-seven', 1);
    expect(named.error?.message).toContain('deployment digits-pool serves model digits');
    expect((await cluster.call('DELETE', '/deployments/digits-pool')).status).toBe(200);

    expect((await workflow('digits-prod', 'digits@prod')).status).toBe(201);
    const alias = await run('digits-prod', 0);
    expect(alias.status).toBe('failed');
    expect(alias.error?.message).toContain(
      'model digits has no alias "prod" (its aliases: stable → 1 (canary 2 at 0.2))',
    );
  });

  it('refuses a definition whose step model cannot be read, with its pointer', async () => {
    const { status, body } = await workflow('digits-bad', 'digits@>=');
    expect(status).toBe(400);
    expect(JSON.stringify(body)).toContain('/steps/0/model');
    expect(JSON.stringify(body)).toContain('neither a version, a semver range nor an alias name');
  });

  it('follows a hot swap: an instance swapped to version 2 no longer answers digits@1', async () => {
    const [swapped, kept] = byVersion[1];
    const swap = await cluster.call('POST', `/instances/${swapped}/configure`, { config: { model: 'digits@2' } });
    expect(swap).toMatchObject({ status: 200, body: { model: 'digits@2', previous: 'digits@1' } });
    await cluster.waitFor(
      async () => (await cluster.get<InstanceRecord>(`/instances/${swapped}`)).model?.version === 2,
      10_000,
      'the swapped model in the catalogue',
    );
    expect((await workflow('digits-one', 'digits@1')).status).toBe(201);
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const view = await run('digits-one', i);
      answers.push({ instance: view.steps[0].history[0].instance, status: view.status });
    }
    expect(answers.filter((a) => a.status !== 'succeeded')).toEqual([]);
    expect(new Set(answers.map((a) => a.instance))).toEqual(new Set([kept]));
  });
});
