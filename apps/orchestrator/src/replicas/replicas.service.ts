import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { JsonLogger, round } from '@yunbian/common';
import {
  DEFAULT_LEASE_MS,
  HeldLease,
  LeaseBucket,
  NatsTransport,
  renewIntervalMs,
  type LeaseValue,
} from '@yunbian/transport';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { duplicateEngineMessage, engineLeaseKey, LEADER_KEY, replicaOfKey, takeoverReason } from './replica-rules';

/** What the engine gives the replica service once its runs are restored. */
export interface ReplicaHooks {
  /** Takes over the running runs of replica `engineId` (its lease expired or it left); resolves with how many. */
  adopt(engineId: string, reason: string): Promise<number>;
  /** Forgets every run held here (this replica's lease was taken over); returns how many were running. */
  release(): number;
  /** Cloud engine ids other than this one that stored running runs name (candidates after a start). */
  executingEngines(): Promise<string[]>;
}

/** One replica's lease as this process sees it (`GET /engines`). */
export interface ReplicaLease {
  engineId: string;
  /** How long since this process saw the lease renewed (ms). */
  ageMs?: number;
  /** Set while another replica takes its runs over. */
  takenOverBy?: string;
  left?: boolean;
}

/**
 * Orchestrator replicas in the cloud, over leases in `yb-leases` (see libs/transport leases):
 * each replica holds `engine.<id>` and executes the runs whose `executedBy` names it; one
 * holds `leader` and decides what is decided once (catalogue liveness, the deployment
 * reconciler, schedule triggers, the takeover of embedded engines, the run store's
 * housekeeping). When a replica's lease expires (dead, or hung) the others race to claim it
 * by compare-and-set; the winner adopts its running runs and then deletes the marker.
 *
 * Fencing: `whenFresh` — awaited before every run-store write and every dispatch — resolves
 * while this replica's lease is valid and otherwise waits for a renewal; a renewal that finds
 * the lease taken over releases every run held here (no write, no send), and a fresh lease
 * is taken as at a start. A site engine has no replicas: everything here is a no-op and it
 * decides alone.
 */
@Injectable()
export class ReplicaService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('replicas');
  readonly enabled: boolean;
  readonly leaseMs: number;
  private readonly process = randomUUID();
  private readonly startedAt = new Date().toISOString();
  private bucket?: LeaseBucket;
  private own?: HeldLease;
  private acquiring?: Promise<void>;
  private leader?: HeldLease;
  private hooks?: ReplicaHooks;
  private timer?: NodeJS.Timeout;
  private readonly inProgress = new Set<string>();
  private readonly leadershipListeners: ((leading: boolean) => void)[] = [];
  private stopped = false;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {
    this.enabled = config.mode === 'cloud';
    this.leaseMs = config.leaseMs ?? DEFAULT_LEASE_MS;
  }

  get engineId(): string {
    return this.config.id;
  }

  /** Takes this replica's lease before anything else starts (a second live process with the same id refuses to start). */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    this.bucket = await LeaseBucket.open(this.transport, { leaseMs: this.leaseMs });
    await this.acquire(true);
  }

  /** Called by the engine once its own runs are restored: takeovers and leadership begin. */
  start(hooks: ReplicaHooks): void {
    if (!this.enabled) return;
    this.hooks = hooks;
    this.timer = setInterval(() => void this.tick(), Math.min(500, renewIntervalMs(this.leaseMs)));
    this.timer.unref();
    void this.tick();
    void this.orphans();
  }

  /** A clean shutdown (after the engine stopped): the lease is marked left so the others take its runs at once. */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.leader?.stop('delete');
    await this.own?.stop('left');
    this.bucket?.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.leave();
  }

  // ---- what the rest of the orchestrator asks ------------------------------

  /** The fence: resolves at once while this replica's lease is valid, else once it is renewed (or taken anew). */
  whenFresh(): Promise<void> | undefined {
    if (!this.enabled) return undefined;
    if (this.own?.fresh()) return undefined;
    if (this.own && !this.own.lost) return this.own.whenFresh();
    return (this.acquiring ?? Promise.resolve()).then(() => this.own?.whenFresh());
  }

  /** Whether this replica decides what is decided once (always, for a site engine or a single process). */
  decides(): boolean {
    if (!this.enabled) return true;
    return this.leader?.fresh() === true;
  }

  /** Hears when this replica becomes (true) or stops being (false) the leader. */
  onLeadership(listener: (leading: boolean) => void): void {
    this.leadershipListeners.push(listener);
  }

  /** The leader's engine id as this process sees the `leader` lease. */
  leaderId(): string | undefined {
    if (!this.enabled) return this.config.id;
    const o = this.bucket?.observation(LEADER_KEY);
    return o && !o.deleted ? o.value?.holder : undefined;
  }

  /** Every replica lease this process sees. */
  leases(): ReplicaLease[] {
    const bucket = this.bucket;
    if (!bucket) return [];
    return bucket
      .keys('engine.')
      .map((key) => ({ key, o: bucket.observation(key)! }))
      .filter(({ o }) => !o.deleted)
      .map(({ key, o }) => ({
        engineId: replicaOfKey(key),
        ageMs: key === this.own?.key ? round(this.own.ageMs(), 0) : round(bucket.ageMs(key) ?? 0, 0),
        ...(o.value?.takenOverBy ? { takenOverBy: o.value.takenOverBy } : {}),
        ...(o.value?.left ? { left: true } : {}),
      }));
  }

  // ---- leases ----------------------------------------------------------------

  private value(): LeaseValue {
    return {
      holder: this.config.id,
      process: this.process,
      pid: process.pid,
      host: os.hostname(),
      startedAt: this.startedAt,
      at: new Date().toISOString(),
    };
  }

  /**
   * Takes `engine.<id>`: at once when absent or left; after a whole lease of silence when a
   * previous process (a crash) or a takeover marker holds it. A renewal by another process
   * meanwhile means a second live process has this id: at a start, that refuses to start.
   */
  private acquire(atStart: boolean): Promise<void> {
    this.acquiring ??= this.acquireLoop(atStart).finally(() => (this.acquiring = undefined));
    return this.acquiring;
  }

  private async acquireLoop(atStart: boolean): Promise<void> {
    const bucket = this.bucket!;
    const key = engineLeaseKey(this.config.id);
    const first = bucket.observation(key);
    let logged = false;
    for (;;) {
      if (this.stopped) return;
      const seen = bucket.observation(key);
      if (seen && !seen.deleted && seen.revision !== first?.revision && seen.value?.holder === this.config.id) {
        if (seen.value.process !== this.process) {
          const message = duplicateEngineMessage(this.config.id, seen.value);
          if (atStart) throw new Error(message);
          this.logger.error(message);
        }
      }
      const sentAt = performance.now();
      const revision = await bucket.claim(key, this.value()).catch((err: Error) => {
        this.logger.warn('lease claim failed; trying again', { key, error: err.message });
        return undefined;
      });
      if (revision !== undefined) {
        this.own = new HeldLease({
          bucket,
          key,
          value: this.value(),
          revision,
          sentAt,
          onLost: (err) => this.lost(err.message),
          onRenewFailed: (err) => this.logger.warn('lease renewal failed', { key, error: err.message }),
        });
        this.logger.info('lease taken', { key, lease_ms: this.leaseMs, waited: logged });
        return;
      }
      if (!logged) {
        logged = true;
        this.logger.warn('waiting for this replica’s lease', {
          key,
          held: seen?.value,
          at_most_ms: this.leaseMs,
          why: 'a previous process with this id (or a takeover of it) holds it; it is claimed once it expires',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The renewal found the lease taken over: every run held here is released, and a fresh lease taken. */
  private lost(why: string): void {
    const dropped = this.hooks?.release() ?? 0;
    this.logger.error('lease lost, dropped runs', {
      engine: this.config.id,
      runs: dropped,
      reason: `${why}; another replica took them over (this one was hung or cut off longer than the lease, ${this.leaseMs} ms)`,
    });
    this.own = undefined;
    this.dropLeadership('this replica’s own lease was lost');
    void this.acquire(false).catch((err: Error) =>
      this.logger.error('lease could not be taken again', { error: err.message }),
    );
  }

  private dropLeadership(reason: string): void {
    const leader = this.leader;
    if (!leader) return;
    this.leader = undefined;
    void leader.stop();
    this.logger.warn('leadership lost', { engine: this.config.id, reason });
    for (const listener of this.leadershipListeners) listener(false);
  }

  /** One pass: claim leadership when free, take over replicas whose lease expired. */
  private async tick(): Promise<void> {
    const bucket = this.bucket;
    if (!bucket || this.stopped || !this.hooks) return;
    // Nothing is claimed on a lease this replica cannot vouch for itself.
    if (!this.own?.fresh()) return;
    if (this.leader?.lost) this.dropLeadership('the leader lease was taken over');
    if (!this.leader && bucket.claimable(LEADER_KEY)) {
      const sentAt = performance.now();
      const revision = await bucket.claim(LEADER_KEY, this.value()).catch(() => undefined);
      if (revision !== undefined && !this.stopped) {
        this.leader = new HeldLease({
          bucket,
          key: LEADER_KEY,
          value: this.value(),
          revision,
          sentAt,
          onLost: () => this.dropLeadership('the leader lease was taken over'),
        });
        this.logger.warn('leadership taken', { engine: this.config.id });
        for (const listener of this.leadershipListeners) listener(true);
      }
    }
    for (const key of bucket.keys('engine.')) {
      const engineId = replicaOfKey(key);
      if (engineId === this.config.id || this.inProgress.has(engineId) || !bucket.claimable(key)) continue;
      const o = bucket.observation(key);
      if (!o || o.deleted) continue; // absent: nothing to take over (see `orphans` for a start)
      void this.takeOver(engineId, takeoverReason(engineId, o.value, bucket.ageMs(key) ?? 0, this.leaseMs));
    }
  }

  /** After a start: running runs of replicas with no lease at all (they stopped while nobody watched). */
  private async orphans(): Promise<void> {
    try {
      for (const engineId of await this.hooks!.executingEngines()) {
        if (engineId === this.config.id) continue;
        const o = this.bucket!.observation(engineLeaseKey(engineId));
        if (o && !o.deleted) continue; // held (or expiring): the timer takes it once claimable
        await this.takeOver(engineId, `it has running runs but no lease (it stopped while no replica watched)`);
      }
    } catch (err) {
      this.logger.error('could not look for runs of stopped replicas', { error: (err as Error).message });
    }
  }

  private async takeOver(engineId: string, reason: string): Promise<void> {
    const bucket = this.bucket!;
    const key = engineLeaseKey(engineId);
    this.inProgress.add(engineId);
    const began = performance.now();
    try {
      const marker: LeaseValue = { takenOverBy: this.config.id, from: engineId, reason, at: new Date().toISOString() };
      const revision = await bucket.claim(key, marker);
      if (revision === undefined) return; // another replica won, or it renewed
      const adopted = await this.hooks!.adopt(engineId, reason);
      // Done: the marker goes, so nobody takes the (now empty) replica over again.
      await bucket.remove(key, revision);
      this.logger.warn('replica taken over', {
        engine: engineId,
        by: this.config.id,
        runs_taken_over: adopted,
        reason,
        took_ms: round(performance.now() - began, 0),
      });
    } catch (err) {
      // The marker stays: it expires and is claimed again (by this replica or another).
      this.logger.error('replica takeover failed', { engine: engineId, error: (err as Error).message });
    } finally {
      this.inProgress.delete(engineId);
    }
  }
}
