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
