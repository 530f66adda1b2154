import {
  candidateCuts,
  chooseCut,
  estimateCut,
  latencyOptimalCut,
  type SplitProblem,
  type TensorSizes,
} from './choose';
import { cutFromHead, cutFromId, prefixCuts, singleTensorCuts, trivialCuts } from './cuts';
import type { ComputeGraph } from './graph';

/** A graph from `name: inputs -> output` lines, one output per node. */
function dag(inputs: string[], outputs: string[], nodes: [string, string[], string][]): ComputeGraph {
  return {
    inputs,
    outputs,
    nodes: nodes.map(([name, ins, out], index) => ({ name, opType: 'Op', index, inputs: ins, outputs: [out] })),
  };
}
const sizes = (bytes: Record<string, number>): TensorSizes =>
  Object.fromEntries(Object.entries(bytes).map(([k, b]) => [k, { type: 'float32', dims: [b / 4], bytes: b }]));

// 1 Mbit/s carries 125 bytes per ms: every transfer below is bytes / 125.
describe('a chain (Neurosurgeon’s case)', () => {
  const graph = dag(
    ['x'],
    ['y'],
    [
      ['A', ['x'], 'a'],
      ['B', ['a'], 'b'],
      ['C', ['b'], 'y'],
    ],
  );
  const problem: SplitProblem = {
    graph,
    sizes: sizes({ x: 10_000, a: 4000, b: 100, y: 40 }),
    first: { A: 1, B: 1, C: 10 },
    second: { A: 1, B: 1, C: 1 },
    link: { rttMs: 5, mbps: 1 },
  };

  it('has a single-tensor cut after every node but the last, and the two trivial ones', () => {
    expect(singleTensorCuts(graph).map((c) => c.id)).toEqual(['a', 'b']);
    expect(prefixCuts(graph).map((c) => c.id)).toEqual(['a', 'b']);
    expect(trivialCuts(graph).map((c) => [c.id, c.tensors])).toEqual([
      ['all-first', []],
      ['all-second', ['x']],
    ]);
  });

  it('estimates each cut as head + transfer + RTT + tail, computed by hand', () => {
    const total = (id: string) => estimateCut(problem, cutFromId(graph, id)).totalMs;
    expect(total('all-first')).toBeCloseTo(12); // 1 + 1 + 10, nothing sent, no RTT
    expect(total('all-second')).toBeCloseTo(88); // 10000/125 = 80, + 5 + 3
    expect(total('a')).toBeCloseTo(40); // 1 + 32 + 5 + 2
    expect(total('b')).toBeCloseTo(8.8); // 2 + 0.8 + 5 + 1
  });

  it('chooses the cut after B for latency, by the min-cut, 1.36× better than all-first', () => {
    const { chosen, candidates, reason } = chooseCut(problem, 'latency', candidateCuts(problem));
    expect(chosen.id).toBe('b');
    expect(chosen.totalMs).toBeCloseTo(8.8);
    expect(candidates.map((c) => c.id)).toEqual(['b', 'all-first', 'a', 'all-second']);
    expect(latencyOptimalCut(problem).cut.id).toBe('b');
    expect(reason).toContain('1.36× better');
  });

  it('stays on the first node when the RTT eats the gain, but pipelines the split for throughput', () => {
    const far = { ...problem, link: { rttMs: 100, mbps: 1 } };
    expect(chooseCut(far, 'latency', candidateCuts(far)).chosen.id).toBe('all-first'); // 12 < 103.8
    const stream = chooseCut(far, 'throughput', candidateCuts(far));
    expect(stream.chosen.id).toBe('b'); // max(2, 0.8, 1) = 2 < all-first's 12
    expect(stream.chosen.periodMs).toBeCloseTo(2);
  });

  it('sends everything when the link is fast and the first node slow', () => {
    const fast = { ...problem, first: { A: 20, B: 20, C: 20 }, link: { rttMs: 1, mbps: 1000 } };
    const { chosen } = chooseCut(fast, 'latency', candidateCuts(fast));
    expect(chosen.id).toBe('all-second');
    expect(chosen.totalMs).toBeCloseTo(10_000 / 125_000 + 1 + 3);
  });

  it('halves float32 transfers with float16 and quarters them with int8', () => {
    const cut = cutFromId(graph, 'a');
    expect(estimateCut({ ...problem, lossy: 'float16' }, cut).transferBytes).toBe(2000);
    expect(estimateCut({ ...problem, lossy: 'int8' }, cut).transferBytes).toBe(1008);
  });
});

describe('a DAG (DADS’s case)', () => {
  // x → A → a; a → B → b and a → C → c; (b, c) → D → y. `a` is read twice but sent once.
  const graph = dag(
    ['x'],
    ['y'],
    [
      ['A', ['x'], 'a'],
      ['B', ['a'], 'b'],
      ['C', ['a'], 'c'],
      ['D', ['b', 'c'], 'y'],
    ],
  );
  const second = { A: 0.5, B: 0.5, C: 0.5, D: 0.5 };

  it('enumerates the single-tensor cuts (only a) and the multi-tensor ones a topological order passes', () => {
    expect(singleTensorCuts(graph).map((c) => c.id)).toEqual(['a']);
    expect(prefixCuts(graph).map((c) => c.id)).toEqual(['a', 'a+b', 'b+c']);
    expect(() => cutFromHead(graph, [0, 3])).toThrow('not a valid cut: D (head) reads b, made by B (tail)');
    expect(() => cutFromId(graph, 'b')).toThrow('"b" is not a cut: the head that makes those tensors sends a, b');
    expect(() => cutFromId(graph, 'q')).toThrow('no compute node makes tensor "q"');
  });

  it('pays a tensor read by two tail nodes once (the auxiliary vertex)', () => {
    const problem: SplitProblem = {
      graph,
      sizes: sizes({ x: 10_000, a: 2000, b: 500, c: 500, y: 10 }),
      first: { A: 1, B: 10, C: 10, D: 1 },
      second,
      link: { rttMs: 2, mbps: 1 },
    };
    // all-first 22; cut a: 1 + 2000/125 (16, once) + 2 + 1.5 = 20.5; b+c: 21 + 8 + 2 + 0.5 = 31.5.
    const { chosen } = chooseCut(problem, 'latency', candidateCuts(problem));
    expect(chosen.id).toBe('a');
    expect(chosen.totalMs).toBeCloseTo(20.5);
    expect(estimateCut(problem, cutFromId(graph, 'all-first')).totalMs).toBeCloseTo(22);
  });

  it('finds the multi-tensor cut across both branches when that is best', () => {
    const problem: SplitProblem = {
      graph,
      sizes: sizes({ x: 10_000, a: 20_000, b: 500, c: 500, y: 10 }),
      first: { A: 1, B: 1, C: 1, D: 20 },
      second,
      link: { rttMs: 2, mbps: 1 },
    };
    // all-first 23; b+c: 3 + 1000/125 + 2 + 0.5 = 13.5; a: 1 + 160 + 2 + 1.5; all-second 84.
    const optimal = latencyOptimalCut(problem);
    expect(optimal.cut.id).toBe('b+c');
    expect(optimal.cut.kind).toBe('multi');
    expect(optimal.totalMs).toBeCloseTo(13.5);
    expect(chooseCut(problem, 'latency', trivialCuts(graph)).chosen.id).toBe('b+c');
  });
});

describe('the min-cut against every cut (random DAGs)', () => {
  it('gives the latency of the best upstream-closed head, found by brute force', () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 40; trial++) {
      const n = 3 + Math.floor(rand() * 7);
      const nodes: [string, string[], string][] = [];
      for (let i = 0; i < n; i++) {
        const ins = new Set<string>();
        if (i === 0 || rand() < 0.3) ins.add('x');
        for (let j = 0; j < i; j++) if (rand() < 0.35) ins.add(`t${j}`);
        if (i > 0 && ins.size === 0) ins.add(`t${i - 1}`);
        nodes.push([`N${i}`, [...ins], `t${i}`]);
      }
      // Every node feeds a later one, so the last is the only output and no node is dead.
      for (let i = 0; i < n - 1; i++)
        if (!nodes.some(([, ins]) => ins.includes(`t${i}`))) nodes[n - 1][1].push(`t${i}`);
      const graph = dag(['x'], [`t${n - 1}`], nodes);
      const bytes: Record<string, number> = { x: 4 * Math.ceil(rand() * 5000) };
      const first: Record<string, number> = {};
      const second: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        bytes[`t${i}`] = 4 * Math.ceil(rand() * 5000);
        first[`N${i}`] = rand() * 20;
        second[`N${i}`] = rand() * 5;
      }
      const problem: SplitProblem = {
        graph,
        sizes: sizes(bytes),
        first,
        second,
        link: { rttMs: rand() * 10, mbps: 0.5 + rand() * 5 },
      };
      let best = Infinity;
      for (let mask = 0; mask < 1 << n; mask++) {
        const head = [...Array(n).keys()].filter((i) => mask & (1 << i));
        try {
          best = Math.min(best, estimateCut(problem, cutFromHead(graph, head)).totalMs);
        } catch {
          // not upstream-closed
        }
      }
      const optimal = latencyOptimalCut(problem);
      expect(optimal.totalMs).toBeCloseTo(best, 6);
      expect(estimateCut(problem, optimal.cut).totalMs).toBeCloseTo(best, 6);
    }
  });
});
