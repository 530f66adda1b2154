/** Keeps the last `capacity` samples and answers percentiles over them. */
export class SampleWindow {
  private readonly samples: number[] = [];
  private next = 0;
  count = 0;

  constructor(private readonly capacity = 10_000) {}

  add(value: number): void {
    this.count++;
    if (this.samples.length < this.capacity) this.samples.push(value);
    else {
      this.samples[this.next] = value;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  percentile(p: number): number | undefined {
    return percentile(this.samples, p);
  }

  get max(): number | undefined {
    return this.samples.length ? Math.max(...this.samples) : undefined;
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number | undefined {
  return percentile(values, 50);
}
