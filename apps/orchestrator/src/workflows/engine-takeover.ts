import type { Subscription } from '@nats-io/transport-node';
import { round, type JsonLogger } from '@yunbian/common';
import { Subjects, type EngineAnnouncement, type EngineLeaving } from '@yunbian/contracts';
import type { Executor } from '@yunbian/engine';
import type { NatsTransport, RunStore } from '@yunbian/transport';
import type { RunEngine, RunRecord } from '@yunbian/workflow';

/** What this orchestrator knows of one embedded engine. */
export interface EmbeddedEngineState {
  id: string;
  intervalMs: number;
  /** This process's clock (ms) when it was last heard from. */
  lastSeen: number;
  /** It said it was leaving. */
  left?: boolean;
}

/**
 * The embedded engines that are gone: those that left, and those silent for longer than
 * `lostAfterIntervals` of their own announcement interval, each with the reason.
 */
export function lostEngines(
  engines: Iterable<EmbeddedEngineState>,
  now: number,
  lostAfterIntervals: number,
): { id: string; reason: string }[] {
  const lost: { id: string; reason: string }[] = [];
  for (const engine of engines) {
    const silentMs = now - engine.lastSeen;
    if (engine.left) lost.push({ id: engine.id, reason: 'it left' });
    else if (silentMs > lostAfterIntervals * engine.intervalMs)
      lost.push({
        id: engine.id,
        reason: `its announcements stopped ${round(silentMs / 1000, 1)} s ago (it announces every ${round(engine.intervalMs / 1000, 1)} s)`,
      });
  }
  return lost;
}

/** Which of the stored running runs were executed by the embedded engine `engineId`. */
export function runsOf(runs: RunRecord[], engineId: string): RunRecord[] {
  return runs.filter(
    (r) => r.status === 'running' && r.executedBy?.kind === 'embedded' && r.executedBy.id === engineId,
  );
}

export interface EngineTakeoverOptions {
  transport: NatsTransport;
  store: RunStore;
  executor: Executor;
  /** This engine, as the runs it takes over will name it (the reason is set per takeover). */
  self: Omit<RunEngine, 'reason'>;
  logger: JsonLogger;
  /** Missed announcement intervals after which an embedded engine is gone (default 3). */
  lostAfterIntervals?: number;
  /**
   * After a start, runs of embedded engines not heard from within this long are taken over
   * (their engine may have died while no orchestrator ran); default 3 × 2 s.
   */
  startupGraceMs?: number;
  /** How often silence is checked (ms, default 500). */
  sweepMs?: number;
}

/**
 * The cloud orchestrator takes over the durable runs of an embedded engine (`@yunbian/client`
 * in a caller's process) that left or whose announcements stopped: it loads that engine's
 * running runs from the run store they share and resumes them in its own executor
 * (`Executor.adopt`: attempts that were out are sent again with the same idempotency keys),
 * `executedBy` now naming this orchestrator and the engine it took over from.
 *
 * One orchestrator does this (replicas would each take the runs over). An engine that was
 * only cut off, not dead, would go on executing its runs too: its announcements resuming
 * after a takeover are logged as a warning.
 */
export class EngineTakeover {
  private readonly engines = new Map<string, EmbeddedEngineState>();
  /** Engines whose runs were taken over (announcing again after that is worth a warning). */
  private readonly takenOver = new Set<string>();
  private subscriptions: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly lostAfterIntervals: number;

  constructor(private readonly options: EngineTakeoverOptions) {
    this.lostAfterIntervals = options.lostAfterIntervals ?? 3;
  }

  start(): void {
    const { transport, logger } = this.options;
    const onError = (err: unknown, subject: string) =>
      logger.warn('bad engine announcement', { subject, error: (err as Error).message });
    this.subscriptions.push(
      transport.subscribe<EngineAnnouncement>(Subjects.engineHeartbeatAll, (a) => this.onAnnouncement(a), onError),
      transport.subscribe<EngineLeaving>(Subjects.engineLeavingAll, (e) => this.onLeaving(e), onError),
    );
    this.timers.push(setInterval(() => this.sweep(), this.options.sweepMs ?? 500).unref());
    const grace = this.options.startupGraceMs ?? this.lostAfterIntervals * 2_000;
    this.timers.push(setTimeout(() => void this.orphans(), grace).unref());
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private onAnnouncement(a: EngineAnnouncement): void {
    if (a?.kind !== 'embedded' || typeof a.id !== 'string') return;
    if (this.takenOver.has(a.id)) {
      this.options.logger.warn('an embedded engine whose runs were taken over is announcing again', { engine: a.id });
      this.takenOver.delete(a.id);
    }
    const intervalMs = Number.isFinite(a.intervalMs) && a.intervalMs > 0 ? a.intervalMs : 2_000;
    this.engines.set(a.id, { id: a.id, intervalMs, lastSeen: Date.now() });
  }

  private onLeaving(e: EngineLeaving): void {
    const engine = this.engines.get(e?.id);
    if (engine) engine.left = true;
    this.sweep();
  }

  private sweep(): void {
    for (const { id, reason } of lostEngines(this.engines.values(), Date.now(), this.lostAfterIntervals)) {
      this.engines.delete(id);
      this.takenOver.add(id);
      void this.takeOver(id, reason);
    }
  }

  /** Runs of embedded engines that nobody announced since this orchestrator started. */
  private async orphans(): Promise<void> {
    try {
      const running = await this.options.store.loadRunning();
      const ids = new Set(running.filter((r) => r.executedBy?.kind === 'embedded').map((r) => r.executedBy!.id));
      for (const id of ids)
        if (!this.engines.has(id) && !this.takenOver.has(id)) {
          this.takenOver.add(id);
          await this.takeOver(id, 'it was not announcing when this orchestrator started');
        }
    } catch (err) {
      this.options.logger.error('could not look for runs of embedded engines', { error: (err as Error).message });
    }
  }

  private async takeOver(engineId: string, why: string): Promise<void> {
    const { store, executor, self, logger } = this.options;
    let candidates: RunRecord[];
    try {
      candidates = runsOf(await store.loadRunning(), engineId);
    } catch (err) {
      logger.error('could not load the runs of a lost embedded engine', {
        engine: engineId,
        error: (err as Error).message,
      });
      return;
    }
    const executedBy: RunEngine = { ...self, reason: `took over from embedded engine ${engineId}: ${why}` };
    let adopted = 0;
    for (const candidate of candidates) {
      try {
        // The running bucket may hold a copy a crash left behind: the newest record decides.
        const run = await store.load(candidate.id);
        if (!run || runsOf([run], engineId).length === 0) continue;
        await executor.adopt(run, executedBy);
        adopted++;
      } catch (err) {
        logger.error('run could not be taken over', {
          run_id: candidate.id,
          engine: engineId,
          error: (err as Error).message,
        });
      }
    }
    logger[adopted > 0 ? 'warn' : 'info']('embedded engine lost', {
      engine: engineId,
      reason: why,
      runs_taken_over: adopted,
    });
  }
}
