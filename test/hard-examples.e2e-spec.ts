/**
 * Hard examples by tier and the samples trigger on real NATS, without the testbed: the hub and
 * one edge site's leaf (compose/nats configs, with the site's `deny_exports`), the cloud
 * orchestrator on the hub, the site engine and an edge agent on the leaf with two digit models
 * (onnxruntime). Tiered runs at the site collect their hard examples: public ones reach the
 * hub's `yb-samples`, edge-private ones the site's and never the hub's, user-private ones are
 * counted and kept nowhere. The site's samples trigger fires once per `count` samples. A
 * subscriber on the hub to `>` records everything that crosses the leaf connection meanwhile:
 * no subject of the site's collections, payload bucket or inboxes, and no message carrying the
 * pixels of a non-public sample.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { PAYLOAD_BUCKET, SAMPLE_STREAM, siteInboxPrefix, type InstanceRecord } from '@yunbian/contracts';
import { toWire } from '@yunbian/inference';
import { DIGIT_PIXELS, DIGITS_INPUT, digitsPart } from '@yunbian/learning';
import type { SampleAnswer } from '@yunbian/workflow';
import { ROOT } from './support/cluster';
import { LeafCluster } from './support/leaf-cluster';
import { restCall, restFetch } from './support/rest-client';

const SITE = 'factory-sz';
const BATCH = 100;
/** The trigger's count: 3 edge-private runs of 100 give it two fires. */
const COUNT = 120;
const ANNOUNCE = { YUNBIAN_ENGINE_ANNOUNCE_MS: '500' };

jest.setTimeout(180_000);

interface RunView {
  id: string;
  status: string;
  input?: unknown;
  error?: { message: string };
  output?: { samples?: SampleAnswer[]; value?: Record<string, number> };
  executedBy?: { kind: string; site?: string };
}

/** Runs of BATCH held-out digits, a run per tier: `[from, to)` of the held-out set. */
const RUNS = {
  public: [0, 100],
  'edge-private': [100, 400],
  'user-private': [400, 500],
} as const;

/**
 * How a sample's pixels could travel: its float32 bytes, or base64 of them at any of the three
 * alignments a row can have inside a longer base64 string (96 bytes from the first ink).
 */
function pixelTags(images: Float32Array, rows: number): { raw: Buffer[]; b64: string[] } {
  const raw: Buffer[] = [];
  const b64: string[] = [];
  for (let r = 0; r < rows; r += 7) {
    const image = images.subarray(r * DIGIT_PIXELS, (r + 1) * DIGIT_PIXELS);
    const first = image.findIndex((v) => v > 0.2);
    const bytes = Buffer.from(Float32Array.from(image.subarray(first, first + 24)).buffer);
    raw.push(bytes);
    for (let a = 0; a < 3; a++) b64.push(bytes.subarray(a, a + 90).toString('base64'));
  }
  return { raw, b64 };
}

describe('hard examples by tier and the samples trigger (hub + leaf nats-servers, site engine, onnxruntime)', () => {
  let cluster: LeafCluster;
  let edge: string;
  const heldOut = digitsPart('heldOut');
  const privateRows = heldOut.images.subarray(RUNS['edge-private'][0] * DIGIT_PIXELS, 500 * DIGIT_PIXELS);
  const tags = pixelTags(privateRows, 400);
  const seen = {
    messages: 0,
    subjects: new Map<string, number>(),
    withPixels: [] as string[],
    /** Messages to the site's inboxes that carry a collected sample's headers (the site's JetStream delivering to its trigger). */
    siteDeliveries: 0,
  };
  const carries = (data: Uint8Array) => {
    if (data.length < 96) return false;
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (tags.raw.some((t) => b.includes(t))) return true;
    const text = b.toString('latin1');
    return tags.b64.some((t) => text.includes(t));
  };

  const call = <T>(base: string, method: string, route: string, body?: unknown) =>
    restCall<T>(base, cluster.adminKey, method, route, body, 60_000);

  beforeAll(async () => {
    cluster = await LeafCluster.start(SITE);
    const hub = await cluster.client('hub');
    // Everything published on the hub or crossing the leaf connection to it, from now on.
    hub.connection.subscribe('>', {
      callback: (_err, msg) => {
        seen.messages++;
        const key = msg.subject.startsWith('_INBOX')
          ? msg.subject.split('.')[0]
          : msg.subject.split('.').slice(0, 3).join('.');
        seen.subjects.set(key, (seen.subjects.get(key) ?? 0) + 1);
        if (carries(msg.data)) seen.withPixels.push(msg.subject);
        if (msg.subject.startsWith(`${siteInboxPrefix(SITE)}.`) && msg.headers?.get('Yb-Sample-Label'))
          seen.siteDeliveries++;
      },
    });
    await cluster.startOrchestrator(ANNOUNCE);
    cluster.startAgent({ id: 'edge-a', site: SITE, tier: 'edge', memoryMb: 4096, costPerHour: 0.08 }, 'leaf', {
      YUNBIAN_HEARTBEAT_MS: '500',
      YUNBIAN_JS_DOMAIN: 'hub',
    });
    ({ url: edge } = await cluster.startSiteEngine(SITE, ANNOUNCE));
    await cluster.waitFor(
      async () => (await fetch(`${edge}/health/ready`).catch(() => undefined))?.ok,
      30_000,
      'the site engine to be ready',
    );
    await cluster.waitFor(
      async () => (await call<{ id: string }[]>(cluster.api, 'GET', '/nodes')).body.length === 1,
      20_000,
      'edge-a to join',
    );
    // digits@1: the device model (the first tier), digits@2: the cloud model, both at the site.
    for (const file of ['digits-device.onnx', 'digits-cloud.onnx']) {
      const response = await restFetch(cluster.api, '/models?name=digits', cluster.adminKey, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: readFileSync(path.join(ROOT, 'models/digits', file)),
      });
      expect(response.status).toBe(201);
    }
    const ids: string[] = [];
    for (const request of [
      { service: 'onnx-inference', nodeId: 'edge-a', config: { model: 'digits@1', maxBatch: 128, maxDelayMs: 1 } },
      { service: 'onnx-inference', nodeId: 'edge-a', config: { model: 'digits@2', maxBatch: 128, maxDelayMs: 1 } },
      { service: 'echo', nodeId: 'edge-a' },
    ]) {
      const { status, body } = await call<InstanceRecord>(cluster.api, 'POST', '/instances', request);
      expect(status).toBe(201);
      ids.push(body.id);
    }
    // A tiered step per tier. The first tier's rule sends on every sample short of certainty
    // (crossEntropy < 1), so the second tier gets about the whole batch: too large for one
    // message, it goes by reference through the site's payload bucket like the step input.
    for (const tier of Object.keys(RUNS)) {
      const created = await call(cluster.api, 'POST', '/workflows', {
        name: `classify-${tier}`,
        placement: { site: SITE, dataTier: tier },
        steps: [
          {
            id: 'classify',
            input: '$input',
            tiers: [
              { service: 'onnx-inference@^1', model: 'digits@1', hard: { rule: 'crossEntropy', threshold: 1 } },
              { service: 'onnx-inference@^1', model: 'digits@2' },
            ],
            collect: { dataset: `hard-${tier}` },
          },
        ],
        output: '$steps.classify.output',
      });
      expect(created.status).toBe(201);
    }
    const trigger = await call(cluster.api, 'POST', '/workflows', {
      name: 'retrain-edge',
      placement: { site: SITE },
      triggers: [
        { id: 'retrain', site: SITE, samples: { dataset: 'hard-edge-private', count: COUNT, windowSeconds: 600 } },
      ],
      steps: [{ id: 'note', service: 'echo@^1', input: { value: '=$input' } }],
      output: '$steps.note.output',
    });
    expect(trigger.status).toBe(201);
    let lastTrigger: unknown;
    await cluster
      .waitFor(
        async () => {
          const [wf, instances] = await Promise.all([
            call<{ triggers?: { state?: string }[] }>(edge, 'GET', '/workflows/retrain-edge'),
            call<InstanceRecord[]>(edge, 'GET', '/instances'),
          ]);
          lastTrigger = wf.body.triggers?.[0];
          return (
            wf.status === 200 &&
            ids.every((id) => instances.body.some((i) => i.id === id && i.status === 'ready')) &&
            wf.body.triggers?.[0]?.state === 'active'
          );
        },
        90_000,
        'the site engine to know the workflows, their trigger active and the instances ready',
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}; the trigger: ${JSON.stringify(lastTrigger)}`);
      });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps each tier’s hard examples where it may be kept, fires the trigger once per count, and nothing private crosses the leaf', async () => {
    const hard: Record<string, number> = {};
    const runIds: string[] = [];
    for (const [tier, [from, to]] of Object.entries(RUNS)) {
      hard[tier] = 0;
      for (let at = from; at < to; at += BATCH) {
        const images = heldOut.images.subarray(at * DIGIT_PIXELS, (at + BATCH) * DIGIT_PIXELS);
        const input = {
          inputs: { [DIGITS_INPUT]: toWire({ dims: [BATCH, 1, 28, 28], data: images }) },
          labels: Array.from(heldOut.labels.subarray(at, at + BATCH)),
        };
        const { body } = await call<RunView>(edge, 'POST', `/workflows/classify-${tier}/runs?wait=60000`, {
          input,
          origin: { nodeId: 'edge-a' },
        });
        expect({ status: body.status, error: body.error?.message, kind: body.executedBy?.kind }).toEqual({
          status: 'succeeded',
          error: undefined,
          kind: 'site',
        });
        // The input went by reference to the site's own payload bucket.
        expect(body.input).toMatchObject({ $ybRef: { bucket: `${PAYLOAD_BUCKET}-${SITE}`, domain: SITE } });
        runIds.push(body.id);
        hard[tier] += body.output!.samples!.filter((s) => s.tier > 0).length;
      }
    }
    // Nearly every sample is a hard example by the rule; a few certain ones may not be.
    for (const [tier, [from, to]] of Object.entries(RUNS)) expect(hard[tier]).toBeGreaterThan(0.8 * (to - from));

    const hub = await cluster.client('hub');
    const hubJsm = await jetstreamManager(hub.connection);
    const siteJsm = await jetstreamManager(hub.connection, { domain: SITE });
    const subjects = async (jsm: typeof hubJsm) =>
      (await jsm.streams.info(SAMPLE_STREAM, { subjects_filter: '>' }).catch(() => undefined))?.state.subjects ?? {};
    // The collector appends after each run ends: wait for the last collection.
    await cluster.waitFor(
      async () => (await subjects(siteJsm))[`yb.samples.${SITE}.hard-edge-private`] === hard['edge-private'],
      30_000,
      `${hard['edge-private']} edge-private samples in the site's ${SAMPLE_STREAM}`,
    );
    const onHub = await cluster.waitFor(
      async () => {
        const s = await subjects(hubJsm);
        return s['yb.samples.cloud.hard-public'] === hard.public ? s : undefined;
      },
      30_000,
      `${hard.public} public samples in the hub's ${SAMPLE_STREAM}`,
    );
    // The hub holds the public collection only; the site holds its edge-private one only.
    expect(onHub).toEqual({ 'yb.samples.cloud.hard-public': hard.public });
    expect(await subjects(siteJsm)).toEqual({ [`yb.samples.${SITE}.hard-edge-private`]: hard['edge-private'] });
    // User-private ones: kept nowhere, counted in the site engine's log.
    const notKept = () =>
      readFileSync(path.join(cluster.logDir, 'site-engine.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('hard examples not kept') && l.includes('hard-user-private'))
        .reduce((n, l) => n + (JSON.parse(l.slice(l.indexOf('{'))) as { samples: number }).samples, 0);
    await cluster.waitFor(async () => notKept() === hard['user-private'], 15_000, 'the user-private samples counted');

    // The trigger: one fire per COUNT samples in the window (the first at exactly the COUNT-th).
    const fires = await cluster.waitFor(
      async () => {
        const { body } = await call<RunView[]>(edge, 'GET', '/runs?workflow=retrain-edge');
        const done = body.filter((r) => r.status === 'succeeded');
        return done.length >= Math.floor(hard['edge-private'] / COUNT) ? done : undefined;
      },
      30_000,
      'the samples trigger to fire',
    );
    // Nothing more fires: what is left is below the count.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const all = (await call<RunView[]>(edge, 'GET', '/runs?workflow=retrain-edge')).body;
    expect(all).toHaveLength(Math.floor(hard['edge-private'] / COUNT));
    const data = await Promise.all(
      fires.map(async (r) => (await call<RunView>(edge, 'GET', `/runs/${r.id}`)).body.output!.value!),
    );
    data.sort((a, b) => a.fromSeq - b.fromSeq);
    expect(data[0]).toMatchObject({ reason: 'count', samples: COUNT, fromSeq: 1, toSeq: COUNT });
    for (let i = 1; i < data.length; i++) {
      expect(data[i].fromSeq).toBe(data[i - 1].toSeq + 1);
      expect(data[i].samples).toBeGreaterThanOrEqual(COUNT);
    }

    // What crossed the leaf connection: the runs' facts and the public samples, nothing of the site's own.
    const crossed = [...seen.subjects.keys()];
    expect(crossed).toContain('yb.samples.cloud');
    expect(crossed.filter((s) => s.startsWith(`yb.samples.${SITE}`))).toEqual([]);
    expect(crossed.filter((s) => s.startsWith(`$O.${PAYLOAD_BUCKET}-${SITE}`))).toEqual([]);
    // Messages to the site's inboxes are seen here too: the hub's answers to the site (its
    // JetStream, the registry) on their way there. What the site's own JetStream delivered to
    // its trigger (the samples' headers) never is.
    expect(seen.siteDeliveries).toBe(0);
    expect(seen.withPixels).toEqual([]);
    // The hub's payload bucket holds none of the site's payloads (no shared chunk subjects).
    const hubPayloads = await new Objm(jetstream(hub.connection)).open(PAYLOAD_BUCKET);
    const names = (await hubPayloads.list()).map((o) => o.name);
    expect(names.filter((n) => runIds.some((id) => n.startsWith(id)))).toEqual([]);
    // The search finds pixels where they are: a control message carrying some is caught.
    const control = Buffer.concat([Buffer.alloc(64), Buffer.from(tags.b64[4]), Buffer.alloc(64)]);
    hub.connection.publish('yb.test.control', control);
    await cluster.waitFor(async () => seen.withPixels.includes('yb.test.control'), 10_000, 'the control message');
    process.stdout.write(
      `[hard-examples] hard: ${JSON.stringify(hard)}; trigger fires: ${data.map((d) => `${d.fromSeq}-${d.toSeq}`).join(', ')}; hub subscriber: ${seen.messages} messages on ${seen.subjects.size} subject prefixes\n`,
    );
  });
});
