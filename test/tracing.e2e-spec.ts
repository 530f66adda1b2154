import type { InstanceRecord } from '@yunbian/contracts';
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
  });

  afterAll(async () => {
    await cluster?.stop();
    await receiver?.stop();
  });

  it('traces a run across the orchestrator and two workers as one tree', async () => {
    await cluster.call('POST', '/workflows', {
      name: 'traced',
      steps: [
        { id: 'add', service: 'math', input: { op: 'add', a: '=$input.n', b: 1 } },
        { id: 'echo', service: 'slow-echo', input: { value: '=$steps.add.output.value' } },
      ],
      output: '$steps.echo.output.value',
    });
    const { body } = await cluster.call('POST', '/workflows/traced/runs?wait=10000', { input: { n: 41 } });
    expect(body).toMatchObject({ status: 'succeeded', output: 42 });
    const traceId = body.traceId as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const inTrace = (s: ReceivedSpan) => s.traceId === traceId;
    await receiver.waitForSpans((s) => inTrace(s) && s.name.startsWith('process yb.inst.'), 15_000, 2);
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
    expect(steps.map((s) => s.name).sort()).toEqual(['step add', 'step echo']);
    for (const step of steps) {
      expect(step.parentSpanId).toBe(run.spanId);
      expect(step.attributes['yunbian.placement.node']).toBeDefined();
    }
    const receives = spans.filter((s) => s.name.startsWith('process yb.inst.'));
    expect(receives).toHaveLength(2);
    for (const receive of receives) {
      expect(receive.serviceName).toBe('yunbian-worker');
      expect(receive.kind).toBe('CONSUMER');
      const chain = ancestors(receive);
      expect(chain.at(-1)!.spanId).toBe(run.spanId);
      expect(chain.some((s) => s.name.startsWith('step '))).toBe(true);
    }
    // The two receives happened in the two workers on the two nodes.
    expect(new Set(receives.map((s) => s.resourceAttributes['yunbian.node.id']))).toEqual(
      new Set(['edge-a', 'edge-b']),
    );
    const processes = new Set(
      spans.map((s) => `${s.serviceName}/${s.resourceAttributes['yunbian.instance.id'] ?? ''}`),
    );
    expect(processes.size).toBeGreaterThanOrEqual(3);
  });

  it('exposes metrics that match the run just made', async () => {
    const text = await (await fetch(`${cluster.api}/metrics`)).text();
    expect(text).toMatch(/yunbian_workflow_runs_total\{workflow="traced",status="succeeded"\} 1\b/);
    const service = (name: string) => deployed.find((i) => i.service === name)!;
    expect(text).toMatch(
      new RegExp(`yunbian_step_duration_seconds_count\\{service="math@1.0.0",node="edge-a",outcome="ok"\\} 1\\b`),
    );
    expect(text).toMatch(
      new RegExp(`yunbian_step_duration_seconds_count\\{service="slow-echo@1.0.0",node="edge-b",outcome="ok"\\} 1\\b`),
    );
    expect(text).toMatch(/yunbian_placement_decisions_total\{strategy="latency",outcome="placed"\} 2\b/);
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
