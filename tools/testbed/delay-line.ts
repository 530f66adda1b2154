/**
 * A FIFO that releases each item a fixed delay after it arrived. The delay can change at
 * any time; items never overtake each other (a shorter new delay waits for older items),
 * which is what a TCP byte stream needs.
 */
export class DelayLine<T> {
  private readonly items: { due: number; item: T }[] = [];
  private lastDue = -Infinity;

  constructor(private delayMs: number) {
    DelayLine.check(delayMs);
  }

  static check(delayMs: number): void {
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new Error(`delay must be a number of milliseconds ≥ 0 (got ${String(delayMs)})`);
    }
  }

  get delay(): number {
    return this.delayMs;
  }

  set delay(ms: number) {
    DelayLine.check(ms);
    this.delayMs = ms;
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T, now: number): void {
    const due = Math.max(now + this.delayMs, this.lastDue);
    this.lastDue = due;
    this.items.push({ due, item });
  }

  /** Items whose time has come, oldest first. */
  take(now: number): T[] {
    let n = 0;
    while (n < this.items.length && this.items[n].due <= now) n++;
    return this.items.splice(0, n).map((e) => e.item);
  }

  /** When the oldest item is due, or undefined when empty. */
  nextDue(): number | undefined {
    return this.items[0]?.due;
  }
}
