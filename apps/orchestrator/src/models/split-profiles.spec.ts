import type { NodeRecord } from '@yunbian/contracts';
import { profileFits, profilesToTake, profileTaskKey, type ProfileWanted } from './split-profiles';

const node = (id: string, extra: Partial<NodeRecord> = {}): NodeRecord =>
  ({
    id,
    tier: 'device',
    site: 'factory',
    arch: 'x86_64',
    tags: [],
    cpuCores: 4,
    memoryMb: 4096,
    costPerHour: 0.1,
    status: 'alive',
    lastHeartbeatAt: new Date().toISOString(),
    ...extra,
  }) as NodeRecord;

const digits: ProfileWanted = { name: 'digits', version: 1, sha256: 'aa', inputShape: { image: [1, 1, 28, 28] } };

describe('profiles taken when nodes join', () => {
  it('takes one node per class without a profile at the asked shape, once', () => {
    const nodes = [
      node('dev-b', { limits: { cpu: 0.25 } }),
      node('dev-a', { limits: { cpu: 0.25 } }),
      node('edge-1', { tier: 'edge' }),
      node('dead', { limits: { cpu: 0.5 }, status: 'dead' }),
    ];
    const tasks = profilesToTake([digits], nodes, () => undefined, new Set());
    expect(tasks.map((t) => [t.node.id, t.nodeClass])).toEqual([
      ['dev-a', 'x86_64||0.25'],
      ['edge-1', 'x86_64||4'],
    ]);
    // The edge class is profiled at this shape: only the device class is left; tried tasks are not repeated.
    const stored = { 'x86_64||4': { nodes: { a: 1 }, inputShape: { image: [1, 1, 28, 28] } } };
    expect(profilesToTake([digits], nodes, () => stored, new Set()).map((t) => t.node.id)).toEqual(['dev-a']);
    expect(profilesToTake([digits], nodes, () => stored, new Set([tasks[0].key]))).toEqual([]);
    expect(tasks[0].key).toBe(profileTaskKey(digits, 'x86_64||0.25'));
  });

  it('does not count a profile measured at another input shape', () => {
    expect(profileFits({ nodes: {}, inputShape: { x: [1, 3, 48, 320] } }, { x: [1, 3, 48, 320] })).toBe(true);
    expect(profileFits({ nodes: {}, inputShape: { x: [1, 3, 48, 320] } }, { x: [1, 3, 48, 640] })).toBe(false);
    expect(profileFits({ nodes: {} }, { x: [1, 3, 48, 640] })).toBe(true);
    expect(profileFits(undefined, { x: [1] })).toBe(false);
  });
});
