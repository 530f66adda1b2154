import { nextFire, triggerRunId, type ScheduleTrigger } from '@yunbian/workflow';
import type { TriggerStatus } from '@yunbian/contracts';
import { RunningTrigger } from './running-trigger';

/** Timers wake at least this often, so a fire days ahead never rests on one long timeout. */
const MAX_TIMER_MS = 3_600_000;

/**
 * A cron schedule. Fires missed while no engine ran it are skipped, not caught up: after a
 * start the next fire is the schedule's next time. A fire while `concurrency` runs are still
 * in flight is dropped and counted. Each fire's run id is derived from the scheduled time.
 * With orchestrator replicas every replica keeps the schedule and only the leader fires.
 */
export class RunningScheduleTrigger extends RunningTrigger {
  private timer?: NodeJS.Timeout;
  private next?: Date;

  private get schedule(): ScheduleTrigger {
    return this.definition as ScheduleTrigger;
  }

  async start(): Promise<void> {
    this.adoptRunning(`${this.workflow.name}.${this.id}.`);
    this.arm(new Date());
    this.active();
  }

  private arm(after: Date): void {
    if (this.stopped) return;
    this.next = nextFire(this.schedule.schedule, this.schedule.timezone, after);
    if (!this.next) {
      this.notRunning('the schedule has no further fire');
      return;
    }
    this.wait(this.next);
  }

  private wait(at: Date): void {
    const delay = at.getTime() - Date.now();
    if (delay > 0) {
      this.timer = setTimeout(() => this.wait(at), Math.min(delay, MAX_TIMER_MS));
      this.timer.unref();
      return;
    }
    this.fireAt(at);
    // A fire that came late (a busy event loop) does not make up for the ones it passed.
    this.arm(new Date(Math.max(at.getTime(), Date.now() - 1)));
  }

  private fireAt(scheduled: Date): void {
    // Replicas: the leader fires the tick (its run id is the tick's, so a leader that changes
    // mid-tick finds the run the previous one started instead of starting a second).
    if (this.stopped || this.context.decides?.() === false || !this.tryAcquire()) return;
    void this.fire(
      {
        kind: 'schedule',
        trigger: this.id,
        firedAt: new Date().toISOString(),
        scheduledAt: scheduled.toISOString(),
      },
      triggerRunId(this.workflow.name, this.id, scheduled.getTime()),
    ).catch(() => undefined);
  }

  protected override extraStatus(): Partial<TriggerStatus> {
    return this.next && !this.stopped ? { nextFireAt: this.next.toISOString() } : {};
  }

  override async stop(): Promise<void> {
    clearTimeout(this.timer);
    await super.stop();
  }
}
