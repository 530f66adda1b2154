/** How long a worker keeps the outcome of each idempotency key, by default (`YUNBIAN_IDEMPOTENCY_WINDOW_MS`). */
export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 10 * 60_000;
/** How many keys a worker keeps at most; the oldest go first beyond it. */
export const DEFAULT_IDEMPOTENCY_ENTRIES = 10_000;
/** How many bytes of kept replies (their JSON) a worker holds at most; the oldest go first beyond it. */
export const DEFAULT_IDEMPOTENCY_BYTES = 32 * 1024 * 1024;

export interface ResultCacheOptions {
  windowMs?: number;
  maxEntries?: number;
  maxBytes?: number;
  now?: () => number;
}

interface Entry {
  /** Settles with the outcome of the one execution for the key. */
  outcome: Promise<unknown>;
  /** When the outcome was known (epoch ms); undefined while the execution runs. */
  settledAt?: number;
  /** The JSON size of the kept value (an error counts as small). */
  bytes: number;
}

/**
 * The outcome of each idempotency key, for a window: the first request with a key runs
 * `execute`; a request with the same key while it runs waits for the same outcome, and one
 * within `windowMs` after it ended gets that outcome again (the value, or the same error)
 * without running anything. Bounded in entries and in bytes: beyond either the oldest
 * settled ones are dropped (running ones never are, so no key ever has two executions at once).
 */
export class ResultCache {
  readonly windowMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(options: ResultCacheOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_IDEMPOTENCY_ENTRIES;
    this.maxBytes = options.maxBytes ?? DEFAULT_IDEMPOTENCY_BYTES;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes of the kept values (their JSON). */
  get keptBytes(): number {
    return this.bytes;
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
    if (known) this.drop(key, known);
    const outcome = execute();
    const entry: Entry = { outcome, bytes: 0 };
    outcome.then(
      (value) => this.settle(key, entry, value === undefined ? 0 : sizeOf(value)),
      () => this.settle(key, entry, 0),
    );
    this.entries.set(key, entry);
    this.evict(now);
    return { outcome, executed: true };
  }

  /** Forgets a key (an outcome that must not be repeated: the request was refused before it ran). */
  forget(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.drop(key, entry);
  }

  private settle(key: string, entry: Entry, bytes: number): void {
    entry.settledAt = this.now();
    if (this.entries.get(key) !== entry) return; // forgotten meanwhile
    entry.bytes = bytes;
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) this.evict(entry.settledAt);
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  private expired(entry: Entry, now: number): boolean {
    return entry.settledAt !== undefined && now - entry.settledAt > this.windowMs;
  }

  /** Drops expired entries from the oldest end, then the oldest settled ones beyond the bounds. */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      const over = this.entries.size > this.maxEntries || this.bytes > this.maxBytes;
      if (!over && !this.expired(entry, now)) break;
      // Insertion order is start order; a running entry is kept (and later ones looked at).
      if (entry.settledAt === undefined) continue;
      this.drop(key, entry);
    }
  }
}

/** A value's JSON size, as its reply will carry it (a value that cannot be serialised counts as nothing). */
function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}
