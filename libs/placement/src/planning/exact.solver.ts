import loadHighs from 'highs';
import type { Assignment, PlanningModel } from './model';

type Highs = Awaited<ReturnType<typeof loadHighs>>;

let solver: Promise<Highs> | undefined;

/** Loads the HiGHS WebAssembly module once per process (about 50 ms); later calls share it. */
export function loadMilpSolver(): Promise<Highs> {
  solver ??= loadHighs();
  return solver;
}

export interface ExactSolveOptions {
  /** Wall-clock limit for HiGHS; the best solution found by then is used, not proven optimal. */
  timeLimitSeconds?: number;
  /** Relative MIP gap at which HiGHS stops and calls the solution optimal. */
  relativeGap?: number;
}

export type ExactOutcome =
  { assignment: Assignment; provenOptimal: boolean; status: string } | { assignment?: undefined; status: string };

const x = (i: number, j: number) => `x${i}_${j}`;
const y = (p: number, j: number) => `y${p}_${j}`;
/** Shortest round-trip decimal (HiGHS's LP reader takes exponents such as 1e-7). */
const num = (value: number) => String(value);

/** Writes terms a few per line: LP readers take continuation lines, and short lines keep the text readable. */
function row(name: string, terms: string[], sense: string): string {
  const lines: string[] = [];
  for (let t = 0; t < terms.length; t += 8) lines.push(terms.slice(t, t + 8).join(' '));
  return ` ${name}: ${lines.join('\n   ')} ${sense}`;
}

/**
 * The model in CPLEX LP format (see docs/placement.md). Variables: x{i}_{j} instances of service i
 * on node j (integer); y{p}_{j} share of demand pair p served by node j (0..1).
 */
export function toLpFormat(model: PlanningModel): string {
  const N = model.nodeCount;
  const objective: string[] = [];
  const constraints: string[] = [];
  const bounds: string[] = [];
  const generals: string[] = [];
  const capacityTerms = new Map<number, string[]>();
  const usedX = new Set<number>();

  model.pairs.forEach((pair, p) => {
    const demand: string[] = [];
    for (let n = 0; n < pair.nodes.length; n++) {
      const j = pair.nodes[n];
      const ij = pair.service * N + j;
      const name = y(p, j);
      objective.push(`+ ${num(pair.runsPerSecond * pair.weight[n])} ${name}`);
      demand.push(`+ ${name}`);
      bounds.push(` 0 <= ${name} <= 1`);
      let terms = capacityTerms.get(ij);
      if (!terms) capacityTerms.set(ij, (terms = []));
      terms.push(`+ ${num(pair.runsPerSecond)} ${name}`);
      usedX.add(ij);
    }
    constraints.push(row(`demand${p}`, demand, '= 1'));
  });
  for (let i = 0; i < model.serviceCount; i++) {
    if (model.minInstances[i] === 0) continue;
    for (let j = 0; j < N; j++)
      if (model.eligible[i * N + j] && model.maxInstances[i * N + j] > 0) usedX.add(i * N + j);
  }
  const xs = [...usedX].sort((a, b) => a - b);
  const memoryTerms = new Map<number, string[]>();
  const cpuTerms = new Map<number, string[]>();
  const minimumTerms = new Map<number, string[]>();
  for (const ij of xs) {
    const i = Math.floor(ij / N);
    const j = ij % N;
    const name = x(i, j);
    objective.push(`+ ${num(model.instanceWeight[ij])} ${name}`);
    bounds.push(` 0 <= ${name} <= ${model.maxInstances[ij]}`);
    generals.push(name);
    const capacity = capacityTerms.get(ij);
    if (capacity)
      constraints.push(row(`capacity${i}_${j}`, [...capacity, `- ${num(model.capacity[ij])} ${name}`], '<= 0'));
    if (model.memoryMb[i] > 0) pushTo(memoryTerms, j, `+ ${num(model.memoryMb[i])} ${name}`);
    pushTo(cpuTerms, j, `+ ${num(model.cpuCores[ij])} ${name}`);
    pushTo(minimumTerms, i, `+ ${name}`);
  }
  const nodes = model.problem.nodes;
  for (const [j, terms] of memoryTerms) constraints.push(row(`memory${j}`, terms, `<= ${num(nodes[j].memoryMb)}`));
  for (const [j, terms] of cpuTerms) constraints.push(row(`cpu${j}`, terms, `<= ${num(nodes[j].cpuCores)}`));
  for (const [i, terms] of minimumTerms) {
    if (model.minInstances[i] > 0) constraints.push(row(`minimum${i}`, terms, `>= ${model.minInstances[i]}`));
  }
  const objectiveLines: string[] = [];
  for (let t = 0; t < objective.length; t += 8) objectiveLines.push(objective.slice(t, t + 8).join(' '));
  return [
    'Minimize',
    ` objective: ${objectiveLines.join('\n   ') || '0 x_none'}`,
    'Subject To',
    ...constraints,
    'Bounds',
    ...bounds,
    'General',
    ` ${generals.join(' ')}`,
    'End',
    '',
  ].join('\n');
}

function pushTo(map: Map<number, string[]>, key: number, term: string): void {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(term);
}

/** Solves the model exactly with HiGHS (branch and cut). */
export async function solveExact(model: PlanningModel, options: ExactSolveOptions = {}): Promise<ExactOutcome> {
  const highs = await loadMilpSolver();
  const result = highs.solve(toLpFormat(model), {
    output_flag: false,
    time_limit: options.timeLimitSeconds ?? 30,
    mip_rel_gap: options.relativeGap ?? 1e-6,
  });
  const hasSolution =
    (result.Status === 'Optimal' || result.Status === 'Time limit reached') &&
    Object.values(result.Columns).some((c) => 'Primal' in c);
  if (!hasSolution) return { status: result.Status };
  const N = model.nodeCount;
  const instances = new Int32Array(model.serviceCount * N);
  const flows: Assignment['flows'] = [];
  for (const [name, column] of Object.entries(result.Columns)) {
    if (!('Primal' in column)) continue;
    const match = /^([xy])(\d+)_(\d+)$/.exec(name);
    if (!match) continue;
    const [first, second] = [Number(match[2]), Number(match[3])];
    if (match[1] === 'x') instances[first * N + second] = Math.round(column.Primal);
    else if (column.Primal > 1e-9) {
      flows.push({ pair: first, node: second, runsPerSecond: column.Primal * model.pairs[first].runsPerSecond });
    }
  }
  return { assignment: { instances, flows }, provenOptimal: result.Status === 'Optimal', status: result.Status };
}
