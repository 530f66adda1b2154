/** How long a worker keeps the outcome of each idempotency key, by default (`YUNBIAN_IDEMPOTENCY_WINDOW_MS`). */
export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 10 * 60_000;
/** How many keys a worker keeps at most; the oldest go first beyond it. */
export const DEFAULT_IDEMPOTENCY_ENTRIES = 10_000;

interface Entry {
  /** Settles with the outcome of the one execution for the key. */
  outcome: Promise<unknown>;
  /** When the outcome was known (epoch ms); undefined while the execution runs. */
  settledAt?: number;
}

/**
 * The outcome of each idempotency key, for a window: the first request with a key runs
 * `execute`; a request with the same key while it runs waits for the same outcome, and one
 * within `windowMs` after it ended gets that outcome again (the value, or the same error)
 * without running anything. Entries are bounded: beyond `maxEntries` the oldest settled ones
 * are dropped (running ones never are, so no key ever has two executions at once).
 */
export class ResultCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly windowMs = DEFAULT_IDEMPOTENCY_WINDOW_MS,
    readonly maxEntries = DEFAULT_IDEMPOTENCY_ENTRIES,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Whether `key` has an execution running or an outcome kept. */
  has(key: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && !this.expired(entry, this.now());
  }

  /**
   * The outcome for `key`: the kept or running one, else `execute`'s. `executed` says which
   * (false: the handler did not run for this request).
   */
  run<T>(key: string, execute: () => Promise<T>): { outcome: Promise<T>; executed: boolean } {
    const now = this.now();
    const known = this.entries.get(key);
    if (known && !this.expired(known, now)) return { outcome: known.outcome as Promise<T>, executed: false };
    if (known) this.entries.delete(key);
    const outcome = execute();
    const entry: Entry = { outcome };
    const settle = () => {
      entry.settledAt = this.now();
    };
    outcome.then(settle, settle);
    this.entries.set(key, entry);
    this.evict(now);
    return { outcome, executed: true };
  }

  /** Forgets a key (an outcome that must not be repeated: the request was refused before it ran). */
  forget(key: string): void {
    this.entries.delete(key);
  }

  private expired(entry: Entry, now: number): boolean {
    return entry.settledAt !== undefined && now - entry.settledAt > this.windowMs;
  }

  /** Drops expired entries from the oldest end, then the oldest settled ones beyond the bound. */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && !this.expired(entry, now)) break;
      // Insertion order is start order; a running entry is kept (and later ones looked at).
      if (entry.settledAt === undefined) continue;
      this.entries.delete(key);
    }
  }
}
