/** A duration for people: `7 d`, `36 h`, `90 min`, `2.5 s`, `250 ms` (the largest unit it fills at least once). */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1_000],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(ms) >= size) return `${Math.round((ms / size) * 10) / 10} ${unit}`;
  }
  return `${ms} ms`;
}

/**
 * `promise`, or a rejection `<what> within <ms> ms` once `ms` have passed (the promise itself
 * is left to settle; for calls that are optional or retried later, e.g. across a cut uplink).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
