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

/** Exponential backoff with a cap: 0.5 s, 1 s, 2 s … up to `maxMs`. */
export function backoffDelay(attempt: number, initialMs = 500, maxMs = 30_000): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
