/** Exponentially weighted moving average; the first sample is taken as is. */
export class Ewma {
  private current?: number;
  constructor(private readonly alpha = 0.3) {}

  add(sample: number): number {
    this.current = this.current === undefined ? sample : this.alpha * sample + (1 - this.alpha) * this.current;
    return this.current;
  }

  get value(): number | undefined {
    return this.current;
  }
}

/**
 * Median of the last `size` samples: a smoothed figure that one disturbed sample (a round
 * trip queued behind a transfer) does not move.
 */
export class RecentMedian {
  private readonly samples: number[] = [];
  /** Epoch ms of the newest sample. */
  lastAt?: number;
  constructor(private readonly size = 5) {}

  add(sample: number, at = Date.now()): number {
    this.samples.push(sample);
    if (this.samples.length > this.size) this.samples.shift();
    this.lastAt = at;
    return this.value!;
  }

  get value(): number | undefined {
    const n = this.samples.length;
    if (n === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }
}

/** Exponential backoff with a cap: 0.5 s, 1 s, 2 s … up to `maxMs`. */
export function backoffDelay(attempt: number, initialMs = 500, maxMs = 30_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
