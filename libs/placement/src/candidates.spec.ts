import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { candidatesFromCatalog } from './candidates';
import { ComputeProfiles } from './compute-profiles';
import { NetworkModel } from './network';
import { nodeClassOf } from './node-class';
import { placeStep } from './place-step';

const node = (id: string, extra: Partial<NodeRecord> = {}): NodeRecord => ({
  id,
  site: `site-${id}`,
  tier: 'edge',
  arch: 'x64',
  tags: ['camera'],
  cpuCores: 2,
  memoryMb: 2048,
  costPerHour: 0.1,
  labels: {},
  status: 'alive',
  heartbeatIntervalMs: 2000,
  lastHeartbeatAt: '',
  joinedAt: '',
  agentStartedAt: '',
  services: ['ocr@1.0.0', 'resize@1.0.0'],
  bandwidthMbps: 80,
  ...extra,
});

const instance = (id: string, nodeId: string, extra: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id,
  nodeId,
  service: 'ocr',
  version: '1.0.0',
  status: 'ready',
  subject: `yb.inst.${id}`,
  inFlight: 1,
  queued: 2,
  restarts: 0,
  startedAt: '',
  createdAt: '',
  updatedAt: '',
  ...extra,
});

describe('candidatesFromCatalog', () => {
  const service = { name: 'ocr', version: '1.0.0', concurrency: 4 };
  const nodes = [node('a'), node('b', { status: 'suspect' }), node('c', { services: ['resize@1.0.0'] })];
  const instances = [
    instance('i1', 'a'),
    instance('i2', 'b', { status: 'draining' }),
    instance('i3', 'a', { version: '2.0.0' }),
    instance('r1', 'b', { service: 'resize', memoryMb: 512 }),
    instance('lost', 'gone'),
  ];

  it('joins each instance of the exact version with its node, keeping its status and load', () => {
    const candidates = candidatesFromCatalog(service, nodes, instances);
    expect(candidates).toEqual([
      expect.objectContaining({
        instanceId: 'i1',
        nodeId: 'a',
        site: 'site-a',
        inFlight: 1,
        queued: 2,
        concurrency: 4,
      }),
      expect.objectContaining({ instanceId: 'i2', nodeId: 'b', instanceStatus: 'draining', nodeStatus: 'suspect' }),
    ]);
    expect(candidates[0]).toMatchObject({ memoryMb: 2048, maxQueue: 256, bandwidthMbps: 80, costPerHour: 0.1 });
  });

  it('offers nodes that could start one, with the memory left after reservations', () => {
    const candidates = candidatesFromCatalog({ ...service, name: 'resize' }, nodes, instances, {
      includeNodesWithoutInstance: true,
    });
    // b runs r1; a and c could start one (a has 0 MiB reserved: its instances report no memory).
    expect(candidates.map((c) => [c.nodeId, c.instanceId, c.memoryMb])).toEqual([
      ['b', 'r1', 2048],
      ['a', undefined, 2048],
      ['c', undefined, 2048],
    ]);
    const reserved = candidatesFromCatalog({ ...service, name: 'resize' }, nodes, instances, {
      includeNodesWithoutInstance: true,
      reservationOf: () => 256,
    });
    expect(reserved.find((c) => c.nodeId === 'a')?.memoryMb).toBe(2048 - 2 * 256); // i1 and i3
  });
});

/** The usage example of docs/placement.md, in executable form. */
describe('from catalogue records to a decision (the engine path)', () => {
  it('builds the network and candidates from records, places the step, and learns from the timing', () => {
    const nodes = [
      node('edge', {
        site: 'factory',
        tags: ['npu'],
        rtt: { orchestratorMs: 30, sites: { cloud: { ms: 40, viaNode: 'gpu' } } },
      }),
      node('gpu', { site: 'cloud', tier: 'cloud', tags: ['gpu'], costPerHour: 2, bandwidthMbps: 1000 }),
    ];
    const instances = [
      instance('i-edge', 'edge', { inFlight: 0, queued: 0 }),
      instance('i-gpu', 'gpu', { inFlight: 0, queued: 0 }),
    ];
    const profiles = new ComputeProfiles().declare('ocr', { byTagMs: { gpu: 20, npu: 90 } });
    const network = NetworkModel.fromNodes(nodes);
    const step = { service: 'ocr@1.0.0', inputBytes: 0, origin: { nodeId: 'edge', site: 'factory' } };
    const first = placeStep(
      step,
      candidatesFromCatalog({ name: 'ocr', version: '1.0.0', concurrency: 4 }, nodes, instances),
      {
        network,
        profiles,
      },
    );
    // edge: 0 + 90 = 90 ms; gpu: 40 (factory→cloud, as edge's agent measured it) + 20 = 60 ms.
    expect(first.ok && first.chosen.instanceId).toBe('i-gpu');
    // The GPU node turns out slow in practice: 100 ms observed.
    profiles.record('ocr@1.0.0', nodeClassOf(nodes[1]), 100);
    const second = placeStep(
      step,
      candidatesFromCatalog({ name: 'ocr', version: '1.0.0', concurrency: 4 }, nodes, instances),
      {
        network,
        profiles,
      },
    );
    expect(second.ok && second.chosen.instanceId).toBe('i-edge');
    expect(second.candidates[1].estimate).toMatchObject({ rttMs: 40, computeMs: 100, computeSource: 'observed' });
  });

  it('estimates a device by the CPU its instance gets, and learns per node class', () => {
    // Two nodes of one kind, but the device's instance gets a quarter core.
    const nodes = [
      node('device', { site: 'f', tier: 'device', cpuCores: 1, limits: { cpu: 0.5 } }),
      node('edge', { site: 'f', cpuCores: 4 }),
    ];
    const instances = [
      instance('i-dev', 'device', { inFlight: 0, queued: 0, resources: { cpu: 0.25 } }),
      instance('i-edge', 'edge', { inFlight: 0, queued: 0 }),
    ];
    const profiles = new ComputeProfiles().declare('ocr', { defaultMs: 50 });
    const network = NetworkModel.fromNodes(nodes);
    const service = { name: 'ocr', version: '1.0.0', concurrency: 1 };
    const candidates = candidatesFromCatalog(service, nodes, instances);
    expect(candidates.map((c) => [c.nodeClass, c.cpu])).toEqual([
      ['x64|camera|0.25', 0.25],
      ['x64|camera|4', 4],
    ]);
    const step = { service: 'ocr@1.0.0', inputBytes: 0, origin: { nodeId: 'device', site: 'f' } };
    const decision = placeStep(step, candidates, { network, profiles });
    expect(decision.candidates[0].estimate).toMatchObject({ computeMs: 200, cpuSlowdown: 4 });
    expect(decision.candidates[1].estimate).toMatchObject({ computeMs: 50, cpuSlowdown: 1 });
    expect(decision.ok && decision.chosen.instanceId).toBe('i-edge');
    // What the device's class learnt stays there.
    profiles.record('ocr@1.0.0', nodeClassOf(nodes[0], instances[0].resources), 20);
    const again = placeStep(step, candidatesFromCatalog(service, nodes, instances), { network, profiles });
    expect(again.candidates[0].estimate).toMatchObject({ computeMs: 20, computeSource: 'observed' });
    expect(again.candidates[1].estimate).toMatchObject({ computeMs: 50, computeSource: 'declared-service' });
    // A bare device without instance resources gets its limit.
    const bare = candidatesFromCatalog(service, nodes, [], { includeNodesWithoutInstance: true });
    expect(bare[0]).toMatchObject({ nodeClass: 'x64|camera|0.5', cpu: 0.5 });
  });
});
