import { ComputeProfiles } from './compute-profiles';
import { PlacementInputError } from './errors';
import { NetworkModel } from './network';
import { placeStep, type PlacementEnvironment } from './place-step';
import { StrategyRegistry, BUILT_IN_STRATEGIES } from './strategies/registry';
import type { PlacementCandidate, PlacementChoice, PlacementDecision, StepPlacementRequest } from './types';

/*
 * The demo's three nodes. Sites: factory-sz (edge-a), store-hz (edge-b), cloud-hz (cloud-1).
 * detect@1.0.0 takes 10 ms on a gpu, 40 ms on an npu, 120 ms elsewhere.
 * A 1.25 MB input from edge-a: 1,250,000 B ÷ (Mbit/s × 125 B/ms) gives the transfer time.
 *   cloud-1: RTT 30 + 1.25 MB over min(1000, 100) Mbit/s = 100 ms + compute 10  = 140 ms, cost 2.4/3.6e6 × 10  = 6.667e-6
 *   edge-a:  same node: 0                                  + compute 40  =  40 ms, cost 0.08/3.6e6 × 40 = 8.889e-7
 *   edge-b:  RTT 20 + 1.25 MB over min(50, 100) Mbit/s = 200 ms + compute 120 = 340 ms, cost 0.05/3.6e6 × 120 = 1.667e-6
 */
function environment(): PlacementEnvironment {
  const network = new NetworkModel()
    .setSiteRtt('factory-sz', 'cloud-hz', 30)
    .setSiteRtt('store-hz', 'cloud-hz', 40)
    .setSiteRtt('factory-sz', 'store-hz', 20)
    .setNodeBandwidth('cloud-1', 1000)
    .setNodeBandwidth('edge-a', 100)
    .setNodeBandwidth('edge-b', 50);
  const profiles = new ComputeProfiles({ defaultMs: 100 }).declare('detect', {
    byTagMs: { gpu: 10, npu: 40 },
    defaultMs: 120,
  });
  return { network, profiles };
}

const instance = (nodeId: string, site: string, overrides: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  nodeId,
  instanceId: `i-${nodeId}`,
  instanceStatus: 'ready',
  site,
  tier: 'edge',
  tags: [],
  memoryMb: 4096,
  costPerHour: 0,
  nodeStatus: 'alive',
  inFlight: 0,
  queued: 0,
  concurrency: 2,
  ...overrides,
});

const cloud1 = (o: Partial<PlacementCandidate> = {}) =>
  instance('cloud-1', 'cloud-hz', { tier: 'cloud', tags: ['gpu'], costPerHour: 2.4, bandwidthMbps: 1000, ...o });
const edgeA = (o: Partial<PlacementCandidate> = {}) =>
  instance('edge-a', 'factory-sz', { tags: ['camera', 'npu', 'arm64'], costPerHour: 0.08, bandwidthMbps: 100, ...o });
const edgeB = (o: Partial<PlacementCandidate> = {}) =>
  instance('edge-b', 'store-hz', { tags: ['camera', 'x86_64'], costPerHour: 0.05, bandwidthMbps: 50, ...o });

const step = (overrides: Partial<StepPlacementRequest> = {}): StepPlacementRequest => ({
  service: 'detect@1.0.0',
  inputBytes: 1_250_000,
  origin: { nodeId: 'edge-a', site: 'factory-sz' },
  ...overrides,
});

function chosen(decision: PlacementDecision): PlacementChoice['chosen'] {
  if (!decision.ok) throw new Error(`expected a choice, got: ${decision.error.message}`);
  return decision.chosen;
}

/** edge-a with 2 running and 6 queued on 2 slots: 7 ahead × 40 ms ÷ 2 = 140 ms of queue → 180 ms in all. */
const busyEdgeA = () => edgeA({ inFlight: 2, queued: 6 });

describe('placeStep estimates', () => {
  it('adds network, queue and compute per candidate, with the cost of the compute time', () => {
    const decision = placeStep(step(), [cloud1(), edgeA(), edgeB()], environment());
    const [cloud, a, b] = decision.candidates.map((c) => c.estimate!);
    expect(cloud).toMatchObject({ rttMs: 30, rttSource: 'measured', bandwidthMbps: 100, transferMs: 100 });
    expect(cloud).toMatchObject({ computeMs: 10, computeSource: 'declared-tag', queueMs: 0, latencyMs: 140 });
    expect(cloud.costPerCall).toBeCloseTo(6.667e-6, 9);
    expect(a).toMatchObject({ rttMs: 0, rttSource: 'same-node', transferMs: 0, computeMs: 40, latencyMs: 40 });
    expect(a.costPerCall).toBeCloseTo(8.889e-7, 10);
    expect(b).toMatchObject({ rttMs: 20, bandwidthMbps: 50, transferMs: 200, computeMs: 120, latencyMs: 340 });
    expect(b.computeSource).toBe('declared-service');
  });

  it('uses a measured link bandwidth over the declared uplinks, and says which figure and how old', () => {
    const env = environment();
    const before = placeStep(step(), [cloud1(), edgeA(), edgeB()], env);
    expect(before.candidates[2].estimate).toMatchObject({ bandwidthMbps: 50, bandwidthSource: 'declared' });
    expect(before.candidates[2].estimate!.bandwidthAgeMs).toBeUndefined();
    expect(before.candidates[1].estimate).toMatchObject({ bandwidthSource: 'same-node' });
    // Measured at 500 Mbit/s from factory-sz to store-hz: 1.25 MB takes 20 ms (edge-b: 20 + 20 + 120 = 160 ms);
    // measured at 5 Mbit/s: 2 s.
    env.network.setLinkBandwidth('factory-sz', 'store-hz', 500, 2_500);
    const fast = placeStep(step(), [cloud1(), edgeA(), edgeB()], env);
    expect(fast.candidates[2].estimate).toMatchObject({
      bandwidthMbps: 500,
      bandwidthSource: 'measured',
      bandwidthAgeMs: 2_500,
      transferMs: 20,
      latencyMs: 160,
    });
    env.network.setLinkBandwidth('factory-sz', 'store-hz', 5, 100);
    const slow = placeStep(step(), [cloud1(), edgeA(), edgeB()], env);
    expect(slow.candidates[2].estimate).toMatchObject({ bandwidthMbps: 5, transferMs: 2000 });
  });

  it('estimates the queue from load: requests beyond the free slots, served concurrency at a time', () => {
    const decision = placeStep(step(), [busyEdgeA()], environment());
    expect(chosen(decision).estimate).toMatchObject({ queueMs: 140, latencyMs: 180 });
  });

  it('charges egress for input leaving the origin site, where the site declares a price', () => {
    const env = environment();
    env.network.setEgressCost('factory-sz', 0.09);
    const decision = placeStep(step(), [cloud1(), edgeA()], env);
    // 1.25 MB × 0.09 per GB = 1.125e-4 on top of the compute cost; nothing for the same node.
    expect(decision.candidates[0].estimate!.costPerCall).toBeCloseTo(6.667e-6 + 1.125e-4, 9);
    expect(decision.candidates[1].estimate!.costPerCall).toBeCloseTo(8.889e-7, 10);
  });

  it('adds the start time when the candidate is a node without an instance', () => {
    const bare = { ...cloud1(), instanceId: undefined, instanceStatus: undefined, inFlight: 5, queued: 5 };
    const decision = placeStep(step(), [bare], environment(), { instanceStartMs: 1500 });
    expect(chosen(decision).estimate).toMatchObject({ startMs: 1500, queueMs: 0, latencyMs: 1640 });
    expect(decision.reason).toContain('node cloud-1 (cloud-hz, new instance) chosen');
  });

  it('takes the RTT to the orchestrator when the orchestrator holds the input', () => {
    const env = environment();
    env.network.setOrchestratorRtt('edge-a', 25);
    const decision = placeStep(step({ origin: undefined, inputBytes: 0 }), [edgeA(), edgeB()], env);
    expect(decision.candidates[0].estimate).toMatchObject({ rttMs: 25, rttSource: 'measured', latencyMs: 65 });
    // edge-b has no measurement: the default 100 ms, flagged as such.
    expect(decision.candidates[1].estimate).toMatchObject({ rttMs: 100, rttSource: 'default', latencyMs: 220 });
  });
});

describe('placeStep strategies', () => {
  const candidates = () => [cloud1(), busyEdgeA(), edgeB()];

  it('latency picks the fastest and says why in one line', () => {
    const decision = placeStep(step(), candidates(), environment());
    expect(chosen(decision).nodeId).toBe('cloud-1');
    expect(decision.strategy).toBe('latency');
    expect(decision.reason).toBe(
      'instance i-cloud-1 on cloud-1 (cloud-hz) chosen for the lowest estimated latency: 140 ms estimated (network 130 + queue 0 + compute 10), cost 6.67e-6 per call; 3 of 3 candidates eligible',
    );
  });

  it('cost picks the cheapest call', () => {
    const decision = placeStep(step({ hints: { objective: 'cost' } }), candidates(), environment());
    expect(chosen(decision).nodeId).toBe('edge-a');
    expect(decision.strategy).toBe('cost');
  });

  it('weighted mixes min–max scaled latency and cost with normalised weights', () => {
    // latency 140..340 and cost 8.889e-7..6.667e-6 over the three:
    //   cloud-1 0.5×0 + 0.5×1 = 0.5; edge-a 0.5×0.2 + 0.5×0 = 0.1; edge-b 0.5×1 + 0.5×0.1346 = 0.567
    const decision = placeStep(step({ hints: { objective: { latency: 3, cost: 3 } } }), candidates(), environment());
    expect(decision.strategy).toBe('weighted');
    expect(chosen(decision).nodeId).toBe('edge-a');
    expect(decision.candidates.map((c) => c.score)).toEqual([0.5, expect.closeTo(0.1, 9), expect.closeTo(0.5673, 4)]);
    expect(decision.reason).toContain('the best weighted mix of latency 0.50 and cost 0.50');
  });

  it('a heavier latency weight moves the weighted choice to the fast node', () => {
    // latency 0.9: cloud-1 0.1×1 = 0.1 against edge-a 0.9×0.2 = 0.18.
    const decision = placeStep(
      step({ hints: { objective: { latency: 0.9, cost: 0.1 } } }),
      candidates(),
      environment(),
    );
    expect(chosen(decision).nodeId).toBe('cloud-1');
  });

  it('least-loaded ignores distance: idle cloud-1 and edge-b tie, and the tie goes to lower latency', () => {
    const decision = placeStep(step({ hints: { strategy: 'least-loaded' } }), candidates(), environment());
    expect(decision.candidates.map((c) => c.score)).toEqual([0, 4, 0]);
    expect(chosen(decision).nodeId).toBe('cloud-1');
  });

  it('takes strategies from the registry it is given, and names the known ones for an unknown name', () => {
    const slowest = { name: 'slowest', score: (i: { latencyMs: number }) => -i.latencyMs, criterion: () => 'test' };
    const strategies = new StrategyRegistry(BUILT_IN_STRATEGIES).register(slowest);
    const decision = placeStep(step({ hints: { strategy: 'slowest' } }), candidates(), {
      ...environment(),
      strategies,
    });
    expect(chosen(decision).nodeId).toBe('edge-b');
    expect(() => placeStep(step({ hints: { strategy: 'fastest' } }), candidates(), environment())).toThrow(
      'unknown placement strategy "fastest"; known: latency, cost, weighted, least-loaded',
    );
  });

  it('refuses to register two strategies under one name', () => {
    expect(() => new StrategyRegistry(BUILT_IN_STRATEGIES).register({ ...BUILT_IN_STRATEGIES[0] })).toThrow(
      'placement strategy "latency" is already registered',
    );
  });

  it('refuses weights it cannot normalise', () => {
    const bad = step({ hints: { objective: { latency: -1, cost: 0 } } });
    expect(() => placeStep(bad, candidates(), environment())).toThrow(PlacementInputError);
  });
});

describe('placeStep latency SLO', () => {
  const candidates = () => [cloud1(), busyEdgeA(), edgeB()];

  it('cost under an SLO picks the cheapest candidate that meets it', () => {
    // Within 150 ms only cloud-1 (140) qualifies; plain cost would pick edge-a (180 ms).
    const decision = placeStep(step({ hints: { objective: 'cost', maxLatencyMs: 150 } }), candidates(), environment());
    expect(chosen(decision).nodeId).toBe('cloud-1');
    expect(decision.ok && decision.sloMet).toBe(true);
    expect(decision.candidates.map((c) => c.meetsSlo)).toEqual([true, false, false]);
    expect(decision.reason).toContain('within the 150 ms SLO');
    const loose = placeStep(step({ hints: { objective: 'cost', maxLatencyMs: 200 } }), candidates(), environment());
    expect(chosen(loose).nodeId).toBe('edge-a');
  });

  it('when nothing meets the SLO it picks the lowest latency and says so', () => {
    const decision = placeStep(step({ hints: { objective: 'cost', maxLatencyMs: 100 } }), candidates(), environment());
    expect(chosen(decision).nodeId).toBe('cloud-1');
    expect(decision.ok && decision.sloMet).toBe(false);
    expect(decision.reason).toMatch(
      /^instance i-cloud-1 on cloud-1 \(cloud-hz\) chosen for no eligible candidate meets the 100 ms latency SLO, so the lowest latency: 140 ms/,
    );
  });

  it('rejects an SLO that is not a positive number', () => {
    expect(() => placeStep(step({ hints: { maxLatencyMs: 0 } }), candidates(), environment())).toThrow(
      'maxLatencyMs must be a finite number above 0 (got 0)',
    );
  });
});

describe('placeStep hard constraints', () => {
  it('records every reason a candidate is rejected', () => {
    const decision = placeStep(
      step({ requirements: { tags: ['gpu'], memoryMb: 8192, tier: 'cloud' } }),
      [cloud1({ memoryMb: 16384 }), edgeB({ nodeStatus: 'dead' })],
      environment(),
    );
    expect(chosen(decision).nodeId).toBe('cloud-1');
    expect(decision.candidates[1].rejections).toEqual([
      { constraint: 'node-status', message: 'node edge-b is dead' },
      { constraint: 'tier', message: 'node edge-b is edge; the step needs a cloud node' },
      { constraint: 'tags', message: 'node edge-b lacks tag gpu (needs all of gpu; has camera, x86_64)' },
      { constraint: 'memory', message: 'node edge-b offers 4096 MiB; detect@1.0.0 needs 8192 MiB' },
    ]);
  });

  it('honours any-of tags, site hints and not-ready instances', () => {
    const decision = placeStep(
      step({ hints: { tags: { anyOf: ['npu', 'gpu'] }, site: 'factory-sz' } }),
      [cloud1(), edgeA({ instanceStatus: 'starting' }), edgeA({ instanceId: 'i-a2' }), edgeB()],
      environment(),
    );
    expect(chosen(decision).instanceId).toBe('i-a2');
    expect(decision.candidates.map((c) => c.rejections.map((r) => r.constraint))).toEqual([
      ['site'],
      ['instance-status'],
      [],
      ['site', 'tags'],
    ]);
    expect(decision.candidates[3].rejections[1].message).toBe(
      'node edge-b has none of npu, gpu (needs one; has camera, x86_64)',
    );
  });

  it('refuses a step whose hint contradicts its service', () => {
    expect(() =>
      placeStep(step({ requirements: { tier: 'edge' }, hints: { tier: 'cloud' } }), [cloud1()], environment()),
    ).toThrow('step asks for a cloud node but detect@1.0.0 must run on a edge node; drop the hint or set it to edge');
  });

  it('lists the candidates and their reasons when none is eligible', () => {
    const decision = placeStep(step({ requirements: { tags: ['cuda'] } }), [cloud1(), edgeB()], environment());
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.code).toBe('UNSATISFIABLE');
    expect(decision.error.message).toBe(
      "detect@1.0.0: none of 2 candidates meets the step's constraints — i-cloud-1: node cloud-1 lacks tag cuda (needs all of cuda; has gpu) | i-edge-b: node edge-b lacks tag cuda (needs all of cuda; has camera, x86_64)",
    );
    expect(decision.reason).toBe(decision.error.message);
  });

  it('says what to do when there is no candidate at all', () => {
    const decision = placeStep(step(), [], environment());
    expect(decision.ok).toBe(false);
    expect(decision.reason).toContain('no candidates to place the step on');
  });
});

describe('placeStep data tiers', () => {
  it('keeps user-private data on its node', () => {
    const decision = placeStep(step({ dataTier: 'user-private' }), [cloud1(), edgeA(), edgeB()], environment());
    expect(chosen(decision).nodeId).toBe('edge-a');
    expect(decision.candidates[0].rejections).toEqual([
      {
        constraint: 'data-tier',
        message:
          'would move user-private data from node edge-a to node cloud-1: user-private data stays on the node it came from',
      },
    ]);
  });

  it('refuses with a clear error instead of moving user-private data', () => {
    const decision = placeStep(step({ dataTier: 'user-private' }), [cloud1(), edgeB()], environment());
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.message).toBe(
      "detect@1.0.0: the data would have to move from node edge-a to nodes cloud-1, edge-b against its user-private tier (user-private data stays on the node it came from); no eligible candidate is at node edge-a. Run an instance of detect@1.0.0 at node edge-a, or allow the site with userPrivateScope 'site', or classify the input as a less private tier if it is not private",
    );
    expect(decision.error.details.blockedByDataTier).toEqual(['i-cloud-1', 'i-edge-b']);
  });

  it("widens user-private to the origin's site with userPrivateScope 'site'", () => {
    const neighbour = instance('edge-a2', 'factory-sz', { tags: ['npu'] });
    const strict = placeStep(step({ dataTier: 'user-private' }), [cloud1(), neighbour], environment());
    expect(strict.ok).toBe(false);
    const site = placeStep(step({ dataTier: 'user-private' }), [cloud1(), neighbour], environment(), {
      userPrivateScope: 'site',
    });
    expect(chosen(site).nodeId).toBe('edge-a2');
    expect(site.candidates[0].rejections[0].message).toBe(
      "would move user-private data from site factory-sz to site cloud-hz: user-private data stays at its origin's site",
    );
  });

  it('keeps edge-private data at its edge site and lets public data go anywhere', () => {
    const neighbour = instance('edge-a2', 'factory-sz', { tags: ['npu'] });
    const edgePrivate = placeStep(step({ dataTier: 'edge-private' }), [cloud1(), neighbour], environment());
    expect(chosen(edgePrivate).nodeId).toBe('edge-a2');
    const refused = placeStep(step({ dataTier: 'edge-private' }), [cloud1(), edgeB()], environment());
    expect(refused.ok).toBe(false);
    expect(refused.reason).toContain(
      'the data would have to move from site factory-sz to sites cloud-hz, store-hz against its edge-private tier (edge-private data stays at its edge site)',
    );
    const open = placeStep(step({ dataTier: 'public' }), [cloud1(), edgeB()], environment());
    expect(chosen(open).nodeId).toBe('cloud-1');
  });

  it('needs the origin of private data', () => {
    expect(() => placeStep(step({ dataTier: 'edge-private', origin: undefined }), [cloud1()], environment())).toThrow(
      'detect@1.0.0: edge-private input needs its origin; set origin to the node and site the data came from',
    );
    expect(() =>
      placeStep(step({ dataTier: 'user-private', origin: { site: 'factory-sz' } }), [cloud1()], environment()),
    ).toThrow(/set origin.nodeId, or use userPrivateScope 'site'/);
  });

  it('names the data move when the data-tier rule is what blocks, even if other candidates fail otherwise', () => {
    const decision = placeStep(
      step({ dataTier: 'user-private' }),
      [edgeA({ nodeStatus: 'dead' }), cloud1()],
      environment(),
    );
    expect(decision.ok).toBe(false);
    expect(decision.reason).toContain('would have to move from node edge-a to node cloud-1');
    if (!decision.ok) expect(decision.error.details.rejections[0].reasons).toEqual(['node edge-a is dead']);
  });
});

describe('placeStep adapts to what changes', () => {
  it('moves off a node that died', () => {
    const before = placeStep(step(), [cloud1(), edgeA()], environment());
    expect(chosen(before).nodeId).toBe('edge-a');
    const after = placeStep(step(), [cloud1(), edgeA({ nodeStatus: 'dead' })], environment());
    expect(chosen(after).nodeId).toBe('cloud-1');
    expect(after.candidates[1].rejections[0].message).toBe('node edge-a is dead');
  });

  it('follows a changed RTT', () => {
    const env = environment();
    const fromStore = step({ inputBytes: 0, origin: { nodeId: 'edge-b', site: 'store-hz' } });
    // cloud-1: 40 + 10 = 50 ms against edge-a: 20 + 40 = 60 ms.
    expect(chosen(placeStep(fromStore, [cloud1(), edgeA()], env)).nodeId).toBe('cloud-1');
    env.network.setSiteRtt('store-hz', 'cloud-hz', 80);
    expect(chosen(placeStep(fromStore, [cloud1(), edgeA()], env)).nodeId).toBe('edge-a');
  });

  it('avoids a node as its queue grows, and skips it once saturated', () => {
    // 2 running + 3 queued on 2 slots: 4 ahead × 40 ÷ 2 = 80 ms queue → 120 ms, still under cloud-1's 140.
    expect(chosen(placeStep(step(), [cloud1(), edgeA({ inFlight: 2, queued: 3 })], environment())).nodeId).toBe(
      'edge-a',
    );
    expect(chosen(placeStep(step(), [cloud1(), busyEdgeA()], environment())).nodeId).toBe('cloud-1');
    const saturated = placeStep(
      step({ hints: { objective: 'cost' } }),
      [cloud1(), edgeA({ inFlight: 2, queued: 8, maxQueue: 8 })],
      environment(),
    );
    expect(chosen(saturated).nodeId).toBe('cloud-1');
    expect(saturated.candidates[1].rejections[0]).toEqual({
      constraint: 'saturated',
      message: 'instance i-edge-a on edge-a is saturated: 8 queued (limit 8)',
    });
  });

  it('uses what was observed once a node has run the service', () => {
    const env = environment();
    env.profiles.record('detect@1.0.0', 'cloud-1', 500);
    const decision = placeStep(step(), [cloud1(), busyEdgeA()], env);
    expect(decision.candidates[0].estimate).toMatchObject({ computeMs: 500, computeSource: 'observed' });
    expect(chosen(decision).nodeId).toBe('edge-a');
  });
});

describe('placeStep without explanation', () => {
  it('chooses the same candidate with the same estimate and skips the per-candidate record', () => {
    const hints = [
      {},
      { objective: 'cost' as const },
      { objective: { latency: 1, cost: 1 } },
      { objective: 'cost' as const, maxLatencyMs: 150 },
      { maxLatencyMs: 10 },
    ];
    for (const h of hints) {
      const candidates = [cloud1(), busyEdgeA(), edgeB(), edgeA({ nodeStatus: 'dead' })];
      const full = placeStep(step({ hints: h }), candidates, environment());
      const fast = placeStep(step({ hints: h }), candidates, environment(), { explain: false });
      expect(fast.candidates).toEqual([]);
      expect(chosen(fast).instanceId).toBe(chosen(full).instanceId);
      expect(chosen(fast).estimate).toEqual(chosen(full).estimate);
      expect(fast.reason).toBe(full.reason);
      expect(fast.eligibleCount).toBe(3);
    }
  });

  it('still explains a refusal in full', () => {
    const fast = placeStep(step({ dataTier: 'user-private' }), [cloud1()], environment(), { explain: false });
    expect(fast.ok).toBe(false);
    expect(fast.reason).toContain('would have to move from node edge-a to node cloud-1');
  });
});

describe('placeStep ties', () => {
  // Two equivalent instances at one site (no declared bandwidths): the step's data is on the orchestrator (no
  // origin), and their RTTs differ by noise.
  const twin = (nodeId: string, rttMs: number, load: Partial<PlacementCandidate>) => ({
    candidate: instance(nodeId, 'store-hz', { concurrency: 8, ...load }),
    rttMs,
  });
  const decide = (...twins: ReturnType<typeof twin>[]) => {
    const { network, profiles } = environment();
    for (const t of twins) network.setOrchestratorRtt(t.candidate.nodeId, t.rttMs);
    return chosen(
      placeStep(
        step({ origin: undefined, inputBytes: 100 }),
        twins.map((t) => t.candidate),
        { network, profiles },
      ),
    );
  };

  it('sends a near-tie to the less busy candidate, so equivalent instances share the calls', () => {
    // 1.0 vs 1.2 ms of RTT beside 120 ms of compute: within 2 %; the faster one has 3 of 8 slots busy.
    const winner = decide(twin('box-1', 1.0, { inFlight: 3 }), twin('box-2', 1.2, { inFlight: 1 }));
    expect(winner.nodeId).toBe('box-2');
  });

  it('keeps the lower latency when the gap is more than noise, however busy', () => {
    // 1 vs 30 ms of RTT: 121 vs 150 ms, well outside the tolerance.
    const winner = decide(twin('box-1', 1, { inFlight: 3 }), twin('box-2', 30, { inFlight: 0 }));
    expect(winner.nodeId).toBe('box-1');
  });

  it('breaks an exact tie in load by latency, then by order', () => {
    expect(decide(twin('box-1', 1.2, {}), twin('box-2', 1.0, {})).nodeId).toBe('box-2');
    expect(decide(twin('box-1', 1.0, {}), twin('box-2', 1.0, {})).nodeId).toBe('box-1');
  });
});

describe('placeStep refusals that waiting can cure', () => {
  const refusalOf = (decision: PlacementDecision) => {
    if (decision.ok) throw new Error(`expected a refusal, chose ${decision.chosen.nodeId}`);
    return decision;
  };

  it('is retryable when every candidate is only starting, on a dead node or saturated', () => {
    const decision = placeStep(
      step(),
      [cloud1({ instanceStatus: 'starting' }), edgeA({ nodeStatus: 'dead' }), edgeB({ queued: 4, maxQueue: 4 })],
      environment(),
    );
    expect(refusalOf(decision).retryable).toBe(true);
    expect(refusalOf(placeStep(step(), [], environment())).retryable).toBe(true);
  });

  it('is not retryable when any candidate is refused for good: tags, memory, tier, data tier', () => {
    const tags = placeStep(
      step({ requirements: { tags: ['cuda'] } }),
      [cloud1({ instanceStatus: 'starting' }), edgeB()],
      environment(),
    );
    expect(refusalOf(tags).retryable).toBe(false);
    const dataTier = placeStep(step({ dataTier: 'user-private' }), [cloud1()], environment());
    expect(refusalOf(dataTier).retryable).toBe(false);
    // A transient reason on top of a lasting one does not make waiting worth it.
    const both = placeStep(step({ requirements: { memoryMb: 8192 } }), [edgeB({ nodeStatus: 'dead' })], environment());
    expect(refusalOf(both).retryable).toBe(false);
  });

  it('says the same without explanation', () => {
    const candidates = [cloud1({ instanceStatus: 'starting' }), edgeA({ nodeStatus: 'dead' })];
    expect(refusalOf(placeStep(step(), candidates, environment(), { explain: false })).retryable).toBe(true);
    const lasting = placeStep(step({ hints: { tier: 'device' } }), candidates, environment(), { explain: false });
    expect(refusalOf(lasting).retryable).toBe(false);
  });
});

describe('placeStep across versions', () => {
  /*
   * detect@1.0.0 needs an npu and 1 GiB, and takes 40 ms on one; detect@2.0.0 needs a gpu and
   * 8 GiB, and takes 4 ms on one. edge-a (npu, 4 GiB) runs 1.0.0, cloud-1 (gpu) runs 2.0.0.
   */
  const versioned = (overrides: Partial<StepPlacementRequest> = {}) =>
    step({
      service: 'detect@2.0.0',
      requirements: { tags: ['gpu'], memoryMb: 8192 },
      versions: [
        { service: 'detect@2.0.0', requirements: { tags: ['gpu'], memoryMb: 8192 } },
        { service: 'detect@1.0.0', requirements: { tags: ['npu'], memoryMb: 1024 } },
      ],
      ...overrides,
    });
  const env = () => {
    const e = environment();
    e.profiles.declare('detect@1.0.0', { byTagMs: { npu: 40 }, defaultMs: 300 });
    e.profiles.declare('detect@2.0.0', { byTagMs: { gpu: 4 }, defaultMs: 60 });
    return e;
  };
  const v1 = { service: 'detect@1.0.0' };
  const v2 = { service: 'detect@2.0.0' };

  it("holds each candidate to its own version's requirements and estimates it with its own profile", () => {
    const decision = placeStep(
      versioned(),
      [cloud1({ ...v2, memoryMb: 16384 }), edgeA({ ...v1 }), edgeB({ ...v1 })],
      env(),
    );
    const [cloud, a, b] = decision.candidates;
    // Judged by 2.0.0's needs (gpu, 8 GiB), edge-a would be refused; by 1.0.0's it is eligible.
    expect(a).toMatchObject({ service: 'detect@1.0.0', eligible: true });
    expect(a.estimate).toMatchObject({ computeMs: 40, computeSource: 'declared-tag', latencyMs: 40 });
    expect(cloud).toMatchObject({ service: 'detect@2.0.0', eligible: true });
    expect(cloud.estimate).toMatchObject({ computeMs: 4, computeSource: 'declared-tag' });
    // edge-b runs 1.0.0 but has no npu: refused by 1.0.0's requirement, not by 2.0.0's gpu.
    expect(b.rejections).toEqual([
      { constraint: 'tags', message: 'node edge-b lacks tag npu (needs all of npu; has camera, x86_64)' },
    ]);
    expect(chosen(decision).nodeId).toBe('edge-a');
  });

  it('names the version whose memory need a candidate misses, and learns per version', () => {
    const e = env();
    e.profiles.record('detect@1.0.0', 'edge-a', 250);
    const decision = placeStep(versioned(), [cloud1({ ...v2, memoryMb: 4096 }), edgeA({ ...v1 })], e);
    expect(decision.candidates[0].rejections[0].message).toBe(
      'node cloud-1 offers 4096 MiB; detect@2.0.0 needs 8192 MiB',
    );
    expect(decision.candidates[1].estimate).toMatchObject({ computeMs: 250, computeSource: 'observed' });
  });

  it('chooses the same without explanation', () => {
    const candidates = [cloud1({ ...v2, memoryMb: 16384 }), edgeA({ ...v1 }), edgeB({ ...v1 })];
    for (const hints of [{}, { objective: 'cost' as const }]) {
      const full = placeStep(versioned({ hints }), candidates, env());
      const fast = placeStep(versioned({ hints }), candidates, env(), { explain: false });
      const { score: _score, ...explained } = chosen(full);
      expect(chosen(fast)).toEqual(explained);
    }
  });

  it('refuses a candidate of a version the step does not list', () => {
    expect(() => placeStep(versioned(), [edgeA({ service: 'detect@3.0.0' })], env())).toThrow(
      /serves detect@3\.0\.0, which is not a version of the step \(detect@2\.0\.0, detect@1\.0\.0\)/,
    );
    expect(() => placeStep(step(), [edgeA({ service: 'detect@2.0.0' })], env())).toThrow(PlacementInputError);
  });
});
