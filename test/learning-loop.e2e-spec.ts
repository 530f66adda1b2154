/**
 * @jest-environment ./libs/ocr/onnx-test-environment.js
 */
/**
 * Stages 1 and 2 of the learning loop on the testbed: the cloud and two edge sites, each
 * with its own camera shift, a site engine and an edge node (1 core) running the training
 * service. Stage 1 is the committed cloud model (trained in the cloud on the public digits);
 * stage 2 fine-tunes it at each site on that site's shifted share of the edge pool, generated
 * at the site, with checkpoints in the site's JetStream domain. The result is registered in
 * the hub's registry (a model, not the data). Then the hub is searched: every stream and
 * object store it holds, and every message a `>` subscriber on it saw during the test, for
 * the bytes of the sites' samples. Needs root: skipped with a printed reason otherwise.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { TRAINING_CHECKPOINT_BUCKET, type InstanceRecord, type TrainingResult } from '@yunbian/contracts';
import { DIGIT_PIXELS, SITE_SHIFTS, edgeShare, loadDigits, shiftDigits, sliceDigits } from '@yunbian/learning';
import type { ModelMeta } from '@yunbian/models';
import { NatsTransport } from '@yunbian/transport';
import * as ort from 'onnxruntime-node';
import { Testbed } from '../tools/testbed/testbed';
import { PORTS } from '../tools/testbed/plan';
import type { Topology } from '../tools/testbed/topology';
import { describeOnTestbed, jsonCall, tolerantWait } from './support/testbed-suite';

const SITES = [
  { site: 'factory-a', node: 'edge-a', shift: 'tilted-soft' as const },
  { site: 'factory-b', node: 'edge-b', shift: 'thick-faded' as const },
];
const CLOUD_MODEL = readFileSync(path.resolve(__dirname, '../models/digits/digits-cloud.onnx'));

const TOPOLOGY: Topology = {
  name: 'learning-loop',
  sites: [
    {
      name: 'cloud',
      kind: 'cloud',
      nodes: [{ id: 'cloud-1', tier: 'cloud', tags: [], memoryMb: 4096, costPerHour: 2.4 }],
    },
    ...SITES.map((s) => ({
      name: s.site,
      kind: 'edge' as const,
      uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 },
      nodes: [{ id: s.node, tier: 'edge' as const, tags: [], memoryMb: 2048, costPerHour: 0.08, limits: { cpu: 1 } }],
    })),
  ],
};

jest.setTimeout(240_000);

interface RunView {
  id: string;
  status: string;
  error?: { message: string };
  output?: TrainingResult;
  executedBy?: { kind: string; site?: string };
}

/** 256-byte windows of the sites' edge samples as the training service sees them (from each sample's first ink). */
function sampleTags(): Buffer[] {
  const tags: Buffer[] = [];
  SITES.forEach(({ shift }, i) => {
    const share = edgeShare(i, SITES.length);
    const shifted = shiftDigits(sliceDigits(loadDigits(), share.from, share.to), SITE_SHIFTS[shift]);
    for (let k = 0; k < shifted.count; k += 25) {
      const image = shifted.images.subarray(k * DIGIT_PIXELS, (k + 1) * DIGIT_PIXELS);
      const first = image.findIndex((v) => v > 0.2);
      tags.push(Buffer.from(Float32Array.from(image.subarray(first, first + 64)).buffer));
    }
  });
  return tags;
}

async function accuracyOnnx(bytes: Uint8Array, images: Float32Array, labels: Uint8Array): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const out = await session.run({
    image: new ort.Tensor('float32', Float32Array.from(images), [labels.length, 1, 28, 28]),
  });
  const p = out.probabilities.data as Float32Array;
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (p[i * 10 + k] > p[i * 10 + best]) best = k;
    if (best === labels[i]) right++;
  }
  await session.release();
  return right / labels.length;
}

describeOnTestbed('learning loop')('the learning loop, stages 1 and 2, on the testbed', () => {
  let bed: Testbed;
  let hub: NatsTransport;
  const tags = sampleTags();
  const carrying = (data: Uint8Array) => {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return b.length >= 256 && tags.some((t) => b.includes(t));
  };
  const seen = { messages: 0, bytes: 0, subjects: new Set<string>(), withSamples: [] as string[] };
  const waitFor = tolerantWait(() => bed.logDir, 500);

  beforeAll(async () => {
    bed = await Testbed.start(TOPOLOGY, {
      port: 0,
      heartbeatMs: 1000,
      say: (l) => process.stdout.write(`[testbed] ${l}\n`),
    });
    hub = await NatsTransport.connect({
      servers: (await bed.forwardPort('cloud', PORTS.nats)).replace('http://', 'nats://'),
      name: 'learning-loop test',
    });
    // Everything published on the hub, or crossing a leaf connection to it, from now on.
    hub.connection.subscribe('>', {
      callback: (_err, msg) => {
        seen.messages++;
        seen.bytes += msg.data.length;
        seen.subjects.add(msg.subject.startsWith('_INBOX.') ? '_INBOX' : msg.subject.split('.').slice(0, 3).join('.'));
        if (carrying(msg.data)) seen.withSamples.push(msg.subject);
      },
    });
    const upload = await bed.fetch(`/models?name=digits-cloud`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: CLOUD_MODEL,
    });
    expect(upload.status).toBe(201);
    const ids: string[] = [];
    for (const { node } of SITES) {
      const { status, body } = await jsonCall<InstanceRecord>(bed.api, 'POST', '/instances', {
        service: 'training',
        nodeId: node,
      });
      expect(status).toBe(201);
      ids.push(body.id);
    }
    for (const [i, { site, shift }] of SITES.entries()) {
      const created = await jsonCall(bed.api, 'POST', '/workflows', {
        name: `stage2-${site}`,
        placement: { site },
        steps: [
          {
            id: 'train',
            service: 'training',
            timeoutMs: 200_000,
            input: {
              base: 'digits-cloud@1',
              training: [{ digits: { part: 'edge', share: { index: i, of: SITES.length }, shift } }],
              validation: { digits: { part: 'heldOut', shift } },
              hyperParameters: { epochs: 1, learningRate: 5e-4, seed: 7 },
              register: `digits-${site}`,
            },
          },
        ],
        output: '$steps.train.output',
      });
      expect(created.status).toBe(201);
    }
    for (const { site } of SITES) {
      const engine = await bed.siteEngineApi(site);
      await waitFor(
        async () => {
          const [wf, seenInstances] = await Promise.all([
            jsonCall(engine, 'GET', `/workflows/stage2-${site}`),
            jsonCall<InstanceRecord[]>(engine, 'GET', '/instances'),
          ]);
          return wf.status === 200 && seenInstances.body.some((x) => ids.includes(x.id) && x.status === 'ready');
        },
        60_000,
        `the site engine of ${site} to know the workflow and its training instance`,
      );
    }
  });

  afterAll(async () => {
    await hub?.close().catch(() => undefined);
    await bed?.stop();
  });

  it('stage 2 at each site wins back what its shift cost stage 1, and no edge sample reaches the hub', async () => {
    const heldOut = sliceDigits(loadDigits(), 8_000, 10_000);
    const plain = await accuracyOnnx(CLOUD_MODEL, heldOut.images, heldOut.labels);
    const runs = await Promise.all(
      SITES.map(async ({ site }) => {
        const engine = await bed.siteEngineApi(site);
        const { status, body } = await jsonCall<RunView>(engine, 'POST', `/workflows/stage2-${site}/runs`, {
          input: {},
        });
        expect(status).toBeLessThan(300);
        return waitFor(
          async () => {
            const run = (await jsonCall<RunView>(engine, 'GET', `/runs/${body.id}`)).body;
            return run.status === 'succeeded' || run.status === 'failed' ? run : undefined;
          },
          200_000,
          `stage 2 at ${site}`,
        );
      }),
    );
    const table: string[] = [];
    for (const [i, run] of runs.entries()) {
      const { site, node } = SITES[i];
      expect(run.error).toBeUndefined();
      expect(run).toMatchObject({ status: 'succeeded', executedBy: { kind: 'site', site } });
      const lineage = run.output!.lineage;
      expect(lineage.node).toBe(node);
      expect(lineage.checkpointDomain).toBe(site);
      expect(lineage.datasets.training[0]).toMatchObject({ privacy: 'edge-private', count: 1_000 });
      const stage1 = lineage.metrics.parentValidationAccuracy!;
      const stage2 = lineage.metrics.validationAccuracy;
      table.push(`${site}: unshifted ${plain}, stage 1 ${stage1}, stage 2 ${stage2}`);
      expect(plain - stage1).toBeGreaterThanOrEqual(0.08);
      expect(stage2 - stage1).toBeGreaterThanOrEqual(0.05);
      // Registered in the hub's registry with its lineage: a model, not the data.
      const meta = (await jsonCall<ModelMeta>(bed.api, 'GET', `/models/digits-${site}/versions/1`)).body;
      expect(meta.training?.parent).toMatchObject({ name: 'digits-cloud', version: 1 });
    }
    process.stdout.write(`[learning-loop] ${table.join('; ')}\n`);

    // Every stream and object store on the hub: no checkpoint bucket, no sample bytes.
    const jsm = await jetstreamManager(hub.connection);
    const streams: string[] = [];
    const stored: string[] = [];
    for await (const info of jsm.streams.list()) {
      streams.push(info.config.name);
      const last = Math.min(info.state.last_seq, info.state.first_seq + 5_000);
      for (let seq = info.state.first_seq; seq <= last && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(info.config.name, { seq }).catch(() => null);
        if (m && carrying(m.data)) stored.push(`${info.config.name}#${seq} ${m.subject}`);
      }
    }
    expect(streams).toContain('OBJ_yb-models');
    expect(streams).not.toContain(`OBJ_${TRAINING_CHECKPOINT_BUCKET}`);
    expect(stored).toEqual([]);
    // The subscriber saw the traffic (the runs' facts, the registrations), none of it samples.
    expect(seen.messages).toBeGreaterThan(100);
    // The subscriber's interest draws even the sites' own JetStream writes across their leaf
    // connections (checkpoint chunks: weights, not samples), so it saw what the sites wrote.
    expect([...seen.subjects]).toContain(`$O.${TRAINING_CHECKPOINT_BUCKET}.C`);
    expect(seen.withSamples).toEqual([]);
    // The search finds samples where they are: a control message carrying one is caught.
    hub.connection.publish('yb.test.control', Buffer.concat([Buffer.alloc(300), tags[0], Buffer.alloc(300)]));
    await hub.flush();
    await waitFor(async () => seen.withSamples.includes('yb.test.control'), 10_000, 'the control message');
    process.stdout.write(
      `[learning-loop] hub: ${streams.length} streams, subscriber saw ${seen.messages} messages (${seen.bytes} bytes) on ${[...seen.subjects].sort().join(', ')}\n`,
    );
  });
});
