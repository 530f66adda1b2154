/** Levenshtein distance between two strings, by Unicode code point. */
export function editDistance(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  let previous = Array.from({ length: right.length + 1 }, (_, j) => j);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const substitution = previous[j - 1] + (left[i - 1] === right[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[right.length];
}

export interface AccuracyTally {
  /** Sum of edit distances over all samples. */
  errors: number;
  /** Sum of the expected texts' lengths (code points). */
  characters: number;
  samples: number;
}

/**
 * Character accuracy aggregated over samples: 1 − Σ edit distance / Σ expected length
 * (can go below 0 when the output is mostly garbage). Lines are compared joined by
 * newlines, so missing, extra and merged lines count as errors too.
 */
export function characterAccuracy(pairs: readonly { expected: readonly string[]; actual: readonly string[] }[]): {
  accuracy: number;
  tally: AccuracyTally;
} {
  const tally: AccuracyTally = { errors: 0, characters: 0, samples: pairs.length };
  for (const { expected, actual } of pairs) {
    const wanted = expected.join('\n');
    tally.errors += editDistance(wanted, actual.join('\n'));
    tally.characters += [...wanted].length;
  }
  return { accuracy: tally.characters ? 1 - tally.errors / tally.characters : 0, tally };
}
