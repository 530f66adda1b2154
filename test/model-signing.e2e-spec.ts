import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { InstanceRecord } from '@yunbian/contracts';
import {
  addBiasModel,
  MODEL_BUCKET,
  MODEL_META_BUCKET,
  modelMetaKey,
  publicKeyPem,
  type ModelMeta,
} from '@yunbian/models';
import { generateSigningKeyPem } from '../apps/orchestrator/src/models/model-signing';
import { TestCluster } from './support/cluster';

jest.setTimeout(180_000);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const SIGNING_KEY = generateSigningKeyPem();
const PUBLIC_KEY = publicKeyPem(createPrivateKey(SIGNING_KEY));
const ORIGINAL = addBiasModel(4, 0);
const FORGED = addBiasModel(4, 666);

/**
 * Signed models across processes: the registry signs each version; an attacker who can
 * write the object store and the registry's KV replaces a version's bytes AND its sha256
 * (so the hash check alone passes), and every node that tries the version refuses it —
 * one configured with the registry's public key, one trusting the published key on first use.
 */
describe('signed models (real nats-server, orchestrator, two agents)', () => {
  let cluster: TestCluster;

  const startInstance = async (nodeId: string, model: string): Promise<InstanceRecord> => {
    const { status, body } = await cluster.call('POST', '/instances', {
      service: 'onnx-inference',
      nodeId,
      config: { model },
    });
    expect(status).toBe(201);
    const id = (body as unknown as InstanceRecord).id;
    return cluster.waitFor(
      async () => {
        const i = await cluster.get<InstanceRecord>(`/instances/${id}`);
        return i.status === 'ready' || (i.status === 'failed' && i.lastError) ? i : undefined;
      },
      90_000,
      `instance of ${model} on ${nodeId} ready or failed`,
    );
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({ YUNBIAN_MODEL_SIGNING_KEY: SIGNING_KEY });
    await cluster.startAgentAlive(
      { id: 'keyed', site: 'a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_MODEL_VERIFY_KEY: PUBLIC_KEY, YUNBIAN_SHARED_WORKER: '0' },
    );
    await cluster.startAgentAlive(
      { id: 'tofu', site: 'a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { YUNBIAN_SHARED_WORKER: '0' },
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('signs uploads, and both nodes load a signed version', async () => {
    const upload = await cluster.fetch(`/models?name=bias`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: ORIGINAL,
    });
    expect(upload.status).toBe(201);
    const meta = (await upload.json()) as ModelMeta;
    expect(meta.signature).toMatchObject({ alg: 'ed25519', keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    for (const node of ['keyed', 'tofu']) {
      const instance = await startInstance(node, 'bias@1');
      expect(instance.status).toBe('ready');
      await cluster.call('DELETE', `/instances/${instance.id}?drainTimeoutMs=0`);
    }
  });

  it('refuses, on every node, a version whose bytes and registry sha256 were replaced after signing', async () => {
    const nc = await cluster.client();
    // The attacker writes straight into the object store and the KV record, keeping the signature.
    const store = await new Objm(nc.jetstream()).open(MODEL_BUCKET);
    await store.putBlob({ name: 'bias/1' }, FORGED);
    const kv = await new Kvm(nc.jetstream()).open(MODEL_META_BUCKET);
    const entry = await kv.get(modelMetaKey('bias', 1));
    const signed = entry!.json<ModelMeta>();
    await kv.put(modelMetaKey('bias', 1), JSON.stringify({ ...signed, sha256: sha256(FORGED), size: FORGED.length }));
    expect(sha256(await store.getBlob('bias/1').then((b) => b!))).toBe(sha256(FORGED));

    for (const node of ['keyed', 'tofu']) {
      const instance = await startInstance(node, 'bias@1');
      expect(instance.status).toBe('failed');
      expect(instance.lastError).toContain('model bias v1 was refused');
      expect(instance.lastError).toContain('signature does not match its name, version and sha256');
    }
    // Each refusal is an audit line in the node's log (the worker's output goes there).
    const logs = ['keyed', 'tofu'].map((id) => readFileSync(cluster.procs.find((p) => p.name === id)!.log, 'utf8'));
    for (const log of logs) expect(log).toMatch(/"audit":"model.refused"/);
  });

  it('refuses an unsigned version too', async () => {
    const nc = await cluster.client();
    const kv = await new Kvm(nc.jetstream()).open(MODEL_META_BUCKET);
    const current = (await kv.get(modelMetaKey('bias', 1)))!.json<ModelMeta>();
    const { signature: _dropped, ...unsigned } = current;
    await kv.put(modelMetaKey('bias', 1), JSON.stringify(unsigned));
    const instance = await startInstance('keyed', 'bias@1');
    expect(instance.status).toBe('failed');
    expect(instance.lastError).toContain('carries no Ed25519 signature');
  });
});
