import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Jimp } from 'jimp';
import { YunbianClient } from '@yunbian/client';
import { YunbianError } from '@yunbian/contracts';
import type { RunRecord } from '@yunbian/workflow';
import { runView } from '../apps/orchestrator/src/workflows/run-view';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(180_000);

type View = {
  id: string;
  status: string;
  durability: string;
  output?: unknown;
  executedBy?: RunRecord['executedBy'];
  steps?: {
    id: string;
    state: string;
    attempts: number;
    items?: number;
    history: { item?: number; attempt: number; purpose: string; service: string; node?: string; instance?: string }[];
  }[];
};

/** As JSON carries it (expression results are arrays and objects with extra markers in memory). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));

/** What must agree between two runs of one workflow: statuses, attempts, and where each attempt went. */
const stepRecords = (view: View) =>
  view.steps!.map((s) => ({
    id: s.id,
    state: s.state,
    attempts: s.attempts,
    items: s.items,
    history: s.history.map((a) => ({
      item: a.item,
      attempt: a.attempt,
      purpose: a.purpose,
      service: a.service,
      node: a.node,
      instance: a.instance,
      strategy: (a as { placement?: { strategy?: string } }).placement?.strategy,
    })),
  }));

describe('embedded engine (@yunbian/client) against a real nats-server, orchestrator and agent', () => {
  let cluster: TestCluster;
  let yb: YunbianClient;
  let input: Record<string, unknown>;
  const edgeReport = readFileSync(path.join(ROOT, 'workflows/edge-report.yaml'), 'utf8');

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive(
      { id: 'edge-a', site: 'site-a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500' },
    );
    for (const service of ['json-transform@^1', 'image-resize@^1', 'slow-echo@^1'])
      await cluster.deploy(service, 'edge-a');
    const created = await cluster.fetch(`/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: edgeReport,
    });
    expect(created.status).toBe(201);
    const frame = await new Jimp({ width: 320, height: 240, color: 0x3366ccff }).getBuffer('image/png');
    input = {
      image: frame.toString('base64'),
      readings: [
        { id: 't1', celsius: 21.5 },
        { id: 't2', celsius: 48.1 },
        { id: 't3', celsius: 19.9 },
      ],
    };
    yb = await YunbianClient.connect({ servers: cluster.nats.url, heartbeatMs: 500 });
  });

  afterAll(async () => {
    await yb?.close();
    await cluster?.stop();
  });

  it('runs edge-report in-process with the same output and step records as the orchestrator', async () => {
    const { status, body } = await cluster.call('POST', '/workflows/edge-report/runs?wait=30000', {
      input,
      durability: 'none',
    });
    expect(status).toBe(200);
    const viaOrchestrator = body as unknown as View;
    expect(viaOrchestrator.status).toBe('succeeded');

    const embedded: RunRecord = await yb.run('edge-report', input, { durability: 'none' });
    expect(embedded.status).toBe('succeeded');
    expect(embedded.executedBy).toMatchObject({ kind: 'embedded', id: yb.id });
    expect(plain(embedded.output)).toEqual(viaOrchestrator.output);
    expect((embedded.output as { alert: string }).alert).toBe('ALERT: t2 above threshold');
    expect(stepRecords(runView(embedded) as unknown as View)).toEqual(stepRecords(viaOrchestrator));

    // The definition as YAML text instead of the stored workflow's name: the same again.
    const fromText = await yb.run(edgeReport, input, { durability: 'none' });
    expect(plain(fromText.output)).toEqual(viaOrchestrator.output);
  });

  it('stores a durable run where the orchestrator reads it (GET /runs/{id})', async () => {
    const run = await yb.run('edge-report', input, { durability: 'durable' });
    expect(run.status).toBe('succeeded');
    const stored = await cluster.get<View>(`/runs/${run.id}`);
    expect(stored.status).toBe('succeeded');
    expect(stored.durability).toBe('durable');
    expect(stored.executedBy).toMatchObject({ kind: 'embedded', id: yb.id });
    expect(stored.output).toEqual(plain(run.output));
    expect(stepRecords(stored)).toEqual(stepRecords(runView(run) as unknown as View));
  });

  it('cancels and retries a durable run of this engine through the orchestrator’s REST; GET /runs lists it once', async () => {
    expect(
      (
        await cluster.call('POST', '/workflows', {
          name: 'slow-one',
          durability: 'durable',
          steps: [{ id: 'wait', service: 'slow-echo@^1', input: { value: 'x', delayMs: 20_000 } }],
        })
      ).status,
    ).toBe(201);
    const id = await yb.start('slow-one', {});
    const cancelled = await cluster.call('POST', `/runs/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled', executedBy: { kind: 'embedded', id: yb.id } });
    expect((await yb.get(id)).status).toBe('cancelled');

    const retried = await cluster.call('POST', `/runs/${id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ id, status: 'running', executedBy: { kind: 'embedded', id: yb.id } });
    expect((await yb.get(id)).status).toBe('running');

    // Listed by the orchestrator once, from the store the engine writes (listings are cached for a second).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const listed = await cluster.get<View[]>('/runs?workflow=slow-one');
    expect(listed.filter((r) => r.id === id)).toEqual([
      expect.objectContaining({ status: 'running', executedBy: expect.objectContaining({ kind: 'embedded' }) }),
    ]);
    const finished = await cluster.get<View[]>('/runs?workflow=edge-report&status=succeeded');
    const durable = finished.filter((r) => r.executedBy?.kind === 'embedded');
    expect(durable.length).toBeGreaterThanOrEqual(1);
    expect(new Set(finished.map((r) => r.id)).size).toBe(finished.length);
    await yb.cancel(id);
  });

  it('refuses a bad definition with the same error as POST /workflows', async () => {
    const bad = {
      name: 'bad',
      steps: [
        { id: 'a', service: 'json-transform@^9' },
        { id: 'b', service: 'nope@^1', after: ['zz'] },
      ],
    };
    const { status, body } = await cluster.call('POST', '/workflows', bad);
    expect(status).toBe(400);
    let error: unknown;
    await yb.run(bad, {}).catch((err: unknown) => (error = err));
    expect(error).toBeInstanceOf(YunbianError);
    const refused = error as YunbianError;
    expect(refused.code).toBe(body.code);
    expect(refused.message).toBe(body.message);
    expect(refused.details).toEqual(body.details);
    expect((refused.details as { issues: unknown[] }).issues).toHaveLength(3);
  });

  it('finishes a durable run in the orchestrator when the process running it is killed (-9)', async () => {
    const slow = {
      name: 'slow-pair',
      steps: [
        { id: 'first', service: 'slow-echo@^1', input: { value: 'one', delayMs: 2_500 } },
        { id: 'second', service: 'slow-echo@^1', input: { value: '=$steps.first.output.value', delayMs: 10 } },
      ],
      output: '=$steps.second.output.value',
    };
    expect((await cluster.call('POST', '/workflows', slow)).status).toBe(201);
    const child = cluster.spawn('caller', 'docs/examples/embedded-run.js', ['slow-pair', '{}', 'durable'], {});
    const started = await cluster.waitFor(
      async () => {
        const line = readFileSync(child.log, 'utf8')
          .split('\n')
          .find((l) => l.startsWith('{"started"'));
        return line ? (JSON.parse(line) as { started: string; engine: string }) : undefined;
      },
      30_000,
      'the caller process to start its run',
    );
    // Killed while the first step is out (its record, stored before the send, says so).
    await cluster.waitFor(
      async () => {
        const run = await cluster.get<View>(`/runs/${started.started}`).catch(() => undefined);
        return run?.steps?.[0].state === 'running';
      },
      10_000,
      'the first step to be sent',
    );
    child.child.kill('SIGKILL');

    const finished = await cluster.waitFor(
      async () => {
        const run = await cluster.get<View>(`/runs/${started.started}`);
        return run.status !== 'running' ? run : undefined;
      },
      90_000,
      'the orchestrator to finish the run it took over',
    );
    expect(readFileSync(child.log, 'utf8')).not.toContain('"status"');
    expect(finished.status).toBe('succeeded');
    expect(finished.output).toBe('one');
    expect(finished.executedBy?.kind).toBe('cloud');
    expect(finished.executedBy?.reason).toMatch(
      new RegExp(`^took over from embedded engine ${started.engine}: its announcements stopped`),
    );
    // The step that was out is sent again as the same attempt (same idempotency key), not a new one.
    expect(finished.steps![0].attempts).toBe(1);
    // Listed once: the orchestrator holds it now, and the store's record names the orchestrator.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const listed = await cluster.get<View[]>('/runs?workflow=slow-pair');
    expect(listed.filter((r) => r.id === started.started)).toEqual([
      expect.objectContaining({ status: 'succeeded', executedBy: expect.objectContaining({ kind: 'cloud' }) }),
    ]);

    // With no embedded engine live any more, their finished durable runs are still listed (from the store).
    await yb.close();
    await cluster.waitFor(
      async () => !(await cluster.get<{ kind: string }[]>('/engines')).some((e) => e.kind === 'embedded'),
      20_000,
      'the orchestrator to see the embedded engines gone',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const after = await cluster.get<View[]>('/runs?workflow=edge-report&status=succeeded');
    expect(after.filter((r) => r.executedBy?.kind === 'embedded' && r.durability === 'durable').length).toBe(1);
  });
});
