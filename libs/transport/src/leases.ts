import { performance } from 'node:perf_hooks';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { createKv } from './durability';
import type { NatsTransport } from './nats-transport';

/** Leases of orchestrator replicas (`engine.<id>`) and of the replica that decides what is decided once (`leader`). */
export const LEASE_BUCKET = 'yb-leases';
/** Default lease time (`YUNBIAN_LEASE_MS`). */
export const DEFAULT_LEASE_MS = 10_000;

/** What a lease key holds: a holder's record, or the marker of a takeover of an expired lease. */
export interface LeaseValue {
  /** The engine id holding the lease (absent on a takeover marker). */
  holder?: string;
  /** The holding process (random per process start): a restart of the same id is told from a second live process. */
  process?: string;
  pid?: number;
  host?: string;
  startedAt?: string;
  /** The holder left (a clean shutdown): the lease may be claimed at once, its runs taken over. */
  left?: boolean;
  /** A takeover marker: the engine that claimed the expired lease of `from`, and why. */
  takenOverBy?: string;
  from?: string;
  reason?: string;
  /** When it was written, on the writer's wall clock (shown; never compared across processes). */
  at: string;
}

// ---- pure logic ------------------------------------------------------------

/** What an observer knows of one key: its revision and since when (on the observer's own monotonic clock) it has it. */
export interface LeaseObservation {
  revision: number;
  /** Deleted or purged (the lease is absent). */
  deleted: boolean;
  value?: LeaseValue;
  /** The observer's monotonic time when it first saw this revision. */
  changedAt: number;
}

/**
 * The observation after seeing `entry` at `now`: the time only moves when the revision moves
 * forward, so a revision seen again (a watch replaying it) does not look like a renewal.
 */
export function observe(
  previous: LeaseObservation | undefined,
  entry: { revision: number; deleted: boolean; value?: LeaseValue },
  now: number,
): LeaseObservation {
  // Same revision (a watch replaying it), or an older one arriving after a newer write was noted.
  if (previous && previous.revision >= entry.revision) return previous;
  return { revision: entry.revision, deleted: entry.deleted, value: entry.value, changedAt: now };
}

/**
 * Whether an observer may count the lease as expired: its revision has not changed for a
 * whole lease on the observer's own clock. A key first seen now waits a whole lease (the
 * observer cannot know how old it is); wall clocks of other processes are never compared.
 */
export function observedExpired(observation: LeaseObservation | undefined, now: number, leaseMs: number): boolean {
  return observation !== undefined && !observation.deleted && now - observation.changedAt >= leaseMs;
}

/** How often a holder renews: three times per lease. */
export function renewIntervalMs(leaseMs: number): number {
  return Math.max(20, Math.floor(leaseMs / 3));
}

/** How long before an observer may take over the holder stops believing it holds the lease. */
export function holderMarginMs(leaseMs: number): number {
  return Math.max(50, Math.floor(leaseMs / 10));
}

/**
 * Until when (the holder's monotonic clock) a holder counts its lease valid: from the time it
 * SENT its last successful renewal, one lease less the margin. Every observer saw that
 * renewal's revision no earlier than it was sent, and waits a whole lease from then, so the
 * holder stops acting before anyone may take over.
 */
export function holderValidUntil(sentAt: number, leaseMs: number): number {
  return sentAt + leaseMs - holderMarginMs(leaseMs);
}

/** How a lease that is not held may be claimed by compare-and-set, if it may be now. */
export type LeaseClaim = { how: 'create' } | { how: 'update'; revision: number } | { how: 'wait' };

/**
 * A lease is claimed by creating it when absent, or by updating its revision when it expired
 * or its holder left; else it is waited for.
 */
export function claimOf(observation: LeaseObservation | undefined, now: number, leaseMs: number): LeaseClaim {
  if (!observation || observation.deleted) return { how: 'create' };
  if (observation.value?.left || observedExpired(observation, now, leaseMs))
    return { how: 'update', revision: observation.revision };
  return { how: 'wait' };
}

/** Parses the `YUNBIAN_LEASE_MS` value (ms); throws saying what is accepted. */
export function parseLeaseMs(raw: string | undefined, variable = 'YUNBIAN_LEASE_MS'): number {
  const text = raw?.trim();
  if (text === undefined || text === '') return DEFAULT_LEASE_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 300 || ms > 600_000) {
    throw new Error(
      `environment variable ${variable}="${raw}" must be a whole number of milliseconds from 300 to 600000: how long an orchestrator replica's lease lasts without a renewal (default ${DEFAULT_LEASE_MS})`,
    );
  }
  return ms;
}

// ---- the bucket --------------------------------------------------------------

/** A compare-and-set write lost: the key's revision was not the one given (someone else wrote it). */
export class LeaseConflict extends Error {}

const decoder = new TextDecoder();

function isConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function valueOf(entry: KvEntry): LeaseValue | undefined {
  if (entry.operation !== 'PUT' || entry.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(entry.value)) as LeaseValue;
  } catch {
    return undefined;
  }
}

/**
 * The lease bucket as this process observes it: a watch keeps every key's revision and when
 * (this process's monotonic clock) it last changed, so expiry is judged here from what was
 * seen, never from a wall-clock time written by another process; every write is a
 * compare-and-set on the key's revision, so two claimants of one expired lease cannot both win.
 */
export class LeaseBucket {
  private readonly observations = new Map<string, LeaseObservation>();
  private readonly listeners: ((key: string, observation: LeaseObservation) => void)[] = [];
  private stopWatch?: () => void;
  private initialised!: Promise<void>;

  private constructor(
    private readonly kv: KV,
    readonly leaseMs: number,
    private readonly now: () => number,
  ) {}

  static async open(transport: NatsTransport, options: { leaseMs: number; now?: () => number }): Promise<LeaseBucket> {
    const kv = await createKv(new Kvm(transport.jetstream()), LEASE_BUCKET, { history: 1 });
    const bucket = new LeaseBucket(kv, options.leaseMs, options.now ?? (() => performance.now()));
    await bucket.watch();
    return bucket;
  }

  private async watch(): Promise<void> {
    let ready!: () => void;
    this.initialised = new Promise((resolve) => (ready = resolve));
    // The watch replays each key's last entry; the last of those is the first marked as an update.
    if ((await this.kv.status()).values === 0) ready();
    const watcher = await this.kv.watch({ key: '>' });
    this.stopWatch = () => watcher.stop();
    void (async () => {
      for await (const entry of watcher) {
        this.saw(entry.key, entry);
        if (entry.isUpdate) ready();
      }
    })().catch(() => undefined);
    await Promise.race([this.initialised, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  }

  private saw(key: string, entry: KvEntry): void {
    const deleted = entry.operation !== 'PUT';
    this.note(key, { revision: entry.revision, deleted, value: deleted ? undefined : valueOf(entry) });
  }

  private note(key: string, entry: { revision: number; deleted: boolean; value?: LeaseValue }): void {
    const next = observe(this.observations.get(key), entry, this.now());
    if (next === this.observations.get(key)) return;
    this.observations.set(key, next);
    for (const listener of this.listeners) listener(key, next);
  }

  /** Hears every change of a key's revision (writes of this process included). */
  onChange(listener: (key: string, observation: LeaseObservation) => void): void {
    this.listeners.push(listener);
  }

  observation(key: string): LeaseObservation | undefined {
    return this.observations.get(key);
  }

  /** Keys seen (deleted ones too) that start with `prefix`. */
  keys(prefix = ''): string[] {
    return [...this.observations.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Whether the key's lease has expired as this process observes it. */
  expired(key: string): boolean {
    return observedExpired(this.observations.get(key), this.now(), this.leaseMs);
  }

  /** Whether the key may be claimed now (absent, expired, or its holder left). */
  claimable(key: string): boolean {
    return claimOf(this.observations.get(key), this.now(), this.leaseMs).how !== 'wait';
  }

  /** How long since this process saw the key's revision change (ms), when it saw it. */
  ageMs(key: string): number | undefined {
    const o = this.observations.get(key);
    return o ? this.now() - o.changedAt : undefined;
  }

  /**
   * Claims a lease that is absent or expired (as observed here) by compare-and-set; resolves
   * with the new revision, or undefined when it is not claimable now or another claimant won.
   */
  async claim(key: string, value: LeaseValue): Promise<number | undefined> {
    const claim = claimOf(this.observations.get(key), this.now(), this.leaseMs);
    if (claim.how === 'wait') return undefined;
    try {
      const revision =
        claim.how === 'create'
          ? await this.kv.create(key, JSON.stringify(value))
          : await this.kv.update(key, JSON.stringify(value), claim.revision);
      this.note(key, { revision, deleted: false, value });
      return revision;
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  /** A write of this process landed (seen at once, before the watch delivers it). */
  noteWritten(key: string, revision: number, value: LeaseValue): void {
    this.note(key, { revision, deleted: false, value });
  }

  /** Writes `value` if the key is still at `revision`; the new revision, or `LeaseConflict`. */
  async update(key: string, value: LeaseValue, revision: number): Promise<number> {
    try {
      return await this.kv.update(key, JSON.stringify(value), revision);
    } catch (err) {
      if (isConflict(err)) throw new LeaseConflict(`lease ${key} is no longer at revision ${revision}`);
      throw err;
    }
  }

  /** Deletes the key if it is still at `revision` (false when someone wrote it since). */
  async remove(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** The key as stored now (read from the server, not the watch). */
  async read(key: string): Promise<{ revision: number; value?: LeaseValue } | undefined> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { revision: entry.revision, value: valueOf(entry) };
  }

  close(): void {
    this.stopWatch?.();
  }
}

/** The lease was taken over (a compare-and-set of a renewal found another revision). */
export class LeaseLost extends Error {}

export interface HeldLeaseOptions {
  bucket: LeaseBucket;
  key: string;
  value: LeaseValue;
  /** The revision the holder's claim wrote, and when (monotonic) that write was sent. */
  revision: number;
  sentAt: number;
  now?: () => number;
  /** The renewal found the lease taken over (once; the lease is no longer held after it). */
  onLost?: (error: LeaseLost) => void;
  /** A renewal failed for another reason (NATS away): tried again soon. */
  onRenewFailed?: (error: Error) => void;
}

/**
 * A lease this process holds: renewed by compare-and-set every third of the lease; valid
 * until `holderValidUntil` of the last renewal that succeeded. `whenFresh` is the fence:
 * resolves at once while valid, else once a renewal succeeds, and rejects with `LeaseLost`
 * when the renewal finds the lease taken over.
 */
export class HeldLease {
  private revision: number;
  private sentAt: number;
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private lostError?: LeaseLost;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: HeldLeaseOptions) {
    this.revision = options.revision;
    this.sentAt = options.sentAt;
    this.now = options.now ?? (() => performance.now());
    this.schedule(renewIntervalMs(options.bucket.leaseMs));
  }

  get key(): string {
    return this.options.key;
  }

  get lost(): boolean {
    return this.lostError !== undefined;
  }

  /** Valid now (a holder acts only while this is true). */
  fresh(): boolean {
    return !this.lostError && !this.stopped && this.now() < holderValidUntil(this.sentAt, this.options.bucket.leaseMs);
  }

  /** How long since the last successful renewal was sent (ms). */
  ageMs(): number {
    return this.now() - this.sentAt;
  }

  /** Resolves once the lease is valid (at once when it is), rejects with `LeaseLost` once it is taken over. */
  whenFresh(): Promise<void> {
    if (this.lostError) return Promise.reject(this.lostError);
    if (this.fresh()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      void this.renew();
    });
  }

  private schedule(delay: number): void {
    if (this.stopped || this.lostError) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  /** One renewal (joined when one is in flight). */
  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.stopped || this.lostError) return;
    const { bucket, key } = this.options;
    const sentAt = this.now();
    try {
      const value = { ...this.options.value, at: new Date().toISOString() };
      this.revision = await bucket.update(key, value, this.revision);
      bucket.noteWritten(key, this.revision, value);
      this.sentAt = sentAt;
      for (const w of this.waiters.splice(0)) w.resolve();
      this.schedule(renewIntervalMs(bucket.leaseMs));
    } catch (err) {
      if (err instanceof LeaseConflict) {
        this.lostError = new LeaseLost(`lease ${key} was taken over: ${err.message}`);
        clearTimeout(this.timer);
        for (const w of this.waiters.splice(0)) w.reject(this.lostError);
        this.options.onLost?.(this.lostError);
        return;
      }
      this.options.onRenewFailed?.(err as Error);
      this.schedule(Math.min(250, renewIntervalMs(bucket.leaseMs)));
    }
  }

  /**
   * Stops renewing. `release: 'delete'` deletes the key; `'left'` marks it left (claimable at
   * once by whoever takes over what the holder held): nobody waits for it to expire.
   */
  async stop(release?: 'delete' | 'left'): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(new LeaseLost(`lease ${this.options.key} is released`));
    if (!release || this.lostError) return;
    const { bucket, key, value } = this.options;
    if (release === 'delete') await bucket.remove(key, this.revision).catch(() => false);
    else await bucket.update(key, { ...value, left: true, at: new Date().toISOString() }, this.revision).catch(() => 0);
  }
}
