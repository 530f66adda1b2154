import { readFileSync } from 'node:fs';
import path from 'node:path';
import { firstValueFrom } from 'rxjs';
import { stopChild } from '@yunbian/common';
import type { InstanceRecord } from '@yunbian/contracts';
import { YunbianClientProxy } from '@yunbian/nest-transport';
import { ROOT, TestCluster, type Proc } from './support/cluster';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';

jest.setTimeout(120_000);

const NODE = 'nest-sensors';
const readings = [
  { id: 't1', celsius: 21.5 },
  { id: 't2', celsius: 48.1 },
  { id: 't3', celsius: 19.9 },
];
const expectedOutput = {
  summary: { count: 3, meanCelsius: 29.8, maxCelsius: 48.1, hot: ['t2'] },
  fahrenheit: [
    { id: 't1', fahrenheit: 70.7 },
    { id: 't2', fahrenheit: 118.6 },
    { id: 't3', fahrenheit: 67.8 },
  ],
};

type RunView = {
  id: string;
  status: string;
  output?: typeof expectedOutput;
  error?: { code: string; message: string };
  steps: { id: string; state: string; history: { node?: string; instance?: string; service: string }[] }[];
};

/**
 * The NestJS example app (docs/examples/nest-service, built to dist/) as its own process on a
 * real nats-server with a real orchestrator: its @MessagePattern handlers are catalogued
 * services, workflow steps run on them, and a Nest client starts workflows and calls them.
 */
describe('NestJS microservices interop (example app, real stack)', () => {
  let cluster: TestCluster;
  let app: Proc;
  let client: YunbianClientProxy;
  let receiver: OtlpReceiver;
  let restTraceId: string;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    // Processes export spans in batches; a short delay keeps the test quick.
    const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200' };
    cluster = await TestCluster.start();
    await cluster.startOrchestrator(tracing);
    app = cluster.spawn('nest-app', 'docs/examples/nest-service/main.js', [], {
      NEST_NODE_ID: NODE,
      NEST_SITE: 'site-a',
      ...tracing,
    });
    await cluster.waitFor(
      async () => (await cluster.node(NODE))?.status === 'alive',
      30_000,
      `Nest app node ${NODE} alive`,
    );
    await cluster.waitFor(
      async () => {
        const instances = await cluster.get<InstanceRecord[]>('/instances');
        return instances.filter((i) => i.nodeId === NODE && i.status === 'ready').length === 2;
      },
      20_000,
      'both operations ready',
    );
    const yaml = readFileSync(path.join(ROOT, 'docs/examples/nest-service/readings-report.yaml'), 'utf8');
    const created = await cluster.fetch('/workflows', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: yaml,
    });
    expect(created.status).toBe(201);
    client = new YunbianClientProxy({ connection: { servers: cluster.nats.url } });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
    await receiver?.stop();
  });

  it('catalogues each pattern as a service with the schemas of the options', async () => {
    const services =
      await cluster.get<{ name: string; version: string; input: { required?: string[] }; nodes: string[] }[]>(
        '/services',
      );
    const summarize = services.find((s) => s.name === 'sensor-stats-summarize');
    expect(summarize).toMatchObject({ version: '1.0.0', nodes: [NODE], input: { required: ['readings'] } });
    expect(services.find((s) => s.name === 'sensor-stats-fahrenheit')?.nodes).toEqual([NODE]);
  });

  it('serves the steps of a workflow started over REST', async () => {
    const { status, body } = await cluster.call('POST', '/workflows/readings-report/runs?wait=30000', {
      input: { readings },
    });
    expect(status).toBe(200);
    expect(body.status).toBe('succeeded');
    restTraceId = body.traceId as string;
    const run = await cluster.get<RunView>(`/runs/${String(body.id)}`);
    expect(run.output).toMatchObject(expectedOutput);
    const attempts = run.steps.flatMap((s) => s.history);
    expect(attempts).toHaveLength(4); // summary + three forEach items
    expect(new Set(attempts.map((a) => a.node))).toEqual(new Set([NODE]));
    expect(new Set(attempts.map((a) => a.instance))).toEqual(new Set([`${NODE}-summarize`, `${NODE}-fahrenheit`]));
  });

  it('handles each step inside the run’s trace (context from the request headers)', async () => {
    const inTrace = (s: ReceivedSpan) => s.traceId === restTraceId;
    await receiver.waitForSpans((s) => inTrace(s) && s.serviceName === 'sensor-stats', 20_000, 4);
    await receiver.waitForSpans((s) => inTrace(s) && s.name === 'run readings-report', 20_000);
    const spans = receiver.spansOfTrace(restTraceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const run = spans.find((s) => s.name === 'run readings-report')!;
    const received = spans.filter((s) => s.serviceName === 'sensor-stats');
    // One receive span per attempt (summary and three items), each beneath its step beneath the run.
    expect(received).toHaveLength(4);
    for (const span of received) {
      expect(span.kind).toBe('CONSUMER');
      const chain: ReceivedSpan[] = [];
      for (let p = span.parentSpanId && byId.get(span.parentSpanId); p; p = p.parentSpanId && byId.get(p.parentSpanId))
        chain.push(p);
      expect(chain.some((s) => s.name.startsWith('step '))).toBe(true);
      expect(chain.at(-1)?.spanId).toBe(run.spanId);
    }
  });

  it('lets a Nest client start the workflow and get its output, and call an operation', async () => {
    await expect(firstValueFrom(client.send('workflow:readings-report', { readings }))).resolves.toMatchObject(
      expectedOutput,
    );
    await expect(firstValueFrom(client.send('sensor-stats.fahrenheit', { id: 'x', celsius: 100 }))).resolves.toEqual({
      id: 'x',
      fahrenheit: 212,
    });
    // The schema from the app's options is checked before its handler runs.
    await expect(firstValueFrom(client.send('sensor-stats.fahrenheit', { id: 'x' }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/^input to sensor-stats-fahrenheit@1.0.0 does not match its schema: .*celsius/),
    });
  });

  it('fails a run with the code and message the handler threw, and the client says which run', async () => {
    const error = await firstValueFrom(client.send('workflow:readings-report', { readings: [] })).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(
        /^run \S+ of workflow readings-report failed: .*readings is empty: nothing to summarise/,
      ),
      details: { runId: expect.any(String), status: 'failed' },
    });
  });

  it('leaves the catalogue cleanly when the app stops', async () => {
    await stopChild(app.child, 'SIGTERM', 15_000);
    await cluster.waitFor(async () => (await cluster.node(NODE))?.status === 'dead', 10_000, `node ${NODE} dead`);
    const instances = await cluster.get<InstanceRecord[]>('/instances');
    expect(instances.filter((i) => i.nodeId === NODE && i.status === 'ready')).toEqual([]);
  });
});
