import {
  Subjects,
  type InstanceReport,
  type ModelAlias,
  type NodeAnnouncement,
  type ServiceDescriptor,
} from '@yunbian/contracts';
import { ModelAliasBook } from '@yunbian/models';
import { CatalogRouter } from './catalog-router';
import { CatalogView } from './catalog-view';

const onnx = {
  name: 'onnx-inference',
  version: '1.0.0',
  kind: 'inference',
  description: 'onnx',
  input: {},
  output: {},
  requirements: {},
  concurrency: 4,
} as ServiceDescriptor;

const instance = (id: string, version?: number): InstanceReport => ({
  id,
  service: 'onnx-inference',
  version: '1.0.0',
  status: 'ready',
  subject: Subjects.instance(id),
  inFlight: 0,
  queued: 0,
  restarts: 0,
  startedAt: new Date().toISOString(),
  ...(version === undefined ? {} : { model: { name: 'digits', version, sha256: String(version).repeat(64) } }),
});

const announcement = (instances: InstanceReport[]): NodeAnnouncement => ({
  node: {
    id: 'n1',
    site: 'site-a',
    tier: 'edge',
    arch: 'x64',
    tags: [],
    cpuCores: 2,
    memoryMb: 4096,
    costPerHour: 0,
    labels: {},
  },
  agentStartedAt: '2025-01-01T00:00:00.000Z',
  heartbeatIntervalMs: 1_000,
  services: [onnx],
  instances,
});

const stable = (version: number, canary?: ModelAlias['canary']): ModelAlias => ({
  model: 'digits',
  alias: 'stable',
  version,
  ...(canary ? { canary } : {}),
  setBy: 'anonymous',
  setAt: '2026-01-01T00:00:00.000Z',
});

describe('CatalogRouter routing by model', () => {
  const setUp = () => {
    const view = new CatalogView();
    view.onAnnounce(announcement([instance('v1-a', 1), instance('v2-a', 2), instance('v2-b', 2), instance('bare')]));
    const aliases = new ModelAliasBook();
    const router = new CatalogRouter(view, { aliases, deploymentsOf: (m) => (m === 'digits' ? ['digits-pool'] : []) });
    return { view, aliases, router };
  };

  it('routes a version or range only to instances serving it, and records the model', () => {
    const { router } = setUp();
    for (let i = 0; i < 20; i++) {
      const decision = router.route({ service: 'onnx-inference@^1', model: 'digits@2', splitKey: `k${i}` });
      expect(['v2-a', 'v2-b']).toContain(decision.instance.id);
      expect(decision.model).toBe('digits@2');
      expect(decision.reason).toContain('model digits@2');
    }
    expect(router.route({ service: 'onnx-inference', model: 'digits@<2' }).instance.id).toBe('v1-a');
    // Without a model every instance of the service is a candidate, as before.
    expect(router.route({ service: 'onnx-inference' }).model).toBeUndefined();
  });

  it('resolves stable and canary through the aliases', () => {
    const { router, aliases } = setUp();
    aliases.apply('digits', 'stable', stable(1, { version: 2, share: 0.5 }), 1);
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const d = router.route({ service: 'onnx-inference', model: 'digits@canary', splitKey: `run-${i}:s:` });
      seen.add(d.instance.model!.version);
    }
    expect([...seen]).toEqual([2]);
    const split = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const v = router.route({ service: 'onnx-inference', model: 'digits@stable', splitKey: `run-${i}:s:` }).instance
        .model!.version;
      split.set(v, (split.get(v) ?? 0) + 1);
    }
    expect(split.get(1)).toBeGreaterThan(60);
    expect(split.get(2)).toBeGreaterThan(60);
  });

  it('says when no instance serves the model, which instances serve what, and the deployment serving it', () => {
    const { router } = setUp();
    let error: { code: string; message: string; details: { instances: unknown[]; deployments: string[] } } | undefined;
    try {
      router.route({ service: 'onnx-inference@^1', model: 'digits@7' });
    } catch (err) {
      error = err as never;
    }
    expect(error?.code).toBe('UNAVAILABLE');
    expect(error?.message).toContain('no instance serves model digits@7');
    expect(error?.message).toContain('digits@1: v1-a on n1');
    expect(error?.message).toContain('digits@2: v2-a on n1, v2-b on n1');
    expect(error?.message).toContain('no registered model: bare on n1');
    expect(error?.message).toContain('deployment digits-pool serves model digits');
    expect(error?.details.instances).toHaveLength(4);
    expect(() => router.route({ service: 'onnx-inference', model: 'digits@stable' })).toThrow(
      'model digits has no alias "stable" (it has no aliases)',
    );
  });
});
