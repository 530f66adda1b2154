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
