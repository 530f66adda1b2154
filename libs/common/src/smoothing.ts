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

/**
 * Mean of the samples of the last `windowMs` (kept in buckets of a tenth of it, so memory is
 * constant); undefined once nothing was added for a whole window — an idle figure goes away
 * rather than standing still at its last busy value.
 */
export class WindowedMean {
  private readonly buckets: { start: number; sum: number; count: number }[] = [];
  private readonly bucketMs: number;
  constructor(private readonly windowMs = 10_000) {
    this.bucketMs = Math.max(1, windowMs / 10);
  }

  add(sample: number, at = Date.now()): void {
    const start = at - (at % this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last?.start === start) {
      last.sum += sample;
      last.count++;
    } else this.buckets.push({ start, sum: sample, count: 1 });
    this.expire(at);
  }

  value(at = Date.now()): number | undefined {
    this.expire(at);
    let sum = 0;
    let count = 0;
    for (const b of this.buckets) {
      sum += b.sum;
      count += b.count;
    }
    return count ? sum / count : undefined;
  }

  private expire(at: number): void {
    while (this.buckets.length && this.buckets[0].start + this.bucketMs <= at - this.windowMs) this.buckets.shift();
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
