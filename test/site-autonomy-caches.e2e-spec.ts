/**
 * What a site engine needs to work alone is cached at the site, and its run metrics reach
 * the cloud exactly once — on the testbed: the cloud and one edge site on a 40 ms uplink
 * with a site engine. Runs at the site teach the site engine the step's compute time; the
 * uplink is cut and the site engine killed with SIGKILL, and it starts again with the hub
 * unreachable: from its site's copies (catalogue view, learnt compute times), its runs
 * place as before — the same candidates and the same compute figure in the placement
 * explanation (a lost copy would show the default). The cloud orchestrator is killed too
 * during the cut; after the link returns, the cloud's /metrics counts the cut's runs
 * exactly (its restarted reader goes on from the last fact it acknowledged; the site
 * engine's resends after its restart are dropped by the stream). Outcomes of the
 * durable-results step are kept in the site's domain, where the site engine reads them.
 * Needs root: skipped with a printed reason otherwise, except in CI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { OUTCOME_BUCKET, type InstanceRecord } from '@yunbian/contracts';
import { NatsTransport, outcomeKey } from '@yunbian/transport';
import { Testbed } from '../tools/testbed/testbed';
import { PORTS } from '../tools/testbed/plan';
import type { Topology } from '../tools/testbed/topology';
import { describeOnTestbed, jsonCall, tolerantWait } from './support/testbed-suite';

const SITE = 'factory-sz';
const ENGINE = `engine-${SITE}`;
const WORKFLOW = 'cached-edge';
const WARM_UP_RUNS = 5;
const CUT_RUNS = 8;

const TOPOLOGY: Topology = {
  name: 'caches',
  sites: [
    {
      name: 'cloud',
      kind: 'cloud',
      nodes: [{ id: 'cloud-1', tier: 'cloud', tags: [], memoryMb: 4096, costPerHour: 2.4 }],
    },
    {
      name: SITE,
      kind: 'edge',
      uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 },
      nodes: [{ id: 'edge-box', tier: 'edge', tags: ['camera'], memoryMb: 2048, costPerHour: 0.08 }],
    },
  ],
};

const describeTestbed = describeOnTestbed('site caches');

jest.setTimeout(300_000);

interface Candidate {
  nodeId: string;
  instanceId?: string;
  computeMs?: number;
  computeSource?: string;
  bandwidthSource?: string;
}
interface RunView {
  id: string;
  status: string;
  steps: { id: string; history: { idempotencyKey: string; placement?: { candidates: Candidate[] } }[] }[];
  executedBy?: { kind: string; site?: string };
}

/** The value of one series of a Prometheus page (0 when absent). */
function series(page: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

describeTestbed('site caches and site metrics on the testbed', () => {
  let bed: Testbed;
  let edge: string;
  let hub: NatsTransport;

  const call = jsonCall;
  const waitFor = tolerantWait(() => bed.logDir, 250);
  const cloudMetrics = async () => (await bed.fetch(`/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const runAtSite = async (n: number) => {
    const { status, body } = await call<RunView>(edge, 'POST', `/workflows/${WORKFLOW}/runs?wait=30000`, {
      input: { n },
      durability: 'durable',
    });
    expect(status).toBeLessThan(300);
    expect(body).toMatchObject({ status: 'succeeded', executedBy: { kind: 'site', site: SITE } });
    return body;
  };
  /** The explanation of step a's placement: every candidate's node, instance and figures. */
  const explanation = (run: RunView) => run.steps.find((step) => step.id === 'a')!.history[0].placement!.candidates;

  beforeAll(async () => {
    bed = await Testbed.start(TOPOLOGY, {
      port: 0,
      heartbeatMs: 1000,
      say: (line) => process.stdout.write(`[testbed] ${line}\n`),
      agentEnv: { YUNBIAN_SERVICE_PATH: path.join(__dirname, '..', 'dist', 'test', 'fixtures', 'services') },
    });
    edge = await bed.siteEngineApi(SITE);
    hub = await NatsTransport.connect({
      servers: (await bed.forwardPort('cloud', PORTS.nats)).replace('http://', 'nats://'),
      name: 'site-caches test',
    });
    const instances: string[] = [];
    for (const service of ['echo@^1', 'counted-durable@1.0.0']) {
      const { status, body } = await call<InstanceRecord>(bed.api, 'POST', '/instances', {
        service,
        nodeId: 'edge-box',
      });
      expect(status).toBe(201);
      instances.push(body.id);
    }
    const created = await call(bed.api, 'POST', '/workflows', {
      name: WORKFLOW,
      placement: { site: SITE },
      steps: [
        // ≈ 250 ms at the edge: far from the 100 ms a router assumes before it has learnt anything.
        { id: 'a', service: 'echo@^1', input: { value: '=$input.n', delayMs: 250 } },
        { id: 'b', service: 'counted-durable@^1', input: { value: '=$steps.a.output.value' } },
      ],
    });
    expect(created.status).toBe(201);
    await waitFor(
      async () => {
        const [wf, seen] = await Promise.all([
          call(edge, 'GET', `/workflows/${WORKFLOW}`),
          call<InstanceRecord[]>(edge, 'GET', '/instances'),
        ]);
        return wf.status === 200 && instances.every((id) => seen.body.some((i) => i.id === id && i.status === 'ready'));
      },
      60_000,
      'the site engine to know the workflow and the instances as ready',
    );
  });

  afterAll(async () => {
    await hub?.close().catch(() => undefined);
    await bed?.restore(SITE).catch(() => undefined);
    await bed?.stop();
  });

  let before: Candidate[] = [];
  const cutRuns: RunView[] = [];

  it('a site engine restarted with its uplink cut places its runs with the figures it had', async () => {
    for (let n = 0; n < WARM_UP_RUNS; n++) await runAtSite(n);
    // The site engine writes its copies every 5 s; nothing runs meanwhile, so the next
    // decision reads exactly the figures the copy holds.
    await sleep(6_000);
    before = explanation(await runAtSite(100));
    expect(before[0]).toMatchObject({ nodeId: 'edge-box', computeSource: 'observed' });
    expect(before[0].computeMs).toBeGreaterThan(200);
    // Every fact so far reached the cloud (and was acknowledged) before the cut.
    const done = WARM_UP_RUNS + 1;
    await waitFor(
      async () =>
        series(await cloudMetrics(), 'yunbian_site_workflow_runs_total', { site: SITE, workflow: WORKFLOW }) === done,
      60_000,
      `the cloud to count the ${done} runs done before the cut`,
    );
    await sleep(1_000);

    await bed.cut(SITE);
    expect(bed.kill(ENGINE, 'SIGKILL')).toBe(true);
    expect(bed.kill('orchestrator', 'SIGKILL')).toBe(true);
    await waitFor(
      async () =>
        bed.processes().find((p) => p.name === ENGINE)?.restarts === 1 &&
        (await call(edge, 'GET', `/workflows/${WORKFLOW}`)).status === 200,
      60_000,
      'the site engine to be back with the uplink cut',
    );
    const log = readFileSync(path.join(bed.logDir, `${ENGINE}.log`), 'utf8');
    expect(log).toMatch(/catalogue restored[^\n]*"from":"site copy"/);

    const first = await runAtSite(200);
    cutRuns.push(first);
    const after = explanation(first);
    expect(after.map((c) => [c.nodeId, c.instanceId, c.computeSource, c.bandwidthSource])).toEqual(
      before.map((c) => [c.nodeId, c.instanceId, c.computeSource, c.bandwidthSource]),
    );
    // The figure learnt before the cut (one more reply may have moved it a little before the kill).
    expect(after[0].computeMs!).toBeGreaterThan(before[0].computeMs! * 0.8);
    expect(after[0].computeMs!).toBeLessThan(before[0].computeMs! * 1.25);
    process.stdout.write(
      `[caches] step a before the cut: ${before[0].computeMs} ms (${before[0].computeSource}); after the restart in the cut: ${after[0].computeMs} ms (${after[0].computeSource})\n`,
    );
  });

  it('after the link returns, the cloud counts every run of the cut once, across a cloud restart; outcomes stayed at the site', async () => {
    // The run of the previous test was the cut's first.
    while (cutRuns.length < CUT_RUNS) cutRuns.push(await runAtSite(300 + cutRuns.length));
    const cutCount = cutRuns.length;
    await bed.restore(SITE);
    const labels = { site: SITE, workflow: WORKFLOW };
    // The cloud orchestrator restarted during the cut: its counters start at 0 and its reader
    // goes on after the last fact it acknowledged, so exactly the cut's runs are counted.
    await waitFor(
      async () =>
        series(await cloudMetrics(), 'yunbian_site_workflow_runs_total', { ...labels, status: 'succeeded' }) >=
        cutCount,
      90_000,
      'the cloud to count the runs of the cut',
    );
    // Nothing more arrives later (the restarted site engine's resends were dropped by the stream).
    await sleep(5_000);
    const page = await cloudMetrics();
    expect(series(page, 'yunbian_site_workflow_runs_total', { ...labels, status: 'succeeded' })).toBe(cutCount);
    expect(series(page, 'yunbian_site_workflow_runs_started_total', labels)).toBe(cutCount);
    expect(
      series(page, 'yunbian_site_step_duration_seconds_count', { site: SITE, service: 'echo@1.0.0', outcome: 'ok' }),
    ).toBe(cutCount);
    expect(
      series(page, 'yunbian_site_step_duration_seconds_count', {
        site: SITE,
        service: 'counted-durable@1.0.0',
        outcome: 'ok',
      }),
    ).toBe(cutCount);

    // The durable-results step kept its outcomes in the site's domain, not the hub's.
    const key = cutRuns[0].steps.find((step) => step.id === 'b')!.history[0].idempotencyKey;
    const atSite = await new Kvm(jetstream(hub.connection, { domain: SITE })).open(OUTCOME_BUCKET);
    expect((await atSite.get(outcomeKey(key)))?.operation).toBe('PUT');
    const atHub = await new Kvm(jetstream(hub.connection, { domain: 'hub' }))
      .open(OUTCOME_BUCKET)
      .catch(() => undefined);
    expect(await atHub?.get(outcomeKey(key))).toBeFalsy();
  });
});
