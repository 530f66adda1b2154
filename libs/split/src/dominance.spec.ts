import type { SplitCutEstimate } from '@yunbian/contracts';
import { candidateCuts, chooseCut, estimateCut, SWEEP_MBPS, type SplitProblem, type TensorSizes } from './choose';
import { dominatedBy, nonDominated } from './dominance';
import type { ComputeGraph } from './graph';

function chain(n: number): ComputeGraph {
  return {
    inputs: ['t0'],
    outputs: [`t${n}`],
    nodes: Array.from({ length: n }, (_, i) => ({
      name: `N${i}`,
      opType: 'Op',
      index: i,
      inputs: [`t${i}`],
      outputs: [`t${i + 1}`],
    })),
  };
}
const sizes = (bytes: number[]): TensorSizes =>
  Object.fromEntries(bytes.map((b, i) => [`t${i}`, { type: 'float32', dims: [b / 4], bytes: b }]));

describe('dominated cuts (latency)', () => {
  // The chain of choose.spec: x → A → a → B → b → C → y. Head + tail + RTT: all-first 12 (no
  // RTT), all-second 3 + 5, a 1 + 2 + 5, b 2 + 1 + 5 = 8 each; bytes 0, 10 000, 4000, 100.
  const problem: SplitProblem = {
    graph: chain(3),
    sizes: sizes([10_000, 4000, 100, 40]),
    first: { N0: 1, N1: 1, N2: 10 },
    second: { N0: 1, N1: 1, N2: 1 },
    link: { rttMs: 5, mbps: 1 },
  };

  it('names the cut dominating each dominated one and keeps the trivial placements as candidates', () => {
    const { candidates } = chooseCut(problem, 'latency', candidateCuts(problem));
    // b costs the same 8 ms apart from the link and sends less than a and than all-second.
    expect(Object.fromEntries([...dominatedBy(candidates)])).toEqual({ t1: 't2', 'all-second': 't2' });
    expect(candidates.find((c) => c.id === 't1')!.dominatedBy).toBe('t2');
    expect(candidates.find((c) => c.id === 't2')!.dominatedBy).toBeUndefined();
    // all-first sends nothing: nothing dominates it although it computes more.
    expect(candidates.find((c) => c.id === 'all-first')!.dominatedBy).toBeUndefined();
    expect(
      nonDominated(candidates)
        .map((c) => c.id)
        .sort(),
    ).toEqual(['all-first', 'all-second', 't2']);
  });

  it('does not call an exact tie dominance', () => {
    const e = (id: string, fixed: number, bytes: number): SplitCutEstimate => ({
      id,
      kind: 'single',
      tensors: [id],
      headNodes: 1,
      tailNodes: 1,
      headMs: fixed / 2,
      transferBytes: bytes,
      transferMs: 0,
      rttMs: 0,
      tailMs: fixed / 2,
      totalMs: fixed,
      periodMs: fixed / 2,
    });
    expect(dominatedBy([e('p', 4, 100), e('q', 4, 100), e('r', 4, 101)])).toEqual(new Map([['r', 'p']]));
  });

  it('for throughput, keeps a cut that is slower overall but splits the work more evenly', () => {
    const { candidates } = chooseCut(problem, 'throughput', candidateCuts(problem));
    const by = dominatedBy(candidates, 'throughput');
    // a: head 1, tail 2 — b: head 2, tail 1. Neither is below the other in both.
    expect(by.has('t1')).toBe(false);
    expect(by.get('all-second')).toBeUndefined(); // head 0: nothing has a smaller head
  });

  it('leaves out only cuts that are never the best, at any bandwidth (random chains)', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let dropped = 0;
    for (let trial = 0; trial < 30; trial++) {
      const n = 4 + Math.floor(random() * 12);
      const p: SplitProblem = {
        graph: chain(n),
        sizes: sizes(Array.from({ length: n + 1 }, () => 4 * Math.ceil(random() * 50_000))),
        first: Object.fromEntries(Array.from({ length: n }, (_, i) => [`N${i}`, random() * 20])),
        second: Object.fromEntries(Array.from({ length: n }, (_, i) => [`N${i}`, random() * 5])),
        link: { rttMs: random() * 30, mbps: 10 },
      };
      const cuts = candidateCuts(p);
      const kept = new Set(nonDominated(chooseCut(p, 'latency', cuts).candidates).map((c) => c.id));
      dropped += cuts.length - kept.size;
      for (const mbps of SWEEP_MBPS) {
        const at = { ...p, link: { ...p.link, mbps } };
        const totals = cuts.map((c) => ({ id: c.id, ms: estimateCut(at, c).totalMs }));
        const best = Math.min(...totals.map((t) => t.ms));
        const bestKept = Math.min(...totals.filter((t) => kept.has(t.id)).map((t) => t.ms));
        expect(bestKept).toBeCloseTo(best, 9);
      }
    }
    expect(dropped).toBeGreaterThan(30); // the property is not vacuous: many cuts were left out
  });
});
