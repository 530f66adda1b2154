import type { Assignment, PlanningModel } from './model';
import { seededRandom } from './seeded-random';

const EPSILON = 1e-9;
const MAX_SWEEPS = 4;
/** Nodes a pair first looks at: its best on an empty cluster. The full list is read only when these are full. */
export const SHORTLIST_SIZE = 64;
/** Up to this many pairs a rebuild re-reads regrets after each placement (cost grows with its square). */
const DYNAMIC_REGRET_LIMIT = 8;

/** Larger first; Infinity (a single option) ties with Infinity instead of giving NaN. */
const compareDescending = (a: number, b: number) => (a === b ? 0 : a > b ? -1 : 1);

export interface HeuristicOptions {
  /** Random ruin-and-recreate rounds after the deterministic sweeps (default 300); 0 turns them off. */
  iterations?: number;
  /** Seed of those rounds: the same problem and seed give the same plan. */
  seed?: number;
}

interface Flow {
  node: number;
  runsPerSecond: number;
}

/**
 * Regret-ordered greedy construction, then ruin-and-recreate. Each demand pair (service, origin)
 * goes to the node with the lowest objective per run/s served: the flow's latency and egress plus
 * any instances it must start (so spare capacity on a running instance is cheap). Pairs that lose
 * most if their best node fills up (largest regret: second-best minus best) are placed first.
 * Then, while the objective falls, two moves: take one pair out and place it again; for each node,
 * take out the pairs it serves and the pairs for which it is the ideal node (best on an empty
 * cluster), and place them again in regret order (this lets services trade a contested node);
 * for each service, move all its demand to the one node that serves it best as a whole (so
 * origins share instances instead of each starting a half-used one).
 * A move that does not lower the objective is undone. Then `iterations` seeded random rounds of
 * the same kind (a random node's or service's pairs plus a few random ones, placed again with
 * noise in the order) keep any improvement: a small large-neighbourhood search. Instance counts always follow the load
 * (ceil(load ÷ capacity)). Last, services below their minimum instance count get instances on
 * their cheapest node with room. Each pair first looks only at its SHORTLIST_SIZE best nodes on the
 * empty cluster (flow weight plus the instance cost spread over what one instance carries), and at
 * all of them when those have no room. Time ~ sweeps × (pairs + nodes × pairs per node²) × eligible nodes.
 */
export class HeuristicPlanner {
  private readonly N: number;
  readonly instances: Int32Array;
  private readonly load: Float64Array;
  private readonly memoryFree: Float64Array;
  private readonly cpuFree: Float64Array;
  private readonly flows: Flow[][];
  /** Per pair, the position of each node in its `nodes` list, or -1. */
  private readonly positions: Int32Array[];
  private readonly pairsOfService: number[][];
  private readonly shortlists: Int32Array[];
  private readonly allNodes: Int32Array;
  private objective = 0;

  private readonly random: () => number;
  private readonly iterations: number;
  /** Regret is jittered by this much during the random rounds, so they explore other orders. */
  private noise = 0;

  constructor(
    private readonly model: PlanningModel,
    options: HeuristicOptions = {},
  ) {
    this.random = seededRandom(options.seed ?? 1);
    this.iterations = options.iterations ?? 300;
    this.N = model.nodeCount;
    this.instances = new Int32Array(model.serviceCount * model.nodeCount);
    this.load = new Float64Array(model.serviceCount * model.nodeCount);
    this.memoryFree = Float64Array.from(model.problem.nodes, (n) => n.memoryMb);
    this.cpuFree = Float64Array.from(model.problem.nodes, (n) => n.cpuCores);
    this.flows = model.pairs.map(() => []);
    this.positions = model.pairs.map((pair) => {
      const position = new Int32Array(model.nodeCount).fill(-1);
      for (let n = 0; n < pair.nodes.length; n++) position[pair.nodes[n]] = n;
      return position;
    });
    this.allNodes = new Int32Array(model.nodeCount);
    for (let n = 0; n < model.nodeCount; n++) this.allNodes[n] = n;
    // Plain loops and arrays: TypedArray.from with a callback and typed-array sort with a comparator are slow in V8.
    const score = new Float64Array(model.nodeCount);
    this.shortlists = model.pairs.map((pair) => {
      if (pair.nodes.length <= SHORTLIST_SIZE) return this.allNodes.subarray(0, pair.nodes.length);
      const order: number[] = new Array(pair.nodes.length);
      for (let n = 0; n < pair.nodes.length; n++) {
        const ij = pair.service * this.N + pair.nodes[n];
        score[n] = pair.weight[n] + model.instanceWeight[ij] / Math.min(pair.runsPerSecond, model.capacity[ij]);
        order[n] = n;
      }
      order.sort((a, b) => score[a] - score[b]);
      return Int32Array.from(order.slice(0, SHORTLIST_SIZE));
    });
    this.pairsOfService = Array.from({ length: model.serviceCount }, () => []);
    model.pairs.forEach((pair, p) => this.pairsOfService[pair.service].push(p));
  }

  /** The assignment, or the index of a demand pair that found no capacity. */
  solve(): { assignment: Assignment } | { unplacedPair: number } {
    const model = this.model;
    const regret = model.pairs.map((_, p) => this.regret(p));
    const order = model.pairs
      .map((_, p) => p)
      .sort(
        (a, b) =>
          compareDescending(regret[a], regret[b]) || model.pairs[b].runsPerSecond - model.pairs[a].runsPerSecond,
      );
    // Ideal nodes are read on the empty cluster, before anything is placed.
    const wanting: number[][] = Array.from({ length: this.N }, () => []);
    model.pairs.forEach((pair, p) => {
      if (this.bestOption(p, pair.runsPerSecond)) wanting[pair.nodes[this.option.n]].push(p);
    });
    for (const p of order) if (!this.insert(p)) return { unplacedPair: p };
    for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
      let improved = false;
      for (const p of order) improved = this.rebuild([p]) || improved;
      for (let i = 0; i < model.serviceCount; i++) improved = this.consolidate(i) || improved;
      for (let j = 0; j < this.N; j++) {
        // Only a contested node is worth it: a pair that wants it is served elsewhere.
        const served = this.pairsServedBy(j);
        if (!wanting[j].some((p) => !served.includes(p))) continue;
        improved = this.rebuild([...new Set([...served, ...wanting[j]])]) || improved;
      }
      if (!improved) break;
    }
    this.search(wanting);
    this.fillMinimumInstances();
    return { assignment: this.assignment() };
  }

  private search(wanting: number[][]): void {
    const pairs = this.model.pairs;
    if (pairs.length < 2) return;
    this.noise = 0.5;
    for (let round = 0; round < this.iterations; round++) {
      const chosen = new Set<number>();
      if (this.random() < 0.5) {
        const j = Math.floor(this.random() * this.N);
        for (const p of this.pairsServedBy(j)) chosen.add(p);
        for (const p of wanting[j]) chosen.add(p);
      } else {
        const service = pairs[Math.floor(this.random() * pairs.length)].service;
        pairs.forEach((pair, p) => {
          if (pair.service === service) chosen.add(p);
        });
      }
      const extra = 1 + Math.floor(this.random() * 3);
      for (let e = 0; e < extra; e++) chosen.add(Math.floor(this.random() * pairs.length));
      this.rebuild([...chosen]);
    }
    this.noise = 0;
  }

  /** Moves all of a service's demand to the single node that serves it best as a whole, if that lowers the objective. */
  private consolidate(i: number): boolean {
    const pairs = this.pairsOfService[i];
    if (pairs.length < 2) return false;
    const model = this.model;
    const before = this.objective;
    const previous = pairs.map((p) => this.removePair(p));
    let total = 0;
    for (const p of pairs) total += model.pairs[p].runsPerSecond;
    let best = -1;
    let bestCost = Infinity;
    for (const j of model.pairs[pairs[0]].nodes) {
      const ij = i * this.N + j;
      const needed = Math.ceil(total / model.capacity[ij] - EPSILON);
      const memory = model.memoryMb[i];
      const room = Math.min(memory > 0 ? this.memoryFree[j] / memory : Infinity, this.cpuFree[j] / model.cpuCores[ij]);
      if (room + EPSILON < needed) continue;
      let cost = needed * model.instanceWeight[ij];
      for (const p of pairs) {
        const n = this.positions[p][j];
        if (n === -1) {
          cost = Infinity;
          break;
        }
        cost += model.pairs[p].runsPerSecond * model.pairs[p].weight[n];
      }
      if (cost < bestCost) [best, bestCost] = [j, cost];
    }
    if (best !== -1) {
      for (const p of pairs) this.addFlow(p, this.positions[p][best], model.pairs[p].runsPerSecond);
      if (this.objective < before - 1e-12 * Math.max(1, Math.abs(before))) return true;
      for (const p of pairs) this.removePair(p);
    }
    pairs.forEach((p, index) => {
      for (const f of previous[index]) this.addFlow(p, this.positions[p][f.node], f.runsPerSecond);
    });
    return false;
  }

  private pairsServedBy(j: number): number[] {
    const pairs: number[] = [];
    this.flows.forEach((list, p) => {
      if (list.some((f) => f.node === j)) pairs.push(p);
    });
    return pairs;
  }

  private assignment(): Assignment {
    const flows: Assignment['flows'] = [];
    this.flows.forEach((list, pair) => {
      for (const f of list) flows.push({ pair, node: f.node, runsPerSecond: f.runsPerSecond });
    });
    return { instances: this.instances.slice(), flows };
  }

  /** Sets the load of (i, j) and the instances it needs, keeping resources and the objective in step. */
  private setLoad(i: number, j: number, load: number): void {
    const ij = i * this.N + j;
    const needed = load <= EPSILON ? 0 : Math.ceil(load / this.model.capacity[ij] - EPSILON);
    const added = needed - this.instances[ij];
    this.load[ij] = load <= EPSILON ? 0 : load;
    if (added === 0) return;
    this.instances[ij] = needed;
    this.memoryFree[j] -= added * this.model.memoryMb[i];
    this.cpuFree[j] -= added * this.model.cpuCores[ij];
    this.objective += added * this.model.instanceWeight[ij];
  }

  private addFlow(p: number, n: number, runsPerSecond: number): void {
    const pair = this.model.pairs[p];
    const j = pair.nodes[n];
    this.setLoad(pair.service, j, this.load[pair.service * this.N + j] + runsPerSecond);
    this.objective += runsPerSecond * pair.weight[n];
    const existing = this.flows[p].find((f) => f.node === j);
    if (existing) existing.runsPerSecond += runsPerSecond;
    else this.flows[p].push({ node: j, runsPerSecond });
  }

  private removePair(p: number): Flow[] {
    const pair = this.model.pairs[p];
    const removed = this.flows[p];
    this.flows[p] = [];
    for (const f of removed) {
      const n = this.positions[p][f.node];
      this.setLoad(pair.service, f.node, this.load[pair.service * this.N + f.node] - f.runsPerSecond);
      this.objective -= f.runsPerSecond * pair.weight[n];
    }
    return removed;
  }

  /**
   * The node to send the pair's remaining `demand` to, in `this.option`, with the second-best
   * score (for regret); false when no node has room. Options are scored on the whole demand: one
   * that can take only part is charged a lower bound for the rest (the cheapest flow weight, plus
   * one instance on the cheapest node if the spare capacity elsewhere cannot hold it), so filling
   * a cheap node halfway does not hide that the remainder needs an instance of its own.
   */
  private readonly option = { n: -1, serve: 0, score: Infinity, secondScore: Infinity };
  private spareOf = new Float64Array(0);
  private serveMaxOf = new Float64Array(0);

  private bestOption(p: number, demand: number, list = this.shortlists[p]): boolean {
    const model = this.model;
    const pair = model.pairs[p];
    const i = pair.service;
    const memory = model.memoryMb[i];
    if (this.spareOf.length < pair.nodes.length) {
      this.spareOf = new Float64Array(pair.nodes.length);
      this.serveMaxOf = new Float64Array(pair.nodes.length);
    }
    let totalSpare = 0;
    let minWeight = Infinity;
    let minInstanceWeight = Infinity;
    for (let m = 0; m < list.length; m++) {
      const n = list[m];
      const j = pair.nodes[n];
      const ij = i * this.N + j;
      const capacity = model.capacity[ij];
      const spare = Math.max(0, this.instances[ij] * capacity - this.load[ij]);
      const room = Math.max(
        0,
        Math.floor(
          Math.min(memory > 0 ? this.memoryFree[j] / memory : Infinity, this.cpuFree[j] / model.cpuCores[ij]) + EPSILON,
        ),
      );
      this.spareOf[n] = spare;
      this.serveMaxOf[n] = spare + room * capacity;
      totalSpare += spare;
      if (this.serveMaxOf[n] > EPSILON && pair.weight[n] < minWeight) minWeight = pair.weight[n];
      if (room > 0 && model.instanceWeight[ij] < minInstanceWeight) minInstanceWeight = model.instanceWeight[ij];
    }
    const option = this.option;
    option.n = -1;
    option.serve = 0;
    option.score = Infinity;
    option.secondScore = Infinity;
    for (let m = 0; m < list.length; m++) {
      const n = list[m];
      const serveMax = this.serveMaxOf[n];
      if (serveMax <= EPSILON) continue;
      const capacity = model.capacity[i * this.N + pair.nodes[n]];
      const spare = this.spareOf[n];
      const most = Math.min(demand, serveMax);
      this.consider(pair, n, most, demand, spare, totalSpare, minWeight, minInstanceWeight);
      // Also only whole instances' worth, leaving a small remainder for a cheaper node.
      const whole = spare + Math.floor((most - spare) / capacity + EPSILON) * capacity;
      if (whole > EPSILON && whole < most - EPSILON) {
        this.consider(pair, n, whole, demand, spare, totalSpare, minWeight, minInstanceWeight);
      }
    }
    return option.n !== -1;
  }

  private consider(
    pair: PlanningModel['pairs'][number],
    n: number,
    serve: number,
    demand: number,
    spare: number,
    totalSpare: number,
    minWeight: number,
    minInstanceWeight: number,
  ): void {
    const model = this.model;
    const ij = pair.service * this.N + pair.nodes[n];
    const capacity = model.capacity[ij];
    const started = serve > spare + EPSILON ? Math.ceil((serve - spare) / capacity - EPSILON) : 0;
    let cost = serve * pair.weight[n] + started * model.instanceWeight[ij];
    const rest = demand - serve;
    if (rest > EPSILON) cost += rest * minWeight + (rest > totalSpare - spare + EPSILON ? minInstanceWeight : 0);
    const score = cost / demand;
    const option = this.option;
    if (score < option.score - EPSILON || (Math.abs(score - option.score) <= EPSILON && serve > option.serve)) {
      if (option.n !== n) option.secondScore = option.score;
      option.n = n;
      option.score = score;
      option.serve = serve;
    } else if (score < option.secondScore && option.n !== n) option.secondScore = score;
  }

  /** What the pair loses if its best node is taken: Infinity with one option, -Infinity with none. */
  private regret(p: number): number {
    if (!this.bestOption(p, this.model.pairs[p].runsPerSecond)) return -Infinity;
    const regret = this.option.secondScore - this.option.score;
    return this.noise === 0 ? regret : regret * (1 + this.noise * (this.random() - 0.5));
  }

  /** Places all of a pair's demand, cheapest per run/s first; false when capacity runs out. */
  private insert(p: number): boolean {
    let demand = this.model.pairs[p].runsPerSecond;
    while (demand > EPSILON) {
      const everywhere = this.allNodes.subarray(0, this.model.pairs[p].nodes.length);
      if (!this.bestOption(p, demand) && !this.bestOption(p, demand, everywhere)) return false;
      const { n, serve } = this.option;
      this.addFlow(p, n, serve);
      demand -= serve;
    }
    return true;
  }

  /** Takes pairs out and places them again, largest regret first; keeps the result only if the objective fell. */
  private rebuild(pairs: number[]): boolean {
    const before = this.objective;
    const previous = pairs.map((p) => this.removePair(p));
    let placed = true;
    if (pairs.length > DYNAMIC_REGRET_LIMIT) {
      // Large sets: one regret order up front, instead of re-reading every regret after each placement.
      const regret = pairs.map((p) => this.regret(p));
      const order = pairs.map((_, index) => index).sort((a, b) => compareDescending(regret[a], regret[b]));
      for (const index of order) if (!(placed = this.insert(pairs[index]))) break;
    } else {
      const remaining = [...pairs];
      while (placed && remaining.length > 0) {
        let pick = 0;
        if (remaining.length > 1) {
          let most = -Infinity;
          remaining.forEach((p, index) => {
            const r = this.regret(p);
            if (r > most || index === 0) [most, pick] = [r, index];
          });
        }
        placed = this.insert(remaining[pick]);
        remaining.splice(pick, 1);
      }
    }
    if (placed && this.objective < before - 1e-12 * Math.max(1, Math.abs(before))) return true;
    for (const p of pairs) this.removePair(p);
    pairs.forEach((p, index) => {
      for (const f of previous[index]) this.addFlow(p, this.positions[p][f.node], f.runsPerSecond);
    });
    return false;
  }

  private fillMinimumInstances(): void {
    const model = this.model;
    for (let i = 0; i < model.serviceCount; i++) {
      let running = 0;
      for (let j = 0; j < this.N; j++) running += this.instances[i * this.N + j];
      while (running < model.minInstances[i]) {
        let best = -1;
        for (let j = 0; j < this.N; j++) {
          const ij = i * this.N + j;
          const fits =
            this.memoryFree[j] >= model.memoryMb[i] - EPSILON && this.cpuFree[j] >= model.cpuCores[ij] - EPSILON;
          if (
            model.eligible[ij] &&
            fits &&
            (best === -1 || model.instanceWeight[ij] < model.instanceWeight[i * this.N + best])
          ) {
            best = j;
          }
        }
        if (best === -1) break;
        const ij = i * this.N + best;
        this.instances[ij]++;
        this.memoryFree[best] -= model.memoryMb[i];
        this.cpuFree[best] -= model.cpuCores[ij];
        this.objective += model.instanceWeight[ij];
        running++;
      }
    }
  }
}

export function solveHeuristic(
  model: PlanningModel,
  options: HeuristicOptions = {},
): { assignment: Assignment } | { unplacedPair: number } {
  return new HeuristicPlanner(model, options).solve();
}
