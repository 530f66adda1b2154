import type { JsonLogger } from '@yunbian/common';
import type { TriggerFireOutcome, TriggerState, TriggerStatus } from '@yunbian/contracts';
import type { YunbianMetrics } from '@yunbian/observability';
import type { NatsTransport } from '@yunbian/transport';
import {
  triggerConcurrency,
  triggerInput,
  triggerKind,
  type TriggerDefinition,
  type TriggerEvent,
  type TriggerKind,
} from '@yunbian/workflow';
import type { WorkflowEngine } from '../workflow-engine.service';
import type { StoredWorkflow } from '@yunbian/workflow';
import { triggerSource } from './trigger-plan';

/** What every running trigger needs from the orchestrator. */
export interface TriggerContext {
  engine: WorkflowEngine;
  transport: NatsTransport;
  metrics: YunbianMetrics;
  logger: JsonLogger;
  /** The site this engine executes at (what the status shows). */
  site: string;
  /**
   * JetStream domain of the streams stream triggers consume: this engine's own run domain —
   * a site engine's site (its leaf), not the hub's domain it reads the cloud's state from;
   * undefined in the cloud (the hub's JetStream).
   */
  streamDomain?: string;
  /**
   * Whether this engine fires schedule triggers now: with orchestrator replicas only the
   * leading one does (each tick once); always without replicas.
   */
  decides?: () => boolean;
}

/**
 * One trigger of one workflow version, run by this engine: it turns events into runs of that
 * version and keeps at most `concurrency` of them in flight. Subclasses receive the events;
 * this class starts the runs, counts them and reports the status.
 */
export abstract class RunningTrigger {
  readonly kind: TriggerKind;
  readonly concurrency: number;
  protected state: TriggerState = 'starting';
  protected reason?: string;
  protected stopped = false;
  /** Slots taken: runs starting plus runs running. */
  private inFlight = 0;
  private readonly watched = new Set<string>();
  private slotWaiters: (() => void)[] = [];
  private readonly counts: Record<TriggerFireOutcome, number> = { started: 0, duplicate: 0, dropped: 0, failed: 0 };
  private lastFiredAt?: string;
  private lastRunId?: string;
  private lastError?: { at: string; message: string };

  constructor(
    protected readonly context: TriggerContext,
    readonly workflow: StoredWorkflow,
    readonly definition: TriggerDefinition,
    readonly id: string,
  ) {
    this.kind = triggerKind(definition);
    this.concurrency = triggerConcurrency(definition);
  }

  /** Begins receiving events (returns once it is listening, or once it knows why it cannot yet). */
  abstract start(): Promise<void>;

  /** `start`, with a failure shown as the trigger's state instead of thrown. */
  async launch(): Promise<void> {
    try {
      await this.start();
    } catch (err) {
      this.notRunning(`could not start: ${(err as Error).message}`);
    }
  }

  /** Stops receiving events; runs already started go on. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'not-running';
    this.reason = 'stopped';
    for (const wake of this.slotWaiters.splice(0)) wake();
  }

  /** Called when the trigger is gone for good (its workflow deleted, or a new version without it). */
  async retire(): Promise<void> {
    await this.stop();
  }

  status(): TriggerStatus {
    return {
      id: this.id,
      kind: this.kind,
      source: triggerSource(this.definition),
      site: this.context.site,
      state: this.state,
      ...(this.reason && this.state !== 'active' ? { reason: this.reason } : {}),
      concurrency: this.concurrency,
      inFlight: this.inFlight,
      runsStarted: this.counts.started,
      duplicates: this.counts.duplicate,
      dropped: this.counts.dropped,
      failed: this.counts.failed,
      ...(this.lastFiredAt ? { lastFiredAt: this.lastFiredAt } : {}),
      ...(this.lastRunId ? { lastRunId: this.lastRunId } : {}),
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...this.extraStatus(),
    };
  }

  protected extraStatus(): Partial<TriggerStatus> {
    return {};
  }

  protected get freeSlots(): number {
    return this.concurrency - this.inFlight;
  }

  /** Resolves when a slot is free (or the trigger stopped). */
  protected waitForSlot(): Promise<void> {
    if (this.freeSlots > 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  /** Takes a slot, or returns false (counted as dropped) when `concurrency` runs are in flight. */
  protected tryAcquire(): boolean {
    if (this.freeSlots <= 0) {
      this.count('dropped');
      return false;
    }
    this.inFlight++;
    return true;
  }

  /** Takes a slot the caller waited for (`waitForSlot`). */
  protected acquire(): void {
    this.inFlight++;
  }

  private release(): void {
    this.inFlight--;
    this.slotWaiters.shift()?.();
  }

  /** Runs of this trigger still running at start (restored after a restart) hold slots too. */
  protected adoptRunning(prefix: string): void {
    for (const run of this.context.engine.list({ workflow: this.workflow.name, status: 'running', limit: 1_000 }))
      if (run.id.startsWith(prefix) && !this.watched.has(run.id)) {
        this.inFlight++;
        this.watch(run.id);
      }
  }

  /**
   * Starts the run of one event with a slot already taken, and gives the slot back when that
   * run ends (or at once, when no run of ours is running). Resolves once a started run is
   * stored (durable runs); rejects when no run could start.
   */
  protected async fire(event: TriggerEvent, runId?: string): Promise<'started' | 'duplicate'> {
    this.lastFiredAt = event.firedAt;
    let watching = false;
    try {
      const input = await triggerInput(this.definition, event);
      const { run, created } = await this.context.engine.startOnce(this.workflow.name, input, {
        version: this.workflow.version,
        durability: this.definition.durability,
        // The event happened at the trigger's site: placement keeps its data there.
        originSite: this.definition.site,
        runId,
      });
      this.lastRunId = run.id;
      this.count(created ? 'started' : 'duplicate');
      // A duplicate still running (restored, say) is watched once, holding this slot.
      if (run.status === 'running' && !this.watched.has(run.id)) {
        watching = true;
        this.watch(run.id);
      }
      return created ? 'started' : 'duplicate';
    } catch (err) {
      this.count('failed');
      this.lastError = { at: new Date().toISOString(), message: (err as Error).message };
      this.context.logger.warn('trigger could not start a run', {
        workflow: this.workflow.name,
        trigger: this.id,
        ...(runId ? { run_id: runId } : {}),
        error: (err as Error).message,
      });
      throw err;
    } finally {
      if (!watching) this.release();
    }
  }

  /** Notes a problem that is not one event's (the stream is missing, say). */
  protected notRunning(reason: string): void {
    this.state = 'not-running';
    this.reason = reason;
  }

  protected active(): void {
    this.state = 'active';
    this.reason = undefined;
  }

  private count(outcome: TriggerFireOutcome): void {
    this.counts[outcome]++;
    this.context.metrics.triggerFires.inc({
      workflow: this.workflow.name,
      trigger: this.id,
      kind: this.kind,
      outcome,
    });
  }

  private watch(runId: string): void {
    this.watched.add(runId);
    void (async () => {
      try {
        for (;;) {
          const run = await this.context.engine.waitFor(runId, 60_000);
          if (run.status !== 'running') break;
        }
      } catch {
        // Not held in memory (read from the store): nothing of ours is running.
      } finally {
        this.watched.delete(runId);
        this.release();
      }
    })();
  }
}
