/**
 * Data collaboration by privacy tier on a real hub and one edge site's leaf node (compose/nats
 * configs): the cloud orchestrator on the hub, the site engine and an agent at the leaf. The
 * telemetry workflow (workflows/telemetry.yaml) stores readings in the site's own stream and
 * summarises them; the raw readings are in the site's stream and nowhere on the hub (every
 * stream and object store of the hub's domain is read through), and the summaries arrive in
 * the cloud's yb-telemetry-agg, sourced across the leaf, within one window + 5 s.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeliverPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import {
  TELEMETRY_CLOUD_STREAM,
  telemetryAggStream,
  telemetryStream,
  type InstanceRecord,
  type StoredReading,
  type TelemetrySummary,
} from '@yunbian/contracts';
import { FIXTURE_SERVICES, ROOT } from './support/cluster';
import { LeafCluster } from './support/leaf-cluster';
import { restCall, restFetch } from './support/rest-client';

const SITE = 'factory-tm';
/** A second edge site (its own leaf node and domain), where a user moves. */
const SITE_B = 'store-tm';
const WINDOW_S = 10;

jest.setTimeout(180_000);

interface RunView {
  id: string;
  status: string;
  output?: { site: string; stored: number; summaries: TelemetrySummary[] };
  error?: { message?: string };
}

/** Every message of a stream, as text with its subject (ordered consumer from the start). */
async function streamMessages(
  js: ReturnType<typeof import('@nats-io/jetstream').jetstream>,
  stream: string,
): Promise<{ subject: string; text: string }[]> {
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: { subject: string; text: string }[] = [];
  try {
    let left = (await consumer.info()).num_pending;
    while (left > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(left, 500), expires: 5_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        left--;
        out.push({ subject: m.subject, text: Buffer.from(m.data).toString('latin1') });
      }
      if (!got) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

describe('telemetry: raw readings stay at their edge site, public summaries reach the cloud', () => {
  let cluster: LeafCluster;
  let edge: string;
  let hubJsm: JetStreamManager;

  const call = <T>(base: string, method: string, route: string, body?: unknown) =>
    restCall<T>(base, cluster.adminKey, method, route, body, 60_000);

  beforeAll(async () => {
    cluster = await LeafCluster.start(SITE);
    await cluster.startOrchestrator({ YUNBIAN_ENGINE_ANNOUNCE_MS: '500' });
    cluster.startAgent({ id: 'edge-t', site: SITE, tier: 'edge', memoryMb: 2048, costPerHour: 0.08 }, 'leaf', {
      YUNBIAN_HEARTBEAT_MS: '500',
      YUNBIAN_JS_DOMAIN: 'hub',
    });
    // The second site: its leaf node and one agent there, so the catalogue knows the site.
    const leafB = await cluster.addLeaf(SITE_B);
    const nodeB = path.join(cluster.logDir, 'store-u.json');
    writeFileSync(
      nodeB,
      JSON.stringify({ id: 'store-u', site: SITE_B, tier: 'edge', memoryMb: 1024, costPerHour: 0.05 }),
    );
    cluster.spawn('store-u', 'apps/agent/src/main.js', ['--node', nodeB], {
      NATS_URL: leafB.url,
      YUNBIAN_SERVICE_PATH: FIXTURE_SERVICES,
      YUNBIAN_HEARTBEAT_MS: '500',
      YUNBIAN_JS_DOMAIN: 'hub',
    });
    ({ url: edge } = await cluster.startSiteEngine(SITE, { YUNBIAN_ENGINE_ANNOUNCE_MS: '500' }));
    await cluster.waitFor(
      async () => (await restFetch(edge, '/health/ready', cluster.adminKey).catch(() => undefined))?.ok,
      30_000,
      'the site engine to be ready',
    );
    await cluster.waitFor(
      async () => (await call<{ id: string }[]>(cluster.api, 'GET', '/nodes')).body.length === 2,
      30_000,
      'edge-t and store-u to join',
    );
    // The workflow file as the local stack loads it.
    const yaml = readFileSync(path.join(ROOT, 'workflows/telemetry.yaml'), 'utf8');
    const created = await restFetch(cluster.api, '/workflows', cluster.adminKey, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: yaml,
    });
    expect(created.status).toBe(201);
    const instances: string[] = [];
    for (const service of ['telemetry-ingest@^1', 'telemetry-aggregate@^1']) {
      const { status, body } = await call<InstanceRecord>(cluster.api, 'POST', '/instances', {
        service,
        nodeId: 'edge-t',
      });
      expect(status).toBe(201);
      instances.push(body.id);
    }
    await cluster.waitFor(
      async () => {
        const [wf, seen, sites] = await Promise.all([
          call(edge, 'GET', '/workflows/telemetry'),
          call<InstanceRecord[]>(edge, 'GET', '/instances'),
          call<{ sites: string[] }>(cluster.api, 'GET', '/telemetry/sites'),
        ]);
        return (
          wf.status === 200 &&
          instances.every((id) => seen.body.some((i) => i.id === id && i.status === 'ready')) &&
          sites.body.sites.includes(SITE)
        );
      },
      60_000,
      'the site engine to know the workflow and instances, and the cloud to source the site',
    );
    hubJsm = await jetstreamManager((await cluster.client('hub')).connection);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  // Distinct values no summary can equal: each sensor's middle reading (neither its min nor max,
  // and not the mean) and the users' ids. A summary's min and max are readings' values by design.
  const run = Date.now().toString(36);
  const users = [`alice-${run}`, `bob-${run}`];
  const readings = [
    { sensor: 'temp', user: users[0], value: 21.125 },
    { sensor: 'temp', user: users[1], value: 23.171875 },
    { sensor: 'temp', user: users[0], value: 30.5 },
    { sensor: 'hum', user: users[1], value: 40.25 },
    { sensor: 'hum', value: 47.359375 },
    { sensor: 'hum', value: 60.75 },
  ];
  const secretValues = ['23.171875', '47.359375'];

  it('stores the readings at the site, summarises them, and the cloud receives only the summaries', async () => {
    const hubClient = await cluster.client('hub');
    const hubJs = (await import('@nats-io/jetstream')).jetstream(hubClient.connection);
    const started = Date.now();
    const result = await call<RunView>(edge, 'POST', '/workflows/telemetry/runs?wait=60000', {
      input: { readings, windowS: WINDOW_S },
      // Where the readings came from: the site placement keeps them at (edge-private).
      origin: { nodeId: 'edge-t' },
    });
    expect(result.status).toBe(200);
    const done = result.body;
    expect({ status: done.status, error: done.error }).toEqual({ status: 'succeeded', error: undefined });
    expect(done.output).toMatchObject({ site: SITE, stored: readings.length });
    const temp = done.output!.summaries.find((s) => s.sensor === 'temp')!;
    expect(temp).toMatchObject({ site: SITE, count: 3, min: 21.125, max: 30.5 });
    expect(temp.mean).toBeCloseTo((21.125 + 23.171875 + 30.5) / 3, 9);

    // In the cloud: both sensors' summaries of this window, sourced from the site.
    const arrived = await cluster.waitFor(
      async () => {
        const got = await streamMessages(hubJs, TELEMETRY_CLOUD_STREAM).catch(() => []);
        const mine = got
          .map((m) => ({ subject: m.subject, summary: JSON.parse(m.text) as TelemetrySummary }))
          .filter((m) => m.summary.windowEnd === temp.windowEnd);
        return mine.length === 2 ? mine : undefined;
      },
      (WINDOW_S + 5) * 1_000 + 30_000,
      'the summaries to arrive in the cloud stream',
    );
    const delayMs = Date.now() - started;
    process.stdout.write(
      `[telemetry] summaries in the cloud stream ${delayMs} ms after the run was started (bound: window ${WINDOW_S} s + 5 s)\n`,
    );
    expect(delayMs).toBeLessThan((WINDOW_S + 5) * 1_000);
    expect(arrived.map((m) => m.subject).sort()).toEqual([
      `yb.telemetry-agg.${SITE}.hum`,
      `yb.telemetry-agg.${SITE}.temp`,
    ]);
    expect(arrived.find((m) => m.summary.sensor === 'hum')!.summary).toMatchObject({
      count: 3,
      min: 40.25,
      max: 60.75,
    });

    // At the site: every reading in its raw stream, on its tier's subject.
    const leafClient = await cluster.client('leaf');
    const siteJs = (await import('@nats-io/jetstream')).jetstream(leafClient.connection, { domain: SITE });
    const raw = (await streamMessages(siteJs, telemetryStream(SITE))).map((m) => ({
      subject: m.subject,
      reading: JSON.parse(m.text) as StoredReading,
    }));
    expect(raw).toHaveLength(readings.length);
    expect(raw.map((r) => r.reading.value)).toEqual(readings.map((r) => r.value));
    expect(raw.every((r) => r.subject.startsWith(`yb.telemetry.${SITE}.raw.edge-private.`))).toBe(true);
    expect(raw.filter((r) => r.reading.user === users[0])).toHaveLength(2);
  });

  it('holds no raw reading anywhere in the hub’s domain: every stream and object store read through', async () => {
    const hubClient = await cluster.client('hub');
    const hubJs = (await import('@nats-io/jetstream')).jetstream(hubClient.connection);
    const names: string[] = [];
    for await (const info of hubJsm.streams.list()) names.push(info.config.name);
    const stores: string[] = [];
    for await (const status of new Objm(hubClient.connection).list()) stores.push(status.bucket);
    // The site's streams are not mirrored to the hub; the cloud's summary stream is there.
    expect(names).toContain(TELEMETRY_CLOUD_STREAM);
    expect(names).not.toContain(telemetryStream(SITE));
    expect(names).not.toContain(telemetryAggStream(SITE));
    expect(stores.every((b) => names.includes(`OBJ_${b}`))).toBe(true);

    let messages = 0;
    const found: string[] = [];
    for (const name of names) {
      const info = await hubJsm.streams.info(name);
      if ((info.config.subjects ?? []).some((s) => s.startsWith('yb.telemetry.'))) found.push(`${name}: subjects`);
      for (const m of await streamMessages(hubJs, name)) {
        messages++;
        if (m.subject.startsWith(`yb.telemetry.${SITE}.raw`)) found.push(`${name}: ${m.subject}`);
        for (const needle of [...users, ...secretValues])
          if (m.text.includes(needle)) found.push(`${name} ${m.subject}: ${needle}`);
      }
    }
    process.stdout.write(
      `[telemetry] read ${messages} messages of ${names.length} hub streams (${stores.length} object stores)
`,
    );
    expect(messages).toBeGreaterThan(0);
    expect(found).toEqual([]);
  });

  it('refuses a user transfer to a place that is no edge site, saying which sites there are', async () => {
    const refused = await call<{ message: string }>(cluster.api, 'POST', `/telemetry/users/${users[0]}/transfer`, {
      from: SITE,
      to: 'hub',
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain(
      `"to": "hub" is no site of a node in the catalogue (sites: ${SITE}, ${SITE_B})`,
    );
    // The refusal is in the audit log, as every mutating call is.
    const logged = await cluster.waitFor(
      async () => {
        const audit = await call<{ route?: string; status?: number }[]>(cluster.api, 'GET', '/audit?limit=200');
        return audit.body.some((e) => e.route === '/telemetry/users/:user/transfer' && e.status === 400);
      },
      10_000,
      'the refused transfer in the audit log',
    );
    expect(logged).toBe(true);
  });

  it('moves exactly one user’s edge-private readings to the site they moved to, deletes them at the first, and audits it', async () => {
    const moved = await call<{ user: string; from: string; to: string; count: number }>(
      cluster.api,
      'POST',
      `/telemetry/users/${users[0]}/transfer`,
      { from: SITE, to: SITE_B },
    );
    expect(moved).toEqual({ status: 200, body: { user: users[0], from: SITE, to: SITE_B, count: 2 } });

    const { jetstream } = await import('@nats-io/jetstream');
    const hub = (await cluster.client('hub')).connection;
    const read = async (site: string) =>
      (await streamMessages(jetstream(hub, { domain: site }), telemetryStream(site))).map((m) => ({
        subject: m.subject,
        reading: JSON.parse(m.text) as StoredReading,
      }));
    const [atA, atB] = [await read(SITE), await read(SITE_B)];
    // Gone from the first site, the other readings untouched there.
    expect(atA.filter((r) => r.reading.user === users[0])).toEqual([]);
    expect(atA).toHaveLength(readings.length - 2);
    // At the new site: the user's two readings and nothing else, on that site's subjects.
    expect(atB.map((r) => [r.subject, r.reading.user, r.reading.value, r.reading.site])).toEqual([
      [`yb.telemetry.${SITE_B}.raw.edge-private.temp`, users[0], 21.125, SITE_B],
      [`yb.telemetry.${SITE_B}.raw.edge-private.temp`, users[0], 30.5, SITE_B],
    ]);

    // Asked again: nothing left to move, and B still holds two.
    const again = await call<{ count: number }>(cluster.api, 'POST', `/telemetry/users/${users[0]}/transfer`, {
      from: SITE,
      to: SITE_B,
    });
    expect(again.body.count).toBe(0);
    expect(await read(SITE_B)).toHaveLength(2);

    const entry = await cluster.waitFor(
      async () => {
        const audit = await call<{ kind: string; actor: string; details?: Record<string, unknown> }[]>(
          cluster.api,
          'GET',
          '/audit?limit=200',
        );
        return audit.body.find((e) => e.kind === 'telemetry' && e.details?.count === 2);
      },
      10_000,
      'the transfer’s audit record',
    );
    expect(entry.details).toEqual({ user: users[0], from: SITE, to: SITE_B, count: 2 });
    expect(entry.actor).toBeTruthy();
  });
});
