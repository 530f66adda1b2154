import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { candidatesFromCatalog } from './candidates';
import { ComputeProfiles } from './compute-profiles';
import { NetworkModel } from './network';
import { placeStep } from './place-step';
import { matchingVersions, versionedService, versionRange } from './versions';

const node = (id: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  site: 'factory',
  tier: 'edge',
  arch: 'x64',
  tags: [],
  cpuCores: 2,
  memoryMb: 4096,
  costPerHour: 0.1,
  labels: {},
  status: 'alive',
  heartbeatIntervalMs: 2000,
  lastHeartbeatAt: '',
  joinedAt: '',
  agentStartedAt: '',
  services: ['ocr@1.4.0', 'ocr@2.1.0'],
  ...extra,
});

const instance = (id: string, nodeId: string, version: string): InstanceRecord => ({
  id,
  nodeId,
  service: 'ocr',
  version,
  status: 'ready',
  subject: `yb.inst.${id}`,
  inFlight: 0,
  queued: 0,
  restarts: 0,
  startedAt: '',
  createdAt: '',
  updatedAt: '',
});

/** ocr 1.4.0 fits a small node and is slow; 2.1.0 needs a gpu and 6 GiB and is fast; 3.0.0 is out of range. */
const descriptors = [
  { name: 'ocr', version: '1.4.0', concurrency: 2, requirements: { memoryMb: 512 } },
  { name: 'ocr', version: '3.0.0', concurrency: 2, requirements: {} },
  { name: 'ocr', version: '2.1.0', concurrency: 2, requirements: { tags: ['gpu'], memoryMb: 6144 } },
];

describe('matchingVersions', () => {
  it('keeps the versions the range accepts, newest first', () => {
    expect(matchingVersions(descriptors, versionRange('>=1 <3')).map((d) => d.version)).toEqual(['2.1.0', '1.4.0']);
    expect(matchingVersions(descriptors, versionRange('*')).map((d) => d.version)).toEqual(['3.0.0', '2.1.0', '1.4.0']);
  });

  it('matches nothing for a range that does not parse, as semver.satisfies', () => {
    expect(matchingVersions(descriptors, versionRange('not a range'))).toEqual([]);
  });
});

describe('versionedService', () => {
  it('makes the newest the step’s service and lists every version with its own requirements', () => {
    expect(versionedService(matchingVersions(descriptors, versionRange('^1 || ^2')))).toEqual({
      service: 'ocr@2.1.0',
      requirements: { tags: ['gpu'], memoryMb: 6144 },
      versions: [
        { service: 'ocr@2.1.0', requirements: { tags: ['gpu'], memoryMb: 6144 } },
        { service: 'ocr@1.4.0', requirements: { memoryMb: 512 } },
      ],
    });
    expect(versionedService([descriptors[0]]).versions).toBeUndefined();
  });

  it('judges each catalogued candidate by its own version (the engine path)', () => {
    const nodes = [node('small'), node('gpu', { tags: ['gpu'], memoryMb: 16384 })];
    const instances = [instance('i-small', 'small', '1.4.0'), instance('i-gpu', 'gpu', '2.1.0')];
    const versions = matchingVersions(descriptors, versionRange('>=1 <3'));
    const candidates = versions.flatMap((d) => candidatesFromCatalog(d, nodes, instances));
    const profiles = new ComputeProfiles()
      .declare('ocr@1.4.0', { defaultMs: 900 })
      .declare('ocr@2.1.0', { byTagMs: { gpu: 30 }, defaultMs: 500 });
    const decision = placeStep(
      { ...versionedService(versions), inputBytes: 0, origin: { nodeId: 'small', site: 'factory' } },
      candidates,
      { network: new NetworkModel(), profiles },
    );
    const byInstance = Object.fromEntries(decision.candidates.map((c) => [c.instanceId, c]));
    // Held to 2.1.0's gpu and 6 GiB, the small node would be refused; by its own 1.4.0 it is eligible.
    expect(byInstance['i-small']).toMatchObject({ service: 'ocr@1.4.0', eligible: true });
    expect(byInstance['i-small'].estimate).toMatchObject({ computeMs: 900, computeSource: 'declared-service' });
    expect(byInstance['i-gpu']).toMatchObject({ service: 'ocr@2.1.0', eligible: true });
    expect(byInstance['i-gpu'].estimate).toMatchObject({ computeMs: 30, computeSource: 'declared-tag' });
    expect(decision.ok && decision.chosen.instanceId).toBe('i-gpu');
  });
});
