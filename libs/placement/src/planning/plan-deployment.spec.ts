import { ComputeProfiles } from '../compute-profiles';
import { PlacementInputError } from '../errors';
import { NetworkModel } from '../network';
import { toLpFormat } from './exact.solver';
import { solveHeuristic } from './heuristic.solver';
import { assignmentViolations, buildPlanningModel, evaluateAssignment } from './model';
import { heuristicGap, milpVariableCount, planDeployment, planDeploymentHeuristic } from './plan-deployment';
import { randomDeploymentProblem } from './random-problems';
import type { DeploymentPlan, DeploymentPlanResult, DeploymentProblem, PlannedNode } from './types';

/*
 * One service (100 ms per call, 1 request at a time, 512 MiB, 1 core): an instance takes
 * 1000 ÷ 100 × 0.7 = 7 runs/s. Load comes from site F.
 *   edge-a at F: 2 cores, 1.0/h → an instance reserves max(512/4096, 1/2) = 1/2 → 0.5/h; latency 1 (LAN) + 100 = 101 ms
 *   cloud-1 at C: 4 cores, 0.4/h → reserves 1/4 → 0.1/h; latency 50 (RTT F–C) + 100 = 150 ms
 */
const edgeA: PlannedNode = {
  id: 'edge-a',
  site: 'F',
  tier: 'edge',
  tags: ['npu'],
  memoryMb: 4096,
  cpuCores: 2,
  costPerHour: 1,
};
const cloud1: PlannedNode = {
  id: 'cloud-1',
  site: 'C',
  tier: 'cloud',
  tags: ['gpu'],
  memoryMb: 4096,
  cpuCores: 4,
  costPerHour: 0.4,
};

function problem(overrides: Partial<DeploymentProblem> = {}): DeploymentProblem {
  return {
    services: [{ service: 'detect@1.0.0', concurrency: 1, requirements: { memoryMb: 512 } }],
    nodes: [edgeA, cloud1],
    load: [{ site: 'F', runsPerSecond: 5 }],
    profiles: new ComputeProfiles().declare('detect', { defaultMs: 100 }),
    network: new NetworkModel().setSiteRtt('F', 'C', 50),
    ...overrides,
  };
}

function plan(result: DeploymentPlanResult): DeploymentPlan {
  if (!result.ok) throw new Error(`expected a plan, got: ${result.error.message}`);
  return result;
}

const layout = (result: DeploymentPlanResult) =>
  plan(result).services.map((s) => s.placements.map((p) => `${p.instances}×${p.nodeId}@${p.runsPerSecond}`));

async function bothSolvers(p: DeploymentProblem): Promise<[DeploymentPlan, DeploymentPlan]> {
  return [plan(await planDeployment(p, { solver: 'exact' })), plan(planDeploymentHeuristic(p))];
}

describe('planDeployment on hand-checked problems', () => {
  it('puts the service near its load for latency and on the cheap far node for cost', async () => {
    for (const solve of [(p: DeploymentProblem) => planDeployment(p, { solver: 'exact' }), planDeploymentHeuristic]) {
      expect(layout(await solve(problem({ objective: 'latency' })))).toEqual([['1×edge-a@5']]);
      expect(layout(await solve(problem({ objective: 'cost' })))).toEqual([['1×cloud-1@5']]);
    }
  });

  it('weighs the mix on scaled latency and cost: even weights go far, a heavy latency weight stays near', async () => {
    // Lref = 101 ms, Cref = 0.1/h. Even: near 0.5×1 + 0.5×5 = 3 against far 0.5×150/101 + 0.5×1 = 1.24.
    // latency 0.9: near 0.9 + 0.1×5 = 1.4 against far 0.9×1.485 + 0.1 = 1.44.
    const [evenExact, evenHeuristic] = await bothSolvers(problem({ objective: { latency: 1, cost: 1 } }));
    expect(layout(evenExact)).toEqual([['1×cloud-1@5']]);
    expect(evenExact.objective.value).toBeCloseTo(0.5 * (150 / 101) + 0.5, 9);
    expect(evenHeuristic.objective.value).toBeCloseTo(evenExact.objective.value, 9);
    const [heavy] = await bothSolvers(problem({ objective: { latency: 0.9, cost: 0.1 } }));
    expect(layout(heavy)).toEqual([['1×edge-a@5']]);
    expect(heavy.objective).toMatchObject({ costPerHour: 0.5, runLatencyMs: 101, latencyReferenceMs: 101 });
    expect(heavy.objective.costReferencePerHour).toBeCloseTo(0.1, 12);
  });

  it('starts enough instances for the load and spills over when the near node is full', async () => {
    // 20 runs/s ÷ 7 per instance = 3 instances; edge-a's 2 cores hold 2 (14 runs/s), cloud-1 takes the other 6.
    const [exact, heuristic] = await bothSolvers(
      problem({ objective: 'latency', load: [{ site: 'F', runsPerSecond: 20 }] }),
    );
    for (const p of [exact, heuristic]) {
      expect(layout(p)).toEqual([['2×edge-a@14', '1×cloud-1@6']]);
      expect(p.services[0]).toMatchObject({ instances: 3, costPerHour: 1.1 });
      expect(p.services[0].placements.map((x) => x.utilisation)).toEqual([0.7, 0.6]);
    }
    expect(exact.provenOptimal).toBe(true);
    expect(exact.reasons[0]).toBe(
      'detect@1.0.0: 3 instances: 2× on edge-a (F, 14 runs/s, 70% busy), 1× on cloud-1 (C, 6 runs/s, 60% busy); mean call 115.7 ms, 1.1/h',
    );
  });

  it('keeps edge-private data at its site and says how many nodes that excluded', async () => {
    const p = problem({
      objective: 'cost',
      services: [
        { service: 'detect@1.0.0', concurrency: 1, requirements: { memoryMb: 512 }, dataTier: 'edge-private' },
      ],
    });
    const [exact, heuristic] = await bothSolvers(p);
    expect(layout(exact)).toEqual([['1×edge-a@5']]);
    expect(layout(heuristic)).toEqual([['1×edge-a@5']]);
    expect(exact.services[0].notes).toEqual([
      'edge-private data from site F stays there: 1 otherwise eligible node(s) excluded',
    ]);
  });

  it('refuses, naming the data move, when private data has no node at its site', async () => {
    const p = problem({
      services: [
        {
          service: 'detect@1.0.0',
          concurrency: 1,
          requirements: { memoryMb: 512, tags: ['gpu'] },
          dataTier: 'edge-private',
        },
      ],
    });
    const result = await planDeployment(p);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).toBe(
      'detect@1.0.0: load from site F (5 runs/s) has nowhere to run: its edge-private data would have to move from site F to cloud-1 against its tier, and no node at site F can run it (1 node(s) by tags, e.g. node edge-a lacks tag gpu (needs all of gpu; has npu))',
    );
  });

  it('records excluded nodes by constraint, and relaxes an unreachable SLO to the fastest node', async () => {
    const p = problem({
      objective: 'cost',
      nodes: [edgeA, cloud1, { ...cloud1, id: 'cloud-2', tier: 'cloud', tags: [], cpuCores: 0.5 }],
      services: [
        {
          service: 'detect@1.0.0',
          concurrency: 1,
          cpuCores: 1,
          requirements: { memoryMb: 512 },
          hints: { maxLatencyMs: 50 },
        },
      ],
    });
    const result = plan(await planDeployment(p));
    expect(result.services[0].excluded).toEqual([
      { constraint: 'cpu', nodes: 1, examples: ['node cloud-2 has 0.5 cores; an instance of detect@1.0.0 reserves 1'] },
    ]);
    expect(result.services[0].notes).toEqual([
      'no node meets the 50 ms SLO for load from site F; planned on the fastest (101 ms)',
    ]);
    expect(layout(result)).toEqual([['1×edge-a@5']]);
  });

  it('an SLO turns the cost objective into the cheapest plan within it', async () => {
    const withSlo = (maxLatencyMs: number) =>
      problem({
        objective: 'cost',
        services: [
          { service: 'detect@1.0.0', concurrency: 1, requirements: { memoryMb: 512 }, hints: { maxLatencyMs } },
        ],
      });
    expect(layout(await planDeployment(withSlo(120)))).toEqual([['1×edge-a@5']]);
    expect(layout(await planDeployment(withSlo(200)))).toEqual([['1×cloud-1@5']]);
  });

  it('runs the minimum instances of a service without load on its cheapest node', async () => {
    const p = problem({
      objective: 'latency',
      services: [
        { service: 'detect@1.0.0', concurrency: 1, requirements: { memoryMb: 512 } },
        { service: 'archive@1.0.0', concurrency: 1, requirements: { memoryMb: 512 }, minInstances: 2 },
      ],
      load: [{ site: 'F', runsPerSecond: 5 }],
    });
    const [exact, heuristic] = await bothSolvers(p);
    // archive has load too (every run calls every service); its second instance goes to the cheaper cloud-1.
    for (const x of [exact, heuristic]) expect(x.services[1].instances).toBe(2);
    expect(heuristic.objective.value).toBeCloseTo(exact.objective.value, 9);
  });

  it('refuses when the nodes cannot hold the load', async () => {
    const p = problem({ load: [{ site: 'F', runsPerSecond: 100 }] });
    const exact = await planDeployment(p, { solver: 'exact' });
    const heuristic = planDeploymentHeuristic(p);
    expect(exact.ok).toBe(false);
    expect(heuristic.ok).toBe(false);
    if (!heuristic.ok)
      expect(heuristic.error.message).toMatch(
        /^no deployment fits \(the heuristic found no room for detect@1.0.0 load from site F\): 2 nodes offer 8192 MiB and 6 cores/,
      );
  });

  it('validates its inputs with sentences that say what is accepted', () => {
    expect(() => planDeploymentHeuristic(problem({ maxUtilisation: 1.5 }))).toThrow(
      'maxUtilisation must be above 0 and at most 1 (got 1.5)',
    );
    const userPrivate = problem({
      services: [{ service: 'detect@1.0.0', concurrency: 1, dataTier: 'user-private' }],
    });
    expect(() => planDeploymentHeuristic(userPrivate)).toThrow(PlacementInputError);
    expect(
      plan(planDeploymentHeuristic({ ...userPrivate, userPrivateScope: 'site' })).services[0].placements[0].nodeId,
    ).toBe('edge-a');
  });

  it('chooses the exact solver for small problems and the heuristic for large ones', async () => {
    expect((await planDeployment(problem())).solver).toBe('exact');
    expect(milpVariableCount(buildPlanningModel(problem()))).toBe(4); // 2 instance counts + 2 demand shares
    expect((await planDeployment(problem(), { exactMaxVariables: 3 })).solver).toBe('heuristic');
  });

  it('writes the MILP in LP format with one demand, capacity, memory, cpu and minimum row', () => {
    const lp = toLpFormat(buildPlanningModel(problem({ objective: 'latency' })));
    expect(lp).toContain(' demand0: + y0_0 + y0_1 = 1');
    expect(lp).toContain(' capacity0_1: + 5 y0_1 - 7 x0_1 <= 0');
    expect(lp).toContain(' memory0: + 512 x0_0 <= 4096');
    expect(lp).toContain(' cpu1: + 1 x0_1 <= 4');
    expect(lp).toContain(' minimum0: + x0_0 + x0_1 >= 1');
    expect(lp).toMatch(/General\n x0_0 x0_1\nEnd/);
  });
});

describe('heuristic at scale', () => {
  it('gives the same feasible plan for the same problem and seed', () => {
    const problem = randomDeploymentProblem(3, { services: 5, nodes: 70, sites: 5 });
    const model = buildPlanningModel(problem);
    const first = solveHeuristic(model, { seed: 5 });
    const second = solveHeuristic(model, { seed: 5 });
    if ('unplacedPair' in first || 'unplacedPair' in second) throw new Error('expected plans');
    expect(assignmentViolations(model, first.assignment)).toEqual([]);
    expect(Array.from(second.assignment.instances)).toEqual(Array.from(first.assignment.instances));
    expect(second.assignment.flows).toEqual(first.assignment.flows);
  });

  it('the random search never makes the plan worse than the deterministic sweeps alone', () => {
    let compared = 0;
    for (const seed of [11, 12, 13]) {
      const model = buildPlanningModel(randomDeploymentProblem(seed, { services: 4, nodes: 40, sites: 4 }));
      const sweeps = solveHeuristic(model, { iterations: 0 });
      const searched = solveHeuristic(model, { iterations: 100 });
      if ('unplacedPair' in sweeps || 'unplacedPair' in searched) continue;
      expect(evaluateAssignment(model, searched.assignment).value).toBeLessThanOrEqual(
        evaluateAssignment(model, sweeps.assignment).value + 1e-12,
      );
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(2);
  });
});

describe('heuristic against the exact optimum on random small problems', () => {
  const seeds = Array.from({ length: 12 }, (_, s) => 1000 + s);

  it('both produce feasible plans, and the heuristic is never better than the proven optimum', async () => {
    let compared = 0;
    for (const seed of seeds) {
      const p = randomDeploymentProblem(seed, { services: 3, nodes: 8, sites: 3 });
      const model = buildPlanningModel(p);
      if (model.unsatisfiable) continue;
      const heuristic = solveHeuristic(model);
      if ('unplacedPair' in heuristic) continue;
      expect(assignmentViolations(model, heuristic.assignment)).toEqual([]);
      const exact = await planDeployment(p, { solver: 'exact' });
      if (!exact.ok) continue;
      const gap = await heuristicGap(p);
      expect(gap).toBeDefined();
      expect(gap!.exactProvenOptimal).toBe(true);
      expect(gap!.heuristic).toBeCloseTo(evaluateAssignment(model, heuristic.assignment).value, 12);
      expect(gap!.exact).toBeCloseTo(exact.objective.value, 9);
      expect(gap!.gapPercent).toBeGreaterThan(-1e-4); // the MIP gap tolerance is 1e-6 relative
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(8);
  });
});

describe('planning with node limits', () => {
  it('offers what the limits allow and scales compute to the CPU an instance gets', () => {
    const device: PlannedNode = {
      id: 'dev-1',
      site: 'F',
      tier: 'device',
      tags: ['npu'],
      memoryMb: 4096,
      cpuCores: 2,
      costPerHour: 0.01,
      limits: { cpu: 0.5, memoryMb: 1024 },
    };
    const model = buildPlanningModel(
      problem({
        services: [{ service: 'detect@1.0.0', concurrency: 1, cpuCores: 0.25, requirements: { memoryMb: 256 } }],
        nodes: [device, edgeA],
      }),
    );
    // device: 0.25 of a core → 4 × 100 ms; two instances fit in its 0.5-core limit (memory: 4 in 1024 MiB).
    expect(model.computeMs[0]).toBe(400);
    expect(model.maxInstances[0]).toBe(2);
    expect(model.problem.nodes[0]).toMatchObject({ cpuCores: 0.5, memoryMb: 1024 });
    // edge-a has no limits: 0.25 of one of its cores, the same 4×, eight instances by CPU.
    expect(model.computeMs[1]).toBe(400);
    expect(model.maxInstances[1]).toBe(8);
    // Without cpuCores an instance is started without resources: the node's CPU, no slowdown.
    const plain = buildPlanningModel(problem({ nodes: [{ ...device, limits: { cpu: 1 } }] }));
    expect(plain.computeMs[0]).toBe(100);
  });

  it('plans a sub-core device for a service that states no CPU: one instance takes the whole node', async () => {
    const device: PlannedNode = {
      id: 'dev-1',
      site: 'F',
      tier: 'device',
      tags: ['npu'],
      memoryMb: 4096,
      cpuCores: 2,
      costPerHour: 0.01,
      limits: { cpu: 0.25 },
    };
    const model = buildPlanningModel(problem({ nodes: [device] }));
    // It reserves the device's 0.25 core (not the default 1, which would exclude it) and
    // computes at a quarter of a core.
    expect(model.eligible[0]).toBe(1);
    expect(model.cpuCores[0]).toBe(0.25);
    expect(model.maxInstances[0]).toBe(1);
    expect(model.computeMs[0]).toBe(400);
    // At 400 ms a call one instance takes under 2.5 runs/s: plan 1 run/s.
    const result = plan(await planDeployment(problem({ nodes: [device], load: [{ site: 'F', runsPerSecond: 1 }] })));
    expect(result.services[0].excluded).toEqual([]);
    expect(layout(result)[0][0]).toMatch(/^1×dev-1@/);
  });
});
