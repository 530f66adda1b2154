/**
 * Placement figures, all measured in this one process:
 *  - routing: time per `placeStep` decision at 10, 100 and 1,000 candidates (median and p99 over
 *    many decisions, each timed on its own), with and without the explanation, against a plain
 *    least-loaded pick over the same candidates (the baseline, for ratios);
 *  - deployment planning with the heuristic at 1,000 nodes × 50 services;
 *  - the heuristic's gap to the exact MILP optimum (HiGHS) on 100 random small problems.
 *
 *   npx tsc -p tsconfig.build.json --outDir /tmp/placement-dist && npx tsc-alias -p tsconfig.build.json --outDir /tmp/placement-dist
 *   NODE_PATH=$PWD/node_modules node /tmp/placement-dist/tools/bench/placement.js   # NODE_PATH: the output lives outside the repo
 */
import { performance } from 'node:perf_hooks';
import {
  buildPlanningModel,
  ComputeProfiles,
  evaluateAssignment,
  NetworkModel,
  placeStep,
  planDeploymentHeuristic,
  type PlacementCandidate,
  type PlacementEnvironment,
  type StepPlacementRequest,
} from '../../libs/placement/src';
import { loadMilpSolver, solveExact } from '../../libs/placement/src/planning/exact.solver';
import { solveHeuristic } from '../../libs/placement/src/planning/heuristic.solver';
import { randomDeploymentProblem, seededRandom } from '../../libs/placement/src/planning/random-problems';

const print = (line = '') => process.stdout.write(line + '\n');
const fixed = (value: number, digits = 2) => value.toFixed(digits);

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function summarise(samples: Float64Array): { median: number; p99: number } {
  const sorted = samples.slice().sort();
  return { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

const SITES = Array.from({ length: 20 }, (_, s) => (s === 0 ? 'cloud' : `edge-${s}`));
const TAGS = ['gpu', 'npu', 'camera', 'arm64', 'x86_64'];

function routingWorld(count: number, seed: number) {
  const random = seededRandom(seed);
  const network = new NetworkModel();
  for (let a = 0; a < SITES.length; a++) {
    for (let b = a + 1; b < SITES.length; b++) network.setSiteRtt(SITES[a], SITES[b], 5 + Math.round(random() * 75));
  }
  const profiles = new ComputeProfiles().declare('detect', { byTagMs: { gpu: 12, npu: 35 }, defaultMs: 120 });
  const candidates: PlacementCandidate[] = Array.from({ length: count }, (_, c) => {
    const site = SITES[Math.floor(random() * SITES.length)];
    const nodeId = `n${c}`;
    if (random() < 0.5) profiles.record('detect@1.0.0', nodeId, 10 + random() * 150);
    network.setOrchestratorRtt(nodeId, 1 + random() * 60);
    return {
      nodeId,
      instanceId: `i${c}`,
      instanceStatus: random() < 0.95 ? 'ready' : 'starting',
      site,
      tier: site === 'cloud' ? 'cloud' : 'edge',
      tags: TAGS.filter(() => random() < 0.4),
      memoryMb: 4096,
      costPerHour: site === 'cloud' ? 0.5 + random() * 2 : 0.02 + random() * 0.3,
      nodeStatus: random() < 0.97 ? 'alive' : 'dead',
      inFlight: Math.floor(random() * 4),
      queued: Math.floor(random() * 6),
      concurrency: 4,
      maxQueue: 256,
      bandwidthMbps: [20, 50, 100, 1000][Math.floor(random() * 4)],
    };
  });
  const steps: StepPlacementRequest[] = [
    { service: 'detect@1.0.0', inputBytes: 200_000, origin: { nodeId: 'n0', site: candidates[0].site } },
    { service: 'detect@1.0.0', inputBytes: 50_000, origin: { site: 'edge-3' }, hints: { objective: 'cost' } },
    {
      service: 'detect@1.0.0',
      inputBytes: 500_000,
      origin: { site: 'edge-5' },
      hints: { objective: { latency: 0.7, cost: 0.3 }, tags: { anyOf: ['gpu', 'npu'] } },
    },
    { service: 'detect@1.0.0', inputBytes: 100_000, hints: { objective: 'cost', maxLatencyMs: 150 } },
  ];
  return { environment: { network, profiles } as PlacementEnvironment, candidates, steps, random };
}

/** The baseline: the alive, ready instance with the least load per slot, nothing else considered. */
function leastLoaded(candidates: readonly PlacementCandidate[]): number {
  let best = -1;
  let bestLoad = Infinity;
  for (let c = 0; c < candidates.length; c++) {
    const candidate = candidates[c];
    if (candidate.nodeStatus !== 'alive' || candidate.instanceStatus !== 'ready') continue;
    const load = (candidate.inFlight + candidate.queued) / candidate.concurrency;
    if (load < bestLoad) [best, bestLoad] = [c, load];
  }
  return best;
}

function benchRouting(): void {
  print('Routing: time per decision (each decision timed alone; load of one candidate changes between decisions)');
  const overhead = new Float64Array(100_000);
  for (let r = 0; r < overhead.length; r++) {
    const start = performance.now();
    overhead[r] = performance.now() - start;
  }
  print(`  timer overhead: median ${fixed(summarise(overhead).median * 1000, 3)} µs (included in every figure below)`);
  print(
    '  candidates | placeStep explained   | placeStep explain:false | least-loaded baseline | explained ÷ baseline',
  );
  print('             | median µs   p99 µs    | median µs   p99 µs      | median µs   p99 µs    | (medians)');
  for (const count of [10, 100, 1000]) {
    const world = routingWorld(count, 42 + count);
    const decisions = Math.max(5_000, Math.round(2_000_000 / count));
    let sink = 0;
    const run = (label: 'explained' | 'fast' | 'baseline', samples: Float64Array) => {
      for (let d = 0; d < samples.length; d++) {
        const touched = world.candidates[d % count];
        touched.inFlight = (touched.inFlight + 1) % 5;
        touched.queued = (touched.queued + 3) % 7;
        const step = world.steps[d % world.steps.length];
        const start = performance.now();
        if (label === 'baseline') sink += leastLoaded(world.candidates);
        else {
          const decision = placeStep(step, world.candidates, world.environment, { explain: label === 'explained' });
          sink += decision.eligibleCount;
        }
        samples[d] = performance.now() - start;
      }
    };
    const warm = new Float64Array(Math.min(decisions, 20_000));
    for (const label of ['explained', 'fast', 'baseline'] as const) run(label, warm);
    const explained = new Float64Array(decisions);
    const fast = new Float64Array(decisions);
    const baseline = new Float64Array(decisions);
    run('explained', explained);
    run('fast', fast);
    run('baseline', baseline);
    const [e, f, b] = [summarise(explained), summarise(fast), summarise(baseline)].map((s) => ({
      median: s.median * 1000,
      p99: s.p99 * 1000,
    }));
    print(
      `  ${String(count).padStart(10)} | ${fixed(e.median).padStart(9)} ${fixed(e.p99).padStart(9)}   | ${fixed(f.median).padStart(9)} ${fixed(f.p99).padStart(9)}     | ${fixed(b.median).padStart(9)} ${fixed(b.p99).padStart(9)}   | ${fixed(e.median / b.median, 1)}×   (${decisions} decisions each${sink < 0 ? '' : ''})`,
    );
  }
}

function benchPlanning(): void {
  print();
  print(
    'Deployment planning, heuristic, 1,000 nodes × 50 services, 20 sites (19 loaded), objective latency 0.5 / cost 0.5',
  );
  const problem = randomDeploymentProblem(7, {
    services: 50,
    nodes: 1000,
    sites: 20,
    objective: { latency: 0.5, cost: 0.5 },
  });
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    const plan = planDeploymentHeuristic(problem);
    times.push(performance.now() - start);
    if (run === 0) {
      if (!plan.ok) {
        print(`  no plan: ${plan.error.message}`);
        return;
      }
      const instances = plan.services.reduce((sum, s) => sum + s.instances, 0);
      const nodes = new Set(plan.services.flatMap((s) => s.placements.map((p) => p.nodeId))).size;
      print(
        `  plan: ${instances} instances on ${nodes} nodes, ${fixed(plan.objective.costPerHour, 3)}/h, run latency ${fixed(plan.objective.runLatencyMs, 1)} ms, objective ${fixed(plan.objective.value, 4)}`,
      );
    }
  }
  const model = buildPlanningModel(problem);
  print(
    `  ${model.pairs.length} (service, origin) demand pairs; total time per plan (model + heuristic + report): first ${fixed(times[0], 0)} ms, then ${times
      .slice(1)
      .map((t) => fixed(t, 0))
      .join(' ms, ')} ms`,
  );
}

async function benchGap(): Promise<void> {
  print();
  print(
    'Heuristic vs exact MILP (HiGHS) on 100 random small problems: 3 services × 8 nodes × 3 sites, mixed objectives',
  );
  await loadMilpSolver();
  const gaps: number[] = [];
  const exactMs: number[] = [];
  const heuristicMs: number[] = [];
  let infeasible = 0;
  let heuristicFailed = 0;
  let unproven = 0;
  for (let seed = 1; seed <= 100; seed++) {
    const model = buildPlanningModel(randomDeploymentProblem(seed, { services: 3, nodes: 8, sites: 3 }));
    if (model.unsatisfiable) {
      infeasible++;
      continue;
    }
    let start = performance.now();
    const heuristic = solveHeuristic(model);
    heuristicMs.push(performance.now() - start);
    start = performance.now();
    const exact = await solveExact(model);
    exactMs.push(performance.now() - start);
    if (exact.assignment === undefined) {
      infeasible++;
      continue;
    }
    if (!exact.provenOptimal) unproven++;
    if ('unplacedPair' in heuristic) {
      heuristicFailed++;
      continue;
    }
    const h = evaluateAssignment(model, heuristic.assignment).value;
    const e = evaluateAssignment(model, exact.assignment).value;
    gaps.push(((h - e) / e) * 100);
  }
  const sorted = Float64Array.from(gaps).sort();
  const ms = (values: number[]) => summarise(Float64Array.from(values));
  print(
    `  compared ${gaps.length}; skipped ${infeasible} with no feasible plan; heuristic found none where MILP did: ${heuristicFailed}; MILP not proven optimal: ${unproven}`,
  );
  print(
    `  gap (heuristic − exact) ÷ exact: median ${fixed(quantile(sorted, 0.5), 2)} %, p90 ${fixed(quantile(sorted, 0.9), 2)} %, worst ${fixed(sorted[sorted.length - 1], 2)} %; exactly optimal in ${gaps.filter((g) => g < 1e-6).length} of ${gaps.length}`,
  );
  print(
    `  time per problem: heuristic median ${fixed(ms(heuristicMs).median, 2)} ms (p99 ${fixed(ms(heuristicMs).p99, 2)}), exact median ${fixed(ms(exactMs).median, 1)} ms (p99 ${fixed(ms(exactMs).p99, 1)})`,
  );
}

async function main(): Promise<void> {
  print(`placement benchmark — node ${process.version}, ${new Date().toISOString()}`);
  benchRouting();
  benchPlanning();
  await benchGap();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
