import type { JsonLogger } from '@yunbian/common';
import type { EngineAnnouncement } from '@yunbian/contracts';
import type { Executor } from '@yunbian/engine';
import type { RunStore } from '@yunbian/transport';
import type { RunEngine, RunRecord } from '@yunbian/workflow';
import { executedByReplica } from '../replicas/replica-rules';

/** Which of the stored running runs were executed by engine `engineId` (embedded, or a cloud replica). */
export function runsOf(runs: RunRecord[], engineId: string, kind: 'embedded' | 'cloud' = 'embedded'): RunRecord[] {
  return runs.filter(
    (r) =>
      r.status === 'running' &&
      (kind === 'cloud'
        ? executedByReplica(r, engineId)
        : r.executedBy?.kind === 'embedded' && r.executedBy.id === engineId),
  );
}

/**
 * The embedded engines whose running runs nobody executes: those named by the runs' records
 * and not live now (their engine died while no orchestrator ran, so no loss was heard).
 */
export function orphanedEngines(running: RunRecord[], live: (id: string) => boolean): string[] {
  const ids = new Set<string>();
  for (const run of running)
    if (run.status === 'running' && run.executedBy?.kind === 'embedded' && !live(run.executedBy.id))
      ids.add(run.executedBy.id);
  return [...ids].sort();
}

/** What the takeover needs of the engine tracker (`EnginesService`): liveness is decided there, once. */
export interface EngineTracker {
  onEngineLost(listener: (engine: EngineAnnouncement, reason: string) => void): void;
  list(): { id: string }[];
}

export interface EngineTakeoverOptions {
  engines: EngineTracker;
  store: Pick<RunStore, 'loadRunning' | 'load'>;
  executor: Pick<Executor, 'adopt'>;
  /** This engine, as the runs it takes over will name it (the reason is set per takeover). */
  self: Omit<RunEngine, 'reason'>;
  logger: JsonLogger;
  /**
   * After a start, runs of embedded engines not heard from within this long are taken over
   * (their engine may have died while no orchestrator ran); default 6 s (3 × 2 s).
   */
  startupGraceMs?: number;
  /**
   * Whether this orchestrator decides takeovers of embedded engines now (the leading replica;
   * always, without replicas): the others leave them to it.
   */
  decides?: () => boolean;
}

/**
 * The cloud orchestrator takes over the durable runs of an embedded engine (`@yunbian/client`
 * in a caller's process) that left or whose announcements stopped — as `EnginesService`
 * decides for every engine, heard through `onEngineLost`: it loads that engine's running runs
 * from the run store they share and resumes them in its own executor (`Executor.adopt`:
 * attempts that were out are sent again with the same idempotency keys), `executedBy` now
 * naming this orchestrator and the engine it took over from.
 *
 * With orchestrator replicas the leading one does this (`decides`); the same adoption takes
 * over the runs of a replica whose lease expired (`adoptRunsOf(id, why, 'cloud')`). An engine that was
 * only cut off, not dead, would go on executing its runs too: `EnginesService` logs its
 * announcements resuming after a loss as a warning.
 */
export class EngineTakeover {
  /**
   * Engines whose runs are being taken over now. Taking over again later is harmless (adopted
   * runs name this engine and are not the lost one's any more), so an engine lost a second
   * time — it came back and started runs — has those taken over too.
   */
  private readonly inProgress = new Set<string>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: EngineTakeoverOptions) {}

  start(): void {
    this.options.engines.onEngineLost((engine, reason) => {
      if (engine.kind !== 'embedded' || this.stopped || this.options.decides?.() === false) return;
      void this.takeOver(engine.id, reason);
    });
    this.timer = setTimeout(() => void this.orphans(), this.options.startupGraceMs ?? 6_000).unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Runs of embedded engines that were not live when the grace after this orchestrator's start ended. */
  async orphans(): Promise<void> {
    if (this.stopped || this.options.decides?.() === false) return;
    try {
      const live = new Set(this.options.engines.list().map((e) => e.id));
      const running = await this.options.store.loadRunning();
      for (const id of orphanedEngines(running, (engine) => live.has(engine)))
        await this.takeOver(id, 'it was not announcing when this orchestrator started');
    } catch (err) {
      this.options.logger.error('could not look for runs of embedded engines', { error: (err as Error).message });
    }
  }

  async takeOver(engineId: string, why: string): Promise<void> {
    if (this.inProgress.has(engineId)) return;
    this.inProgress.add(engineId);
    try {
      await this.adoptRunsOf(engineId, why);
    } finally {
      this.inProgress.delete(engineId);
    }
  }

  /**
   * Adopts the running runs of engine `engineId` (an embedded engine, or — `kind: 'cloud'` —
   * an orchestrator replica whose lease this one claimed); resolves with how many. A failed
   * load throws for a replica (its lease marker stays and is claimed again), and is logged
   * for an embedded engine (tried again at the next start or loss).
   */
  async adoptRunsOf(engineId: string, why: string, kind: 'embedded' | 'cloud' = 'embedded'): Promise<number> {
    const { store, executor, self, logger } = this.options;
    let candidates: RunRecord[];
    try {
      candidates = runsOf(await store.loadRunning(), engineId, kind);
    } catch (err) {
      if (kind === 'cloud') throw err;
      // Tried again at the next start (or when the engine is lost again).
      logger.error('could not load the runs of a lost embedded engine', {
        engine: engineId,
        error: (err as Error).message,
      });
      return 0;
    }
    const what = kind === 'cloud' ? 'orchestrator replica' : 'embedded engine';
    const executedBy: RunEngine = { ...self, reason: `took over from ${what} ${engineId}: ${why}` };
    let adopted = 0;
    for (const candidate of candidates) {
      try {
        // The running bucket may hold a copy a crash left behind: the newest record decides.
        const run = await store.load(candidate.id);
        if (!run || runsOf([run], engineId, kind).length === 0) continue;
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
    if (kind === 'embedded')
      logger[adopted > 0 ? 'warn' : 'info']('embedded engine lost', {
        engine: engineId,
        reason: why,
        runs_taken_over: adopted,
      });
    return adopted;
  }
}
