import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { stopChild } from '@yunbian/common';
import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { ROOT, TestCluster } from './support/cluster';
import { plainNatsConnectOptions } from './support/plain-nats';

jest.setTimeout(120_000);

const SERVICE = path.join(ROOT, 'test/fixtures/plain-nats/thermo-service.mjs');

interface RunView {
  id: string;
  status: string;
  output?: { fahrenheit: number; key: string };
  error?: { code: string; message: string };
  steps: { id: string; state: string; history: { node?: string; instance?: string }[] }[];
}

/**
 * The wire contract (docs/wire-contract.md) is enough to write a service: a process with only
 * a NATS client announces itself as a node with one instance, heartbeats, and serves a
 * workflow step the orchestrator places on it, with the idempotency key and the error reply
 * the contract describes.
 */
describe('a service speaking the wire contract over plain NATS', () => {
  let cluster: TestCluster;
  let service: ChildProcess;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    const log = createWriteStream(path.join(cluster.logDir, 'plain-thermo.log'));
    service = spawn(process.execPath, [SERVICE], {
      cwd: ROOT,
      env: {
        ...process.env,
        YB_NATS_OPTIONS: JSON.stringify(plainNatsConnectOptions(cluster.nats)),
        YB_NODE_ID: 'plain-1',
        YB_INSTANCE_ID: 'plain-1-thermo',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    service.stdout?.pipe(log);
    service.stderr?.pipe(log);
  });

  afterAll(async () => {
    if (service) await stopChild(service, 'SIGTERM', 5_000);
    await cluster?.stop();
  });

  it('imports nothing but the NATS client (and node:fs, to read its credentials)', () => {
    const imports = [...readFileSync(SERVICE, 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports).toEqual(['node:fs', '@nats-io/transport-node']);
  });

  it('joins the catalogue as a node with a ready instance', async () => {
    const instance = await cluster.waitFor(
      async () => {
        const list = await cluster.get<InstanceRecord[]>('/instances?service=plain-thermo');
        return list.find((i) => i.status === 'ready');
      },
      30_000,
      'the plain instance ready',
    );
    expect(instance).toMatchObject({ id: 'plain-1-thermo', nodeId: 'plain-1', subject: 'yb.inst.plain-1-thermo' });
    const node = await cluster.get<NodeRecord>('/nodes/plain-1');
    expect(node).toMatchObject({
      status: 'alive',
      services: ['plain-thermo@1.0.0'],
      labels: { runtime: 'plain-nats' },
    });
  });

  it('serves a workflow step, and its error reply fails the run with its code and message', async () => {
    const created = await cluster.call('POST', '/workflows', {
      name: 'plain-convert',
      steps: [{ id: 'convert', service: 'plain-thermo@^1', input: { celsius: '=$input.celsius' } }],
      output: '=$steps.convert.output',
    });
    expect(created.status).toBe(201);
    const ok = (await cluster.call('POST', '/workflows/plain-convert/runs?wait=30000', { input: { celsius: 100 } }))
      .body as unknown as RunView;
    expect(ok.status).toBe('succeeded');
    expect(ok.output?.fahrenheit).toBe(212);
    // The engine's idempotency key: run, step, attempt.
    expect(ok.output?.key).toBe(`${ok.id}:convert:1`);
    expect(ok.steps[0].history[0]).toMatchObject({ node: 'plain-1', instance: 'plain-1-thermo' });

    const bad = (await cluster.call('POST', '/workflows/plain-convert/runs?wait=30000', { input: { celsius: 'hot' } }))
      .body as unknown as RunView;
    expect(bad.status).toBe('failed');
    expect(bad.error?.code).toBe('VALIDATION_FAILED');
    expect(bad.error?.message).toContain('needs a number "celsius"');
  });
});
