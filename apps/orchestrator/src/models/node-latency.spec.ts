import type { NodeRecord, ProfileModelsReply, ProfileModelsRequest } from '@yunbian/contracts';
import { measureNodeClasses, profileRequest, speedups } from './node-latency';

const node = (id: string, tier: string, cpu: number, status = 'alive'): NodeRecord =>
  ({ id, tier, status, cpuCores: 4, limits: { cpu } }) as unknown as NodeRecord;

const figure = (batch: number, medianMs: number) => ({ batch, medianMs, meanMs: medianMs, p90Ms: medianMs, runs: 10 });

describe('node latency of a compression', () => {
  const parent = { label: 'x', bucket: 'yb-models', object: 'digits/3', sha256: 'aa' };
  const compressed = { label: 'y', bucket: 'yb-model-staging', object: 'digits/int8-of-3', sha256: 'bb' };

  it('asks the most constrained live node of each class, and says why a class is not measured', async () => {
    const asked: { nodeId: string; request: ProfileModelsRequest }[] = [];
    const nodes = [
      node('edge-big', 'edge', 2),
      node('edge-small', 'edge', 0.5),
      node('edge-dead', 'edge', 0.25, 'dead'),
      node('cloud-1', 'cloud', 8),
    ];
    const profile = async (nodeId: string, request: ProfileModelsRequest): Promise<ProfileModelsReply> => {
      asked.push({ nodeId, request });
      if (nodeId === 'cloud-1') throw new Error('timed out');
      return {
        nodeId,
        cpu: 0.5,
        cpuEnforced: true,
        results: { parent: [figure(1, 2), figure(32, 30)], compressed: [figure(1, 1), figure(32, 12)] },
      };
    };
    const out = await measureNodeClasses(
      { nodes: () => nodes, profile },
      parent,
      compressed,
      { batchSize: 32, runs: 50 },
      9_000,
    );
    expect(asked.map((a) => a.nodeId)).toEqual(['edge-small', 'cloud-1']);
    expect(asked[0].request).toEqual({
      models: [
        { ...parent, label: 'parent' },
        { ...compressed, label: 'compressed' },
      ],
      batchSizes: [1, 32],
      runs: { '1': 50, '32': 5 },
      timeoutMs: 9_000,
    });
    expect(out).toEqual([
      { nodeClass: 'device', measured: false, reason: 'not measured: no live node of class device' },
      expect.objectContaining({
        nodeClass: 'edge',
        measured: true,
        nodeId: 'edge-small',
        speedup: { '1': 2, '32': 2.5 },
      }),
      { nodeClass: 'cloud', measured: false, reason: 'not measured: node cloud-1 did not profile (timed out)' },
    ]);
  });

  it('defaults to batch 64 with 200 runs, a tenth of them at the batch', () => {
    expect(profileRequest(parent, compressed, {}, 1_000)).toMatchObject({
      batchSizes: [1, 64],
      runs: { '1': 200, '64': 20 },
    });
    expect(speedups({ nodeId: 'n', cpu: 1, cpuEnforced: false, results: { parent: [figure(1, 3)] } })).toEqual({});
  });
});
