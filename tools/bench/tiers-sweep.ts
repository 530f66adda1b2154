import { judgeSample, type HardExampleRule } from '@yunbian/workflow';

/**
 * What a tiered configuration would do over a labelled set, from each tier's class
 * probabilities for every sample (computed once): the same per-sample rule the decider
 * applies, without a stack. The bench uses it to pick the configurations it then runs for real.
 */
export interface SweepResult {
  accuracy: number;
  /** Share of samples answered by each tier. */
  answered: number[];
  /** Share of samples that reached each tier. */
  reached: number[];
}

export function simulateTiers(
  probabilities: Float32Array[],
  classes: number,
  labels: ArrayLike<number>,
  rules: (HardExampleRule | undefined)[],
): SweepResult {
  const n = labels.length;
  const answered = new Array<number>(probabilities.length).fill(0);
  const reached = new Array<number>(probabilities.length).fill(0);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < probabilities.length; t++) {
      reached[t]++;
      const row = probabilities[t].subarray(i * classes, (i + 1) * classes);
      const last = t === probabilities.length - 1;
      if (last || !judgeSample(rules[t], { kind: 'probabilities', values: row }).hard) {
        answered[t]++;
        if (argmax(row) === labels[i]) correct++;
        break;
      }
    }
  }
  return { accuracy: correct / n, answered: answered.map((a) => a / n), reached: reached.map((r) => r / n) };
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/** The hard-example rules a sweep tries on class probabilities. */
export const SWEEP_RULES = ['threshold', 'crossEntropy', 'margin'] as const;

/** Thresholds a sweep tries: 0.30, 0.31, …, 0.99, then 0.995 and 0.999. */
export const SWEEP_THRESHOLDS: number[] = [
  ...Array.from({ length: 70 }, (_, i) => Math.round(30 + i) / 100),
  0.995,
  0.999,
];

/** One configuration of two tiers' rules and what it does on a labelled set. */
export interface Candidate {
  rules: [HardExampleRule, HardExampleRule];
  result: SweepResult;
}

/**
 * Every configuration of a three-tier chain, the first and the second tier's rule and threshold
 * chosen independently from `rules` × `thresholds`, simulated over a labelled set from each
 * tier's probabilities (`probabilities[t]`, `count × classes`). The same verdicts as
 * `simulateTiers` (each tier's hard/easy per sample is the decider's `judgeSample`), computed
 * once per tier, rule and threshold rather than once per configuration.
 */
export function sweepTiers(
  probabilities: Float32Array[],
  classes: number,
  labels: ArrayLike<number>,
  rules: readonly HardExampleRule['rule'][] = SWEEP_RULES,
  thresholds: readonly number[] = SWEEP_THRESHOLDS,
): Candidate[] {
  if (probabilities.length !== 3)
    throw new Error(`sweepTiers takes three tiers' probabilities (got ${probabilities.length})`);
  const n = labels.length;
  const right = probabilities.map((p) =>
    Uint8Array.from({ length: n }, (_, i) => Number(argmax(p.subarray(i * classes, (i + 1) * classes)) === labels[i])),
  );
  const hard = (tier: number, rule: HardExampleRule): Uint8Array =>
    Uint8Array.from({ length: n }, (_, i) =>
      Number(
        judgeSample(rule, {
          kind: 'probabilities',
          values: probabilities[tier].subarray(i * classes, (i + 1) * classes),
        }).hard,
      ),
    );
  const options = rules.flatMap((rule) => thresholds.map((threshold): HardExampleRule => ({ rule, threshold })));
  const masks = [0, 1].map((tier) => options.map((rule) => hard(tier, rule)));
  const out: Candidate[] = [];
  options.forEach((first, a) =>
    options.forEach((second, b) => {
      const up0 = masks[0][a];
      const up1 = masks[1][b];
      let correct = 0;
      const answered = [0, 0, 0];
      for (let i = 0; i < n; i++) {
        const tier = !up0[i] ? 0 : !up1[i] ? 1 : 2;
        answered[tier]++;
        correct += right[tier][i];
      }
      out.push({
        rules: [first, second],
        result: {
          accuracy: correct / n,
          answered: answered.map((x) => x / n),
          reached: [1, (answered[1] + answered[2]) / n, answered[2] / n],
        },
      });
    }),
  );
  return out;
}

/**
 * The cheapest candidate at least `minAccuracy` accurate with at most `maxCloudShare` of the
 * samples reaching the last tier: fewest at the last tier, then fewest at the second (the
 * device is the cheapest place to answer), then the first in sweep order. Undefined when none
 * qualifies.
 */
export function cheapestMeeting(
  candidates: Candidate[],
  minAccuracy: number,
  maxCloudShare: number,
): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of candidates) {
    const { accuracy, reached } = c.result;
    if (accuracy < minAccuracy || reached[2] > maxCloudShare) continue;
    if (
      !best ||
      reached[2] < best.result.reached[2] ||
      (reached[2] === best.result.reached[2] && reached[1] < best.result.reached[1])
    )
      best = c;
  }
  return best;
}

/**
 * The most accurate candidate with at most `maxCloudShare` of the samples reaching the last
 * tier, the cheapest of equally accurate ones (as `cheapestMeeting` orders them). Undefined when
 * none is within the share.
 */
export function mostAccurateWithin(candidates: Candidate[], maxCloudShare: number): Candidate | undefined {
  const within = candidates.filter((c) => c.result.reached[2] <= maxCloudShare);
  if (within.length === 0) return undefined;
  return cheapestMeeting(within, Math.max(...within.map((c) => c.result.accuracy)), maxCloudShare);
}
