import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { JsonLogger, round } from '@yunbian/common';
import { Subjects, type EngineAnnouncement, type EngineLeaving } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import type { UplinkEvidence } from './uplink';

/** An engine this orchestrator knows is alive: its last announcement and when it came. */
export interface LiveEngine extends EngineAnnouncement {
  /** When its last announcement arrived, on this process's clock. */
  lastSeenAt: string;
  /** This process's own engine. */
  self: boolean;
}

/** How often silence is checked (at most; an engine's own interval is usually longer). */
const SWEEP_MS = 500;

/** What is known of an engine that is not live now. */
export interface SilentEngine {
  id: string;
  /** Its last announcement, when one was heard since this process started. */
  announcement?: EngineAnnouncement;
  /** How long since it was last heard from (ms), when it was. */
  silentMs?: number;
  /** Why it counts as gone (it left, or the silence). */
  reason?: string;
}

/**
 * The engines this orchestrator knows are alive — the cloud's, site engines, embedded
 * engines — from their announcements (`Subjects.engineHeartbeatAll`) and leavings; and its
 * own announcement every `announceMs`. An engine silent for 3 of its intervals, or one that
 * left, is lost: `onEngineLost` listeners hear of it once (a takeover of its runs, the
 * routing of new runs away from it).
 */
@Injectable()
export class EnginesService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('engines');
  private readonly engines = new Map<string, { announcement: EngineAnnouncement; lastSeen: number }>();
  /** Engines lost since this process started, as last heard (the reason a forward to one cannot be made). */
  private readonly gone = new Map<string, { announcement: EngineAnnouncement; lastSeen: number; reason: string }>();
  private readonly lostListeners: ((engine: EngineAnnouncement, reason: string) => void)[] = [];
  private readonly startedAtMs = Date.now();
  private readonly startedAt = new Date(this.startedAtMs).toISOString();
  private subscriptions: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private running: () => number = () => 0;
  /** This process's own NATS connection is down: others' silence is ours, not theirs. */
  private away = false;

  private readonly intervalMs: number;
  private readonly lostAfterIntervals: number;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) readonly config: EngineConfig,
  ) {
    this.intervalMs = config.announceMs ?? 2_000;
    this.lostAfterIntervals = config.lostAfterIntervals ?? 3;
  }

  onApplicationBootstrap(): void {
    const onError = (err: unknown, subject: string) =>
      this.logger.warn('bad engine event', { subject, error: (err as Error).message });
    this.subscriptions.push(
      this.transport.subscribe<EngineAnnouncement>(Subjects.engineHeartbeatAll, (a) => this.onAnnouncement(a), onError),
      this.transport.subscribe<EngineLeaving>(Subjects.engineLeavingAll, (e) => this.onLeaving(e), onError),
    );
    // Engines are not judged by a silence that was this process's own (NATS away from it).
    this.transport.onConnection((state) => (state === 'lost' ? this.connectionLost() : this.connectionBack()));
    this.announce();
    this.timers.push(
      setInterval(() => this.announce(), this.intervalMs).unref(),
      setInterval(() => this.sweep(Date.now()), Math.min(this.intervalMs, SWEEP_MS)).unref(),
    );
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const s of this.subscriptions) s.unsubscribe();
    try {
      this.transport.publish(Subjects.engineLeaving(this.config.id), {
        id: this.config.id,
        at: new Date().toISOString(),
      } satisfies EngineLeaving);
    } catch {
      // The connection is already gone: the others notice the silence instead.
    }
  }

  /** How many runs this engine executes now (the engine registers it). */
  countRunningWith(count: () => number): void {
    this.running = count;
  }

  /** Called once per engine that stopped announcing or left (the one place liveness of engines is decided). */
  onEngineLost(listener: (engine: EngineAnnouncement, reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** Live engines, this one included, by id. */
  list(): LiveEngine[] {
    return [...this.engines.values()]
      .map(({ announcement, lastSeen }) => ({
        ...announcement,
        lastSeenAt: new Date(lastSeen).toISOString(),
        self: announcement.id === this.config.id,
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The live engine with this id (this one included). */
  live(id: string): EngineAnnouncement | undefined {
    return this.engines.get(id)?.announcement;
  }

  /** What is known of an engine that is not live: when it was last heard from and why it is gone. */
  silent(id: string, now = Date.now()): SilentEngine {
    const gone = this.gone.get(id);
    if (!gone) return { id };
    return { id, announcement: gone.announcement, silentMs: now - gone.lastSeen, reason: gone.reason };
  }

  /** Engines lost since this process started (their last announcements). */
  lost(): EngineAnnouncement[] {
    return [...this.gone.values()].map((g) => g.announcement);
  }

  /** The live site engine executing at `site` (not this one), if any. */
  siteEngine(site: string): EngineAnnouncement | undefined {
    for (const { announcement } of this.engines.values()) {
      if (announcement.kind === 'site' && announcement.site === site && announcement.id !== this.config.id) {
        return announcement;
      }
    }
    return undefined;
  }

  /** Live engines other than this one. */
  others(): EngineAnnouncement[] {
    return [...this.engines.values()].map((e) => e.announcement).filter((a) => a.id !== this.config.id);
  }

  /**
   * What a site engine knows of the cloud engine for `uplinkState`: live, or its last
   * announcement's id and silence (nothing when none was heard since this process started);
   * and since when, and how long, silence needs to count.
   */
  cloudEvidence(now = Date.now()): Pick<UplinkEvidence, 'cloudEngine' | 'startedAt' | 'graceMs'> {
    const live = this.cloudEngine();
    const graceMs = this.lostAfterIntervals * this.intervalMs;
    if (live) return { cloudEngine: { live: true, id: live.id }, startedAt: this.startedAtMs, graceMs };
    const gone = [...this.gone.values()].find((g) => g.announcement.kind === 'cloud');
    return {
      cloudEngine: gone
        ? { live: false, id: gone.announcement.id, silentMs: now - gone.lastSeen, reason: gone.reason }
        : { live: false },
      startedAt: this.startedAtMs,
      graceMs,
    };
  }

  /** The cloud engine, when one is live (a site engine forwards runs there). */
  cloudEngine(): EngineAnnouncement | undefined {
    return [...this.engines.values()].map((e) => e.announcement).find((a) => a.kind === 'cloud');
  }

  private announce(): void {
    const announcement: EngineAnnouncement = {
      id: this.config.id,
      kind: this.config.mode,
      site: this.config.site,
      ...(this.config.runDomain ? { domain: this.config.runDomain } : {}),
      startedAt: this.startedAt,
      at: new Date().toISOString(),
      running: this.running(),
      intervalMs: this.intervalMs,
    };
    // Known at once, whether or not our own message comes back.
    this.engines.set(announcement.id, { announcement, lastSeen: Date.now() });
    try {
      this.transport.publish(Subjects.engineHeartbeat(this.config.id), announcement);
    } catch (err) {
      this.logger.warn('engine announcement failed', { error: (err as Error).message });
    }
  }

  onAnnouncement(a: EngineAnnouncement): void {
    if (!a || typeof a.id !== 'string' || typeof a.kind !== 'string') return;
    if (a.id === this.config.id) return;
    if (!this.engines.has(a.id)) {
      const gone = this.gone.get(a.id);
      // Lost and back (it was only cut off, or restarted with the same id): what it held may have been taken over.
      if (gone) this.logger.warn('engine announcing again after it was lost', { engine_id: a.id, lost: gone.reason });
      else this.logger.info('engine joined', { engine_id: a.id, kind: a.kind, site: a.site, domain: a.domain });
      this.gone.delete(a.id);
    }
    this.engines.set(a.id, { announcement: a, lastSeen: Date.now() });
  }

  onLeaving(e: EngineLeaving): void {
    if (!e || e.id === this.config.id) return;
    this.lose(e.id, 'it left (clean shutdown)');
  }

  /**
   * This process lost its NATS connection: no other engine is counted lost for its silence
   * until `connectionBack` (a leaving heard before still counts).
   */
  connectionLost(): void {
    if (!this.away) this.logger.warn('NATS connection lost: engine silence is not counted until it is back');
    this.away = true;
  }

  /** The connection is back: every engine known live gets a fresh interval before its silence counts again. */
  connectionBack(now = Date.now()): void {
    this.away = false;
    for (const known of this.engines.values()) known.lastSeen = Math.max(known.lastSeen, now);
  }

  /** Drops the engines silent for longer than `lostAfterIntervals` of their own interval allows. */
  sweep(now: number): void {
    if (this.away) return;
    for (const [id, { announcement, lastSeen }] of this.engines) {
      if (id === this.config.id) continue;
      const silentMs = now - lastSeen;
      if (silentMs > this.lostAfterIntervals * Math.max(announcement.intervalMs, 100)) {
        this.lose(
          id,
          `its announcements stopped ${round(silentMs / 1000, 1)} s ago (it announces every ${round(announcement.intervalMs / 1000, 1)} s)`,
        );
      }
    }
  }

  private lose(id: string, reason: string): void {
    const known = this.engines.get(id);
    if (!known) return;
    this.engines.delete(id);
    this.gone.set(id, { ...known, reason });
    this.logger.warn('engine lost', { engine_id: id, kind: known.announcement.kind, reason });
    for (const listener of this.lostListeners) {
      try {
        listener(known.announcement, reason);
      } catch (err) {
        this.logger.error('engine-lost listener failed', { engine_id: id, error: (err as Error).message });
      }
    }
  }
}
