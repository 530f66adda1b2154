import type { JsonLogger } from '@yunbian/common';
import { YunbianError } from '@yunbian/contracts';
import type { YunbianMetrics } from '@yunbian/observability';
import type { NatsTransport } from '@yunbian/transport';
import type { RunRecord, TriggerDefinition, TriggerEvent } from '@yunbian/workflow';
import type { WorkflowEngine } from '../workflow-engine.service';
import type { StoredWorkflow } from '@yunbian/workflow';
import { RunningTrigger, type TriggerContext } from './running-trigger';

/** Runs stay running until the test finishes them; starts with a known id return the run. */
class FakeEngine {
  readonly runs = new Map<string, RunRecord>();
  private readonly waiters = new Map<string, (() => void)[]>();
  failNext?: Error;
  private n = 0;

  async startOnce(_name: string, input: unknown, options: { runId?: string }) {
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    const id = options.runId ?? `run-${++this.n}`;
    const known = this.runs.get(id);
    if (known) return { run: known, created: false };
    const run = { id, status: 'running', input } as RunRecord;
    this.runs.set(id, run);
    return { run, created: true };
  }

  async waitFor(id: string): Promise<RunRecord> {
    const run = this.runs.get(id)!;
    if (run.status !== 'running') return run;
    await new Promise<void>((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
    return run;
  }

  list(): RunRecord[] {
    return [...this.runs.values()].filter((r) => r.status === 'running');
  }

  finish(id: string): void {
    this.runs.get(id)!.status = 'succeeded';
    for (const wake of this.waiters.get(id) ?? []) wake();
  }
}

/** Exposes the protected parts a kind builds on. */
class TestTrigger extends RunningTrigger {
  async start(): Promise<void> {
    this.adoptRunning('wf.t.');
    this.active();
  }
  offer(event: Partial<TriggerEvent>, runId?: string) {
    if (!this.tryAcquire()) return 'dropped';
    return this.fire({ kind: 'subject', trigger: this.id, firedAt: new Date().toISOString(), ...event }, runId);
  }
  slot() {
    return this.waitForSlot();
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

function setup(definition: TriggerDefinition = { subject: 'a', concurrency: 2 }) {
  const engine = new FakeEngine();
  const fires: Record<string, number> = {};
  const context: TriggerContext = {
    engine: engine as unknown as WorkflowEngine,
    transport: {} as NatsTransport,
    metrics: {
      triggerFires: {
        inc: (labels: { outcome: string }) => (fires[labels.outcome] = (fires[labels.outcome] ?? 0) + 1),
      },
    } as unknown as YunbianMetrics,
    logger: { warn: () => undefined } as unknown as JsonLogger,
    site: 'cloud',
  };
  const workflow = { name: 'wf', version: 1 } as StoredWorkflow;
  return { engine, fires, trigger: new TestTrigger(context, workflow, definition, 't') };
}

describe('RunningTrigger', () => {
  it('keeps at most `concurrency` runs in flight: the next event is dropped until one ends', async () => {
    const { engine, fires, trigger } = setup();
    await trigger.start();
    expect(await trigger.offer({ data: 1 })).toBe('started');
    expect(await trigger.offer({ data: 2 })).toBe('started');
    expect(trigger.offer({ data: 3 })).toBe('dropped');
    expect(trigger.status()).toMatchObject({ state: 'active', inFlight: 2, runsStarted: 2, dropped: 1 });
    let freed = false;
    void trigger.slot().then(() => (freed = true));
    await settle();
    expect(freed).toBe(false);
    engine.finish('run-1');
    await settle();
    expect(freed).toBe(true);
    expect(trigger.status().inFlight).toBe(1);
    expect(await trigger.offer({ data: 4 })).toBe('started');
    expect(fires).toEqual({ started: 3, dropped: 1 });
    expect(engine.runs.get('run-3')!.input).toEqual(4);
  });

  it('counts an event whose run exists as a duplicate, holding no slot once that run has ended', async () => {
    const { engine, trigger } = setup({ stream: 'S', concurrency: 1 });
    expect(await trigger.offer({ data: { n: 1 } }, 'wf.t.1')).toBe('started');
    engine.finish('wf.t.1');
    await settle();
    expect(await trigger.offer({ data: { n: 1 } }, 'wf.t.1')).toBe('duplicate');
    expect(trigger.status()).toMatchObject({ inFlight: 0, runsStarted: 1, duplicates: 1, lastRunId: 'wf.t.1' });
  });

  it('counts runs of the trigger still running at start (restored) against the bound', async () => {
    const { engine, trigger } = setup({ stream: 'S', concurrency: 1 });
    engine.runs.set('wf.t.5', { id: 'wf.t.5', status: 'running' } as RunRecord);
    engine.runs.set('other.x.1', { id: 'other.x.1', status: 'running' } as RunRecord);
    await trigger.start();
    expect(trigger.status().inFlight).toBe(1);
    // Its redelivered message finds it and takes no second slot.
    engine.finish('wf.t.5');
    await settle();
    expect(trigger.status().inFlight).toBe(0);
  });

  it('records a failed start with its error and gives the slot back', async () => {
    const { engine, fires, trigger } = setup();
    engine.failNext = new YunbianError('VALIDATION_FAILED', 'run input does not match');
    await expect(trigger.offer({ data: 'x' })).rejects.toThrow('run input does not match');
    expect(trigger.status()).toMatchObject({
      inFlight: 0,
      failed: 1,
      lastError: { message: 'run input does not match' },
    });
    expect(fires).toEqual({ failed: 1 });
  });

  it('maps the event to the input with the trigger mapping', async () => {
    const { engine, trigger } = setup({ subject: 'a', input: { v: '=$trigger.data.x', s: '=$trigger.subject' } });
    await trigger.offer({ data: { x: 7 }, subject: 'a' });
    expect(engine.runs.get('run-1')!.input).toEqual({ v: 7, s: 'a' });
  });
});
