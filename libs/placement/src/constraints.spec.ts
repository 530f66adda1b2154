import {
  dataTierAllows,
  firstFailedConstraint,
  meetsConstraints,
  rejectionsOf,
  resolveConstraints,
} from './constraints';
import type { PlacementCandidate, StepPlacementRequest } from './types';

const base: PlacementCandidate = {
  nodeId: 'edge-a',
  instanceId: 'i1',
  instanceStatus: 'ready',
  site: 'factory',
  tier: 'edge',
  tags: ['npu', 'camera'],
  memoryMb: 1024,
  costPerHour: 0.1,
  nodeStatus: 'alive',
  inFlight: 0,
  queued: 0,
  concurrency: 1,
};

describe('data tier rule', () => {
  const origin = { nodeId: 'edge-a', site: 'factory' };
  it.each([
    ['public', 'cloud-1', 'cloud', 'node', true],
    ['edge-private', 'edge-b', 'factory', 'node', true],
    ['edge-private', 'cloud-1', 'cloud', 'node', false],
    ['user-private', 'edge-a', 'factory', 'node', true],
    ['user-private', 'edge-b', 'factory', 'node', false],
    ['user-private', 'edge-b', 'factory', 'site', true],
    ['user-private', 'cloud-1', 'cloud', 'site', false],
  ] as const)('%s data from edge-a may run on %s (site %s, scope %s): %s', (tier, nodeId, site, scope, allowed) => {
    expect(dataTierAllows(tier, origin, nodeId, site, scope)).toBe(allowed);
  });
});

describe('meetsConstraints and rejectionsOf', () => {
  it('agree on every combination of failures, and the first failure is the first rejection', () => {
    const step: StepPlacementRequest = {
      service: 'svc@1.0.0',
      inputBytes: 0,
      requirements: { tags: ['npu'], memoryMb: 512, tier: 'edge' },
      hints: { site: 'factory', tags: { anyOf: ['camera', 'gpu'] } },
      dataTier: 'user-private',
      origin: { nodeId: 'edge-a', site: 'factory' },
    };
    const constraints = resolveConstraints(step);
    const variations: Partial<PlacementCandidate>[] = [
      { nodeStatus: 'dead' },
      { nodeStatus: 'suspect' },
      { instanceStatus: 'draining' },
      { maxQueue: 2, queued: 2 },
      { nodeId: 'edge-b' },
      { tier: 'cloud' },
      { site: 'store' },
      { tags: ['camera'] },
      { tags: ['npu'] },
      { memoryMb: 256 },
    ];
    let checked = 0;
    // Every subset of the variations: 2^10 candidates.
    for (let mask = 0; mask < 1 << variations.length; mask++) {
      const candidate = { ...base };
      variations.forEach((v, bit) => {
        if (mask & (1 << bit)) Object.assign(candidate, v);
      });
      const rejections = rejectionsOf(candidate, constraints);
      expect(meetsConstraints(candidate, constraints)).toBe(rejections.length === 0);
      expect(firstFailedConstraint(candidate, constraints)).toBe(rejections[0]?.constraint);
      checked++;
    }
    expect(checked).toBe(1024);
    expect(meetsConstraints(base, constraints)).toBe(true);
  });

  it('lets suspect nodes through only when asked', () => {
    const suspect = { ...base, nodeStatus: 'suspect' as const };
    const step = { service: 's', inputBytes: 0 };
    expect(meetsConstraints(suspect, resolveConstraints(step))).toBe(false);
    expect(meetsConstraints(suspect, resolveConstraints(step, { allowSuspectNodes: true }))).toBe(true);
  });
});
