/**
 * A site engine on a NATS leaf node, without the testbed's namespaces and shaped links: the
 * hub and one edge site's leaf (compose/nats configs), the cloud orchestrator on the hub, the
 * site engine (the orchestrator in site mode) and an agent on the leaf. Cancel and retry of a
 * site run sent to the cloud are carried out by the site engine (and a cloud run's sent to
 * the site engine by the cloud); the cloud lists the site's runs once; a stream trigger of the
 * site consumes a stream in the site's JetStream domain; large step outputs of a site run stay
 * in the site's domain; with the site engine gone, the cloud says so.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { waitUntil } from '@yunbian/common';
import type { InstanceRecord } from '@yunbian/contracts';
import { LeafCluster } from './support/leaf-cluster';
import type { Proc } from './support/cluster';
import { restCall, restFetch } from './support/rest-client';

const SITE = 'factory-sz';
const ANNOUNCE = { YUNBIAN_ENGINE_ANNOUNCE_MS: '500' };

jest.setTimeout(120_000);

interface RunView {
  id: string;
  status: string;
  output?: unknown;
  error?: { code?: string; message?: string };
  executedBy?: { kind: string; id: string; site?: string; reason: string };
  steps?: { id: string; state: string; node?: string; output?: unknown }[];
}

describe('a site engine on an edge site’s leaf node (hub + leaf nats-servers, cloud and site orchestrators)', () => {
  let cluster: LeafCluster;
  let edge: string;
  let siteEngine: Proc;

  const call = <T>(base: string, method: string, route: string, body?: unknown) =>
    restCall<T>(base, cluster.adminKey, method, route, body, 30_000);
  const deploy = async (service: string) => {
    const { status, body } = await call<InstanceRecord>(cluster.api, 'POST', '/instances', {
      service,
      nodeId: 'edge-a',
    });
    expect(status).toBe(201);
    return body.id;
  };
  const runOn = async (base: string, id: string) => (await call<RunView>(base, 'GET', `/runs/${id}`)).body;
  const settled = (base: string, id: string) =>
    cluster.waitFor(
      async () => {
        const run = await runOn(base, id);
        return run.status !== 'running' ? run : undefined;
      },
      30_000,
      `run ${id} to end`,
    );

  beforeAll(async () => {
    cluster = await LeafCluster.start(SITE);
    await cluster.startOrchestrator(ANNOUNCE);
    cluster.startAgent({ id: 'edge-a', site: SITE, tier: 'edge', memoryMb: 2048, costPerHour: 0.08 }, 'leaf', {
      YUNBIAN_HEARTBEAT_MS: '500',
      YUNBIAN_JS_DOMAIN: 'hub',
    });
    ({ url: edge, proc: siteEngine } = await cluster.startSiteEngine(SITE, ANNOUNCE));
    await cluster.waitFor(
      async () => (await restFetch(edge, '/health/ready', cluster.adminKey).catch(() => undefined))?.ok,
      30_000,
      'the site engine to be ready',
    );
    await cluster.waitFor(
      async () => (await call<{ id: string }[]>(cluster.api, 'GET', '/nodes')).body.length === 1,
      20_000,
      'edge-a to join',
    );
    const instances = [await deploy('slow-echo@^1'), await deploy('blob@^1'), await deploy('measure@^1')];
    for (const workflow of [
      {
        name: 'edge-slow',
        placement: { site: SITE },
        durability: 'durable',
        steps: [{ id: 'wait', service: 'slow-echo@^1', input: { value: '=$input.v', delayMs: '=$input.delayMs' } }],
        output: '=$steps.wait.output.value',
      },
      {
        name: 'edge-big',
        placement: { site: SITE },
        durability: 'durable',
        steps: [
          { id: 'make', service: 'blob@^1', input: { kib: 400 } },
          { id: 'size', service: 'measure@^1', input: { data: '=$steps.make.output.data' } },
        ],
        output: '=$steps.size.output',
      },
      {
        name: 'edge-readings',
        placement: { site: SITE },
        durability: 'durable',
        steps: [{ id: 'wait', service: 'slow-echo@^1', input: { value: '=$input.n' } }],
        triggers: [{ id: 'readings', stream: 'READINGS', site: SITE }],
      },
    ]) {
      expect((await call(cluster.api, 'POST', '/workflows', workflow)).status).toBe(201);
    }
    await cluster.waitFor(
      async () => {
        const [wf, seen, engines] = await Promise.all([
          call(edge, 'GET', '/workflows/edge-readings'),
          call<InstanceRecord[]>(edge, 'GET', '/instances'),
          call<{ kind: string }[]>(cluster.api, 'GET', '/engines'),
        ]);
        return (
          wf.status === 200 &&
          instances.every((id) => seen.body.some((i) => i.id === id && i.status === 'ready')) &&
          engines.body.some((e) => e.kind === 'site')
        );
      },
      30_000,
      'the site engine to know the workflows and instances, and the cloud to know the site engine',
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('cancels and retries a site run through the cloud’s REST: the site engine does it and answers', async () => {
    const started = await call<RunView>(cluster.api, 'POST', '/workflows/edge-slow/runs', {
      input: { v: 'slow', delayMs: 20_000 },
      origin: { nodeId: 'edge-a' },
    });
    expect(started.status).toBe(202);
    expect(started.body.executedBy).toMatchObject({ kind: 'site', id: `site-${SITE}` });
    const id = started.body.id;

    const cancelled = await call<RunView>(cluster.api, 'POST', `/runs/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled', executedBy: { kind: 'site' } });
    expect((await runOn(edge, id)).status).toBe('cancelled');

    const retried = await call<RunView>(cluster.api, 'POST', `/runs/${id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ id, status: 'running', executedBy: { kind: 'site' } });
    expect((await runOn(edge, id)).status).toBe('running');
    // Cancelled again, so it does not hold the instance for 20 s.
    expect((await call<RunView>(cluster.api, 'POST', `/runs/${id}/cancel`)).body.status).toBe('cancelled');

    // A run nobody has is still a 404, with the executor's message.
    const unknown = await call<{ message: string }>(cluster.api, 'POST', '/runs/no-such-run/cancel');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/unknown run "no-such-run"/);
  });

  it('cancels a cloud run sent to the site engine: forwarded to the cloud, which executes it', async () => {
    const started = await call<RunView>(edge, 'POST', '/workflows/edge-slow/runs', {
      input: { v: 'cloud', delayMs: 20_000 },
      engine: 'cloud',
    });
    expect(started.status).toBe(202);
    expect(started.body.executedBy?.kind).toBe('cloud');
    const cancelled = await call<RunView>(edge, 'POST', `/runs/${started.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', executedBy: { kind: 'cloud' } });
    expect((await runOn(cluster.api, started.body.id)).status).toBe('cancelled');
  });

  it('lists each site run once in the cloud’s GET /runs, running and finished', async () => {
    const finished = await call<RunView>(edge, 'POST', '/workflows/edge-slow/runs?wait=20000', {
      input: { v: 'done', delayMs: 0 },
    });
    expect(finished.body).toMatchObject({ status: 'succeeded', executedBy: { kind: 'site' } });
    const running = await call<RunView>(edge, 'POST', '/workflows/edge-slow/runs', {
      input: { v: 'going', delayMs: 5_000 },
    });
    // Listings are cached for a second.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const listed = (await call<RunView[]>(cluster.api, 'GET', '/runs?workflow=edge-slow&limit=1000')).body;
    const ids = listed.map((r) => r.id);
    expect(ids.length).toBe(new Set(ids).size);
    expect(listed.filter((r) => r.id === finished.body.id)).toEqual([
      expect.objectContaining({ status: 'succeeded', executedBy: expect.objectContaining({ kind: 'site' }) }),
    ]);
    expect(listed.filter((r) => r.id === running.body.id)).toEqual([
      expect.objectContaining({ status: 'running', executedBy: expect.objectContaining({ kind: 'site' }) }),
    ]);
    await settled(edge, running.body.id);
  });

  it('a stream trigger of the site consumes a stream in the site’s JetStream domain', async () => {
    const leaf = (await cluster.client('leaf')).connection;
    // The stream is the site's: created in its domain (on the leaf), where the site publishes.
    const jsm = await jetstreamManager(leaf, { domain: SITE });
    await jsm.streams.add({ name: 'READINGS', subjects: ['site.readings.>'] });
    const trigger = async () =>
      (
        await call<{ triggers: { id: string; state: string; site: string; reason?: string }[] }>(
          edge,
          'GET',
          '/workflows/edge-readings',
        )
      ).body.triggers[0];
    await cluster.waitFor(
      async () => (await trigger()).state === 'active',
      20_000,
      'the site engine’s stream trigger to be active',
    );
    expect(await trigger()).toMatchObject({ site: SITE, state: 'active' });
    const js = jetstream(leaf, { domain: SITE });
    for (let n = 1; n <= 3; n++) await js.publish('site.readings.t1', JSON.stringify({ n }));
    const runs = await cluster.waitFor(
      async () => {
        const list = (await call<RunView[]>(edge, 'GET', '/runs?workflow=edge-readings')).body;
        return list.length === 3 && list.every((r) => r.status === 'succeeded') ? list : undefined;
      },
      30_000,
      'three runs of the site’s stream trigger',
    );
    for (const run of runs) expect(run.executedBy).toMatchObject({ kind: 'site', id: `site-${SITE}` });
    // The hub's domain has no such stream: the trigger did not read from there.
    const hubJsm = await jetstreamManager((await cluster.client('hub')).connection);
    await expect(hubJsm.streams.info('READINGS')).rejects.toThrow(/stream not found/);
  });

  it('keeps large step outputs of a site run in the site’s JetStream domain', async () => {
    const { body } = await call<RunView>(edge, 'POST', '/workflows/edge-big/runs?wait=30000', { input: {} });
    expect(body).toMatchObject({ status: 'succeeded', output: { length: 400 * 1024, allX: true } });
    expect(body.executedBy?.kind).toBe('site');
    // The blob's output went by reference, to the object store of the site's domain.
    const make = body.steps?.find((s) => s.id === 'make');
    expect(make?.output).toMatchObject({ data: { $ybRef: { bucket: `yb-payloads-${SITE}`, domain: SITE } } });
  });

  it('says the site engine is not live (503, how long silent) when it is gone', async () => {
    const started = await call<RunView>(edge, 'POST', '/workflows/edge-slow/runs', {
      input: { v: 'orphan', delayMs: 20_000 },
    });
    expect(started.body.executedBy?.kind).toBe('site');
    // The cloud reads the run from the site engine (it never reads the site's store): from then
    // on it knows which engine executes it, also once that engine is gone.
    expect((await call<RunView>(cluster.api, 'GET', `/runs/${started.body.id}`)).body.executedBy?.kind).toBe('site');
    siteEngine.child.kill('SIGKILL');
    await new Promise((resolve) => siteEngine.child.once('exit', resolve));
    await waitUntil(
      async () => !(await call<{ kind: string }[]>(cluster.api, 'GET', '/engines')).body.some((e) => e.kind === 'site'),
      20_000,
      'the cloud to lose the site engine',
      100,
    );
    const refused = await call<{ code: string; message: string }>(
      cluster.api,
      'POST',
      `/runs/${started.body.id}/cancel`,
    );
    expect(refused.status).toBe(503);
    expect(refused.body.message).toMatch(
      new RegExp(
        `^cannot cancel run ${started.body.id}: it is executed by site engine site-${SITE}, which is not live: last heard from \\d+(\\.\\d)? s ago`,
      ),
    );
  });
});
