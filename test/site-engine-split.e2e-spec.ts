/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
/**
 * A split step executed by a site engine on an edge site's leaf (hub + leaf nats-servers, as in
 * site-engine-leaf.e2e-spec.ts): two nodes of the site (a device and an edge node), the digits
 * CNN uploaded to the cloud. The site engine plans the step from its own catalogue view and the
 * cloud's registry read through the leaf, registers the head and the tail there (the site's
 * agents fetch them from it like any model), and runs the head on the device and the tail on
 * the edge node: the cut tensors never leave the site. A run started at the cloud with its input
 * at the site is forwarded to the site engine because both ends of its split step are there.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { InstanceRecord, SplitPlan } from '@yunbian/contracts';
import { fromWire, toWire } from '@yunbian/inference';
import type { ModelMeta } from '@yunbian/models';
import type { SplitStepOutput } from '../apps/orchestrator/src/models/split-step.runner';
import { ROOT } from './support/cluster';
import { LeafCluster } from './support/leaf-cluster';
import { restCall, restFetch } from './support/rest-client';

const SITE = 'factory-sz';
const ANNOUNCE = { YUNBIAN_ENGINE_ANNOUNCE_MS: '500' };
const DIGITS = readFileSync(path.join(ROOT, 'models/digits/digits-cloud.onnx'));
const AGENT_ENV = { YUNBIAN_HEARTBEAT_MS: '500', YUNBIAN_JS_DOMAIN: 'hub' };

jest.setTimeout(180_000);

interface RunView {
  id: string;
  status: string;
  output?: { classify: SplitStepOutput };
  error?: { code?: string; message?: string };
  executedBy?: { kind: string; id: string; site?: string; reason: string };
}

describe('a split step at a site engine: head and tail on two nodes of the site (hub + leaf nats-servers)', () => {
  let cluster: LeafCluster;
  let edge: string;

  const call = <T>(base: string, method: string, route: string, body?: unknown) =>
    restCall<T>(base, cluster.adminKey, method, route, body, 90_000);

  beforeAll(async () => {
    cluster = await LeafCluster.start(SITE);
    await cluster.startOrchestrator({ ...ANNOUNCE, YUNBIAN_SPLIT_AUTO_PROFILE_MS: '0' });
    const node = { site: SITE, tags: [], memoryMb: 2048 };
    cluster.startAgent({ ...node, id: 'cam-1', tier: 'device', costPerHour: 0.01 }, 'leaf', AGENT_ENV);
    cluster.startAgent({ ...node, id: 'edge-a', tier: 'edge', costPerHour: 0.08 }, 'leaf', AGENT_ENV);
    ({ url: edge } = await cluster.startSiteEngine(SITE, ANNOUNCE));
    const uploaded = await restFetch(cluster.api, '/models?name=digits', cluster.adminKey, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(DIGITS),
    });
    expect(uploaded.status).toBe(201);
    await cluster.waitFor(
      async () => {
        const [ready, nodes, engines] = await Promise.all([
          fetch(`${edge}/health/ready`).catch(() => undefined),
          call<{ id: string; status: string }[]>(edge, 'GET', '/nodes'),
          call<{ kind: string }[]>(cluster.api, 'GET', '/engines'),
        ]);
        return (
          ready?.ok &&
          nodes.body.filter((n) => n.status === 'alive').length === 2 &&
          engines.body.some((e) => e.kind === 'site')
        );
      },
      40_000,
      'the site engine ready with both nodes, and the cloud to know it',
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('plans, registers and runs the split at the site; a cloud start with its input there is sent to the site engine', async () => {
    // A cut with three nodes in the head (the cloud's plan API lists the candidates).
    const plan = (
      await call<SplitPlan>(cluster.api, 'POST', '/models/digits/versions/1/split-plan', {
        between: ['cam-1', 'edge-a'],
        link: { rttMs: 1, mbps: 1000 },
      })
    ).body;
    const cut = plan.candidates.find((c) => c.kind === 'single' && c.headNodes === 3)!;
    expect(cut).toBeDefined();
    const registered = await call(cluster.api, 'POST', '/workflows', {
      name: 'site-split',
      durability: 'none',
      steps: [
        {
          id: 'classify',
          split: { model: 'digits@1', between: ['device', 'edge'], cut: cut.id },
          input: { inputs: '=$input.inputs' },
          retry: { maxAttempts: 1 },
        },
      ],
    });
    expect(registered.status).toBe(201);
    await cluster.waitFor(
      async () => (await call(edge, 'GET', '/workflows/site-split')).status === 200,
      20_000,
      'the site engine to know the workflow',
    );
    const data = Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13);
    const input = { inputs: { image: toWire({ dims: [1, 1, 28, 28], data }) } };

    // First run, at the site engine: it registers the head and the tail in the cloud's registry
    // (through the leaf), then says which instance to start, as the cloud's engine would.
    const first = await call<RunView>(edge, 'POST', '/workflows/site-split/runs?wait=60000', { input });
    expect(first.body.executedBy).toMatchObject({ kind: 'site', site: SITE });
    expect(first.body.status).toBe('failed');
    expect(first.body.error?.message).toMatch(/no ready onnx-inference instance serves digits-head@\d+ on node cam-1/);
    // The cloud's registry follows its bucket, so it knows the parts the site registered.
    const latest = async (name: string) =>
      cluster.waitFor(
        async () =>
          (await call<{ versions?: ModelMeta[] }>(cluster.api, 'GET', `/models/${name}`)).body.versions?.at(-1),
        10_000,
        `the cloud to know ${name}`,
      );
    const head = await latest('digits-head');
    const tail = await latest('digits-tail');
    expect(head).toMatchObject({ derivedFrom: { name: 'digits', version: 1 }, split: { part: 'head', cut: cut.id } });
    expect(tail).toMatchObject({ split: { part: 'tail', cut: cut.id } });

    const start = async (nodeId: string, model: string) => {
      const { status, body } = await call<InstanceRecord>(cluster.api, 'POST', '/instances', {
        service: 'onnx-inference',
        nodeId,
        config: { model, maxDelayMs: 0 },
      });
      expect(status).toBe(201);
      return body.id;
    };
    const ids = [
      await start('cam-1', `digits-head@${head.version}`),
      await start('edge-a', `digits-tail@${tail.version}`),
    ];
    await cluster.waitFor(
      async () => {
        const seen = (await call<InstanceRecord[]>(edge, 'GET', '/instances')).body;
        return ids.every((id) => seen.some((i) => i.id === id && i.status === 'ready'));
      },
      90_000,
      'the head on cam-1 and the tail on edge-a, ready as the site engine sees them',
    );

    // Started at the cloud with the input at the site: forwarded to the site engine.
    const run = await call<RunView>(cluster.api, 'POST', '/workflows/site-split/runs?wait=60000', {
      input,
      origin: { nodeId: 'cam-1' },
    });
    expect(run.body.executedBy).toMatchObject({ kind: 'site', site: SITE });
    expect(run.body.status).toBe('succeeded');
    const record = run.body.output!.classify.split;
    expect(record).toMatchObject({
      model: 'digits@1',
      nodes: ['cam-1', 'edge-a'],
      cut: cut.id,
      parts: { head: `digits-head@${head.version}`, tail: `digits-tail@${tail.version}` },
      tensors: [{ name: cut.id, bytes: cut.transferBytes, dtype: 'float32' }],
    });
    expect(record.link.source).not.toBe('request');

    // The same answer as the full model.
    const full = await ort.InferenceSession.create(new Uint8Array(DIGITS), { intraOpNumThreads: 1 });
    const want = (await full.run({ image: new ort.Tensor('float32', data, [1, 1, 28, 28]) })).probabilities
      .data as Float32Array;
    await full.release();
    const got = fromWire('probabilities', run.body.output!.classify.outputs.probabilities).data as Float32Array;
    expect(got.length).toBe(want.length);
    expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i])))).toBeLessThanOrEqual(1e-5);
  });
});
