import {
  isPayloadRef,
  PAYLOAD_BUCKET,
  RemoteError,
  YunbianError,
  type InstanceRecord,
  type NodeRecord,
  type PayloadRef,
} from '@yunbian/contracts';
import type { RunRecord, WorkflowDefinition } from '@yunbian/workflow';
import { Executor, type ExecutorOptions } from './executor';
import type {
  Clock,
  PayloadStore,
  RouteRequest,
  RunListener,
  RunStore,
  ServiceCall,
  StepDispatcher,
  StepRouter,
} from './ports';

// ---- in-memory ports -------------------------------------------------------

/** Stores JSON, as a real store does: what a second executor loads shares nothing with the first. */
class MemoryRunStore implements RunStore {
  readonly records = new Map<string, string>();
  saves = 0;
  /** Saves that fail next (the store gave up on its own retries: NATS away too long). */
  failing = 0;
  async save(run: RunRecord): Promise<void> {
    if (this.failing > 0) {
      this.failing--;
      throw new YunbianError('UNAVAILABLE', 'run state not stored: JetStream did not answer within 60 s');
    }
    this.saves++;
    this.records.set(run.id, JSON.stringify(run));
  }
  async load(id: string): Promise<RunRecord | undefined> {
    const json = this.records.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as RunRecord);
  }
  async loadAll(): Promise<RunRecord[]> {
    return [...this.records.values()].map((json) => JSON.parse(json) as RunRecord);
  }
  async compact(): Promise<void> {}
  stored(id: string): RunRecord {
    return JSON.parse(this.records.get(id)!) as RunRecord;
  }
}

class MemoryPayloads implements PayloadStore {
  readonly objects = new Map<string, string>();
  constructor(private readonly thresholdBytes = 1_000) {}
  async offload(value: unknown, name: string, json?: string): Promise<unknown> {
    if (value === undefined || isPayloadRef(value)) return value;
    json ??= JSON.stringify(value);
    if (json.length <= this.thresholdBytes) return value;
    this.objects.set(name, json);
    return { $ybRef: { bucket: PAYLOAD_BUCKET, name, bytes: json.length } } satisfies PayloadRef;
  }
  async resolve(value: unknown): Promise<unknown> {
    if (!isPayloadRef(value)) return value;
    const json = this.objects.get(value.$ybRef.name);
    if (json === undefined) throw new Error(`no payload ${value.$ybRef.name}`);
    return JSON.parse(json);
  }
  async deleteWithPrefix(prefix: string): Promise<void> {
    for (const name of [...this.objects.keys()]) if (name.startsWith(prefix)) this.objects.delete(name);
  }
  async deleteOlderThan(): Promise<void> {}
}

/** Time moves only when told; due timers fire in order, each followed by what it set off. */
class FakeClock implements Clock {
  private t = Date.parse('2026-01-01T00:00:00Z');
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, delayMs: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + delayMs, fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets every promise chain the ports set off run to its end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((resolve) => setImmediate(resolve));
}

const instance = (id: string, service: string): InstanceRecord =>
  ({ id, service, version: '1.0.0', nodeId: `node-${id}`, subject: `svc.${id}` }) as unknown as InstanceRecord;

/** Picks the first instance of the service not to avoid; counts what is out on each (the one count). */
class FakeRouter implements StepRouter {
  readonly inFlight = new Map<string, number>();
  readonly requests: RouteRequest[] = [];
  /** Instances no longer in the catalogue. */
  readonly gone = new Set<string>();
  constructor(public instances: InstanceRecord[]) {}
  instance(id: string): InstanceRecord | undefined {
    return this.gone.has(id) ? undefined : this.instances.find((i) => i.id === id);
  }
  route(request: RouteRequest) {
    this.requests.push(request);
    const name = request.service.split('@')[0];
    const all = this.instances.filter((i) => i.service === name && !this.gone.has(i.id));
    const fresh = all.filter((i) => !request.avoid?.includes(i.id));
    const chosen = (fresh.length > 0 ? fresh : all)[0];
    if (!chosen) throw new YunbianError('UNSATISFIABLE', `no instance of ${request.service}`);
    return {
      instance: chosen,
      node: { id: chosen.nodeId } as NodeRecord,
      strategy: 'first',
      reason: 'first fit',
      candidates: [],
    };
  }
  sent(id: string): void {
    this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
  }
  settled(id: string): void {
    this.inFlight.set(id, this.inFlight.get(id)! - 1);
  }
  siteOf(): string {
    return 'site-a';
  }
  totalInFlight(): number {
    return [...this.inFlight.values()].reduce((a, b) => a + b, 0);
  }
}

type Handler = (input: unknown, call: ServiceCall) => unknown;

/** Thrown by a handler to fail the request before it reaches the service (no responders, a dropped connection). */
class Undelivered extends Error {
  constructor(readonly code: 'NO_RESPONDERS' | 'UNAVAILABLE') {
    super(code);
  }
}
/** Never replies. */
const hang: Handler = () => new Promise(() => undefined);

/**
 * Service calls answered by handlers, with the deadline kept on the fake clock. What a
 * handler throws arrives as a RemoteError (the service's own error), as over NATS.
 */
class FakeDispatcher implements StepDispatcher {
  readonly calls: ServiceCall[] = [];
  handlers: Record<string, Handler> = {};
  startWorkflow: StepDispatcher['startWorkflow'] = () => Promise.reject(new Error('no sub-workflows here'));
  constructor(private readonly clock: FakeClock) {}
  call(request: ServiceCall): Promise<{ value: unknown }> {
    this.calls.push(request);
    const handler = this.handlers[request.instance.service];
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimer(
        () => reject(new YunbianError('TIMEOUT', 'request timed out')),
        request.timeoutMs,
      );
      Promise.resolve()
        .then(() => handler(request.input, request))
        .then(
          (value) => {
            this.clock.clearTimer(timer);
            resolve({ value });
          },
          (err: unknown) => {
            this.clock.clearTimer(timer);
            reject(
              err instanceof Undelivered
                ? new YunbianError(err.code, `request to ${request.instance.subject} not delivered`)
                : new RemoteError(YunbianError.from(err).toBody(), request.instance.subject),
            );
          },
        );
    });
  }
}

function world(options: { instances?: InstanceRecord[]; executor?: ExecutorOptions } = {}) {
  const clock = new FakeClock();
  const store = new MemoryRunStore();
  const payloads = new MemoryPayloads();
  const router = new FakeRouter(options.instances ?? [instance('a1', 'upper'), instance('a2', 'upper')]);
  const dispatcher = new FakeDispatcher(clock);
  const finished: RunRecord[] = [];
  const listener: RunListener = { runFinished: (run) => finished.push(run) };
  const definitions = new Map<string, WorkflowDefinition & { version: number }>();
  const executor = () => {
    const ex = new Executor({ store, payloads, router, dispatcher, clock, listeners: [listener] }, options.executor);
    dispatcher.startWorkflow = async (request) => ({
      id: (
        await ex.start({
          definition: definitions.get(request.target.split('@')[0])!,
          input: request.input,
          durability: request.durability,
          parent: request.parent,
          depth: request.depth,
        })
      ).id,
    });
    return ex;
  };
  return { clock, store, payloads, router, dispatcher, finished, definitions, executor };
}

const def = (steps: WorkflowDefinition['steps'], extra: Partial<WorkflowDefinition> = {}) =>
  ({ name: 'w', version: 1, steps, ...extra }) as WorkflowDefinition & { version: number };

// ---- specs ----------------------------------------------------------------

describe('Executor over in-memory ports', () => {
  it('runs a pipeline with a forEach, recording placement and send time as actions, in one write per round', async () => {
    const w = world({ instances: [instance('a1', 'upper'), instance('c1', 'count')] });
    w.dispatcher.handlers = {
      upper: (input) => (input as { text: string }).text.toUpperCase().split(' '),
      count: (input) => (input as { word: string }).word.length,
    };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([
        { id: 'split', service: 'upper@^1', input: { text: '=$input.text' } },
        {
          id: 'len',
          service: 'count@^1',
          forEach: { items: '$steps.split.output', concurrency: 2 },
          input: { word: '=$item' },
        },
      ]),
      input: { text: 'one three fives' },
    });
    await settle();
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ split: ['ONE', 'THREE', 'FIVES'], len: [3, 5, 5] });
    const stored = w.store.stored(run.id);
    expect(stored.status).toBe('succeeded');
    const attempt = stored.steps.split.tasks[0].attempts[0];
    expect(attempt).toMatchObject({ instanceId: 'a1', nodeId: 'node-a1', service: 'upper@1.0.0' });
    expect(attempt.startedAt).toBeDefined();
    expect(attempt.placement).toMatchObject({ strategy: 'first' });
    // start+split, each reply's round (three forEach batches at most), the end: never one write per action.
    expect(w.store.saves).toBeLessThanOrEqual(6);
    expect(w.router.totalInFlight()).toBe(0);
    expect(w.finished.map((r) => r.id)).toEqual([run.id]);
    // Each call carries the JSON the size check made of its input, for the dispatcher to send as is.
    expect(w.dispatcher.calls).toHaveLength(4);
    for (const call of w.dispatcher.calls) expect(call.inputJson).toBe(JSON.stringify(call.input));
  });

  it('retries a failed attempt on another instance after its backoff', async () => {
    const w = world();
    let calls = 0;
    w.dispatcher.handlers = {
      upper: () => {
        if (++calls < 3) throw new YunbianError('UNAVAILABLE', `busy ${calls}`);
        return 'ok';
      },
    };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await settle();
    expect(run.status).toBe('running');
    expect(run.steps.s.tasks[0].status).toBe('waiting');
    await w.clock.advance(10_000);
    expect(run.status).toBe('succeeded');
    const attempts = run.steps.s.tasks[0].attempts;
    expect(attempts.map((a) => a.instanceId)).toEqual(['a1', 'a2', 'a1']);
    expect(attempts[0].error?.message).toBe('busy 1');
    expect(new Set(w.dispatcher.calls.map((c) => c.idempotencyKey)).size).toBe(3);
  });

  it('fails an attempt at its deadline with a message naming the step, the instance and the timeout', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: hang };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([{ id: 's', service: 'upper@^1', timeoutMs: 1_500, retry: { maxAttempts: 1 } }]),
      input: {},
    });
    // A wait with a limit resolves at it with the run as it is; one without waits for the end.
    const limited = ex.waitFor(run.id, 1_000);
    let unlimited: RunRecord | undefined;
    void ex.waitFor(run.id, Infinity).then((r) => (unlimited = r));
    await w.clock.advance(1_000);
    expect((await limited).status).toBe('running');
    await w.clock.advance(499);
    expect(run.status).toBe('running');
    expect(unlimited).toBeUndefined();
    await w.clock.advance(1);
    await settle();
    expect(unlimited?.status).toBe('failed');
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('TIMEOUT');
    expect(run.error?.message).toContain('step s got no reply from instance a1 within 1500 ms');
    expect(w.router.totalInFlight()).toBe(0);
  });

  it('fails what was out on a lost instance at once and retries it elsewhere', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: (_input, call) => (call.instance.id === 'a1' ? hang(_input, call) : 'from a2') };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await settle();
    ex.instanceLost('a1', 'instance a1 was lost mid-request (heartbeat)');
    await settle();
    // The request to the lost instance still counts in the router (the one count) until it settles.
    expect(w.router.inFlight.get('a1')).toBe(1);
    expect(run.steps.s.tasks[0].attempts[0].error).toEqual({
      code: 'UNAVAILABLE',
      message: 'instance a1 was lost mid-request (heartbeat)',
    });
    await w.clock.advance(10_000);
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ s: 'from a2' });
    // It settled when its wait ended, and was not asked again: the attempt is no longer out.
    expect(w.router.inFlight.get('a1')).toBe(0);
    await w.clock.advance(30_000);
    expect(w.dispatcher.calls.filter((c) => c.instance.id === 'a1')).toHaveLength(1);
    expect(run.status).toBe('succeeded');
  });

  it('resumes after a crash: a second executor over the same store resends the same attempt with its step timeout', async () => {
    // Re-requests later than the step's timeout: the resend waits the step's own time.
    const w = world({ executor: { reRequestMs: 60_000 } });
    w.dispatcher.handlers = { upper: hang };
    const first = w.executor();
    const run = await first.start({
      definition: def([
        { id: 'a', service: 'upper@^1', input: '=$input', timeoutMs: 7_000 },
        { id: 'b', service: 'upper@^1', input: '=$steps.a.output' },
      ]),
      input: { x: 1 },
    });
    await settle();
    first.stop();
    const key = w.dispatcher.calls[0].idempotencyKey;

    w.dispatcher.handlers = { upper: (input) => ({ seen: input }) };
    const second = w.executor();
    const { restored, running } = await second.restore();
    expect(restored).toBe(1);
    expect(running.map((r) => r.id)).toEqual([run.id]);
    await second.resume(run.id);
    await settle();
    const resent = w.dispatcher.calls[1];
    expect(resent.idempotencyKey).toBe(key);
    expect(resent.timeoutMs).toBe(7_000);
    const after = second.get(run.id);
    expect(after.status).toBe('succeeded');
    expect(after.steps.a.tasks[0].attempts).toHaveLength(1);
    expect(after.output).toEqual({ a: { seen: { x: 1 } }, b: { seen: { seen: { x: 1 } } } });
    expect(w.store.stored(run.id).status).toBe('succeeded');
  });

  it('takes over a run another engine was executing: restores only its own runs, adopts the other one under its name', async () => {
    const w = world({ executor: { reRequestMs: 60_000 } });
    w.dispatcher.handlers = { upper: hang };
    const embedded = { kind: 'embedded' as const, id: 'embedded-1', reason: 'started in the caller' };
    const other = w.executor();
    const run = await other.start({
      definition: def([
        { id: 'a', service: 'upper@^1', input: '=$input', timeoutMs: 9_000 },
        { id: 'b', service: 'upper@^1', input: '=$steps.a.output' },
      ]),
      input: { x: 1 },
      executedBy: embedded,
    });
    await settle();
    other.stop();
    expect(w.store.stored(run.id).executedBy).toEqual(embedded);
    const key = w.dispatcher.calls[0].idempotencyKey;

    w.dispatcher.handlers = { upper: (input) => ({ seen: input }) };
    const cloud = w.executor();
    const { restored } = await cloud.restore((r) => r.executedBy?.kind !== 'embedded');
    expect(restored).toBe(0);
    expect(() => cloud.get(run.id)).toThrow(YunbianError);

    const cloudEngine = { kind: 'cloud' as const, id: 'cloud-1', reason: 'took over from embedded-1 (it stopped)' };
    await cloud.adopt((await w.store.load(run.id))!, cloudEngine);
    await settle();
    expect(w.dispatcher.calls[1].idempotencyKey).toBe(key);
    expect(w.dispatcher.calls[1].timeoutMs).toBe(9_000);
    const after = cloud.get(run.id);
    expect(after.status).toBe('succeeded');
    expect(after.steps.a.tasks[0].attempts).toHaveLength(1);
    expect(w.store.stored(run.id).executedBy).toEqual(cloudEngine);
    // Only running runs are taken over.
    await expect(cloud.adopt(after, cloudEngine)).rejects.toThrow(/only running runs can be taken over/);
  });

  it('releases every run it holds when another engine took them over: no write, no send, no outcome after', async () => {
    const w = world({ executor: { reRequestMs: 1_000 } });
    let reply: ((value: unknown) => void) | undefined;
    w.dispatcher.handlers = { upper: () => new Promise((resolve) => (reply = resolve)) };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([
        { id: 'a', service: 'upper@^1', input: '=$input', timeoutMs: 9_000 },
        { id: 'b', service: 'upper@^1', input: '=$steps.a.output' },
      ]),
      input: { x: 1 },
    });
    await settle();
    const waiting = ex.waitFor(run.id, Infinity);
    expect(w.dispatcher.calls).toHaveLength(1);
    const saves = w.store.saves;
    expect(ex.release()).toBe(1);
    // Its waiter gets the run as it was; the run is no longer this executor's.
    await expect(waiting).resolves.toMatchObject({ id: run.id, status: 'running' });
    expect(() => ex.get(run.id)).toThrow(/unknown run/);
    // The reply that still arrives, and the re-request timer, change nothing and send nothing.
    reply!({ late: true });
    await w.clock.advance(20_000);
    expect(w.store.saves).toBe(saves);
    expect(w.dispatcher.calls).toHaveLength(1);
    expect(w.router.totalInFlight()).toBe(0);
    expect(w.store.stored(run.id).steps.b.tasks).toHaveLength(0);
  });

  it('keeps large values out of the run record and the messages, passes them on by reference and deletes them after', async () => {
    const w = world({ instances: [instance('a1', 'upper'), instance('c1', 'count')] });
    const seen: unknown[] = [];
    w.dispatcher.handlers = {
      upper: async (input, call) => {
        const text = ((await w.payloads.resolve(input)) as { text: string }).text;
        return w.payloads.offload({ text: text.toUpperCase() }, `${call.idempotencyKey}.out`);
      },
      count: async (input) => {
        seen.push(input);
        return ((await w.payloads.resolve(input)) as { text: string }).text.length;
      },
    };
    const ex = w.executor();
    const big = 'x'.repeat(5_000);
    const run = await ex.start({
      definition: def([
        { id: 'up', service: 'upper@^1', input: '=$input' },
        { id: 'n', service: 'count@^1', input: '=$steps.up.output' },
      ]),
      input: { text: big },
    });
    await settle();
    expect(run.status).toBe('succeeded');
    expect(run.steps.n.output).toBe(5_000);
    // The output passed on unchanged travelled as the reference it was stored under.
    expect(isPayloadRef(seen[0])).toBe(true);
    expect((seen[0] as PayloadRef).$ybRef.name).toBe(`${run.id}:up:1.out`);
    expect(w.store.records.get(run.id)!.length).toBeLessThan(3_000);
    expect(w.router.requests.find((r) => r.service === 'upper@^1')!.inputBytes).toBeGreaterThan(5_000);
    // An input that went to the payload store is sent as its reference, never as the large value's JSON.
    for (const call of w.dispatcher.calls)
      expect(call.inputJson === undefined || call.inputJson === JSON.stringify(call.input)).toBe(true);
    expect(w.dispatcher.calls.some((call) => (call.inputJson ?? '').includes(big))).toBe(false);
    expect([...w.payloads.objects.keys()]).toEqual([]);
  });

  it('cancels a run: its step stops in flight and a late reply changes nothing', async () => {
    const w = world();
    let reply!: (value: unknown) => void;
    w.dispatcher.handlers = { upper: () => new Promise((resolve) => (reply = resolve)) };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await settle();
    await ex.cancel(run.id, 'not needed');
    expect(run.status).toBe('cancelled');
    expect(run.steps.s.status).toBe('cancelled');
    expect(run.steps.s.tasks[0].attempts[0].abandoned?.reason).toBe('not needed');
    reply('late');
    await settle();
    expect(run.status).toBe('cancelled');
    expect(run.steps.s.output).toBeUndefined();
    await expect(ex.cancel(run.id)).rejects.toThrow(/only running runs can be cancelled/);
    expect(w.store.stored(run.id).status).toBe('cancelled');
  });

  it('runs a sub-workflow as a step, and cancelling the parent cancels the child', async () => {
    const w = world();
    w.definitions.set('child', { ...def([{ id: 'c', service: 'upper@^1', input: '=$input' }]), name: 'child' });
    w.dispatcher.handlers = { upper: (input) => ({ up: (input as { v: string }).v.toUpperCase() }) };
    const ex = w.executor();
    const parentDef = def([{ id: 'sub', workflow: 'child', input: { v: '=$input.v' } }], {
      output: '$steps.sub.output',
    });
    const run = await ex.start({ definition: parentDef, input: { v: 'abc' } });
    await settle();
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ c: { up: 'ABC' } });
    const attempt = run.steps.sub.tasks[0].attempts[0];
    const child = ex.get(attempt.childRunId!);
    expect(child.parent).toMatchObject({ runId: run.id, stepId: 'sub', attempt: 1 });
    expect(child.depth).toBe(1);

    w.dispatcher.handlers = { upper: hang };
    const second = await ex.start({ definition: parentDef, input: { v: 'x' } });
    await settle();
    const childId = second.steps.sub.tasks[0].attempts[0].childRunId!;
    expect(ex.get(childId).status).toBe('running');
    await ex.cancel(second.id);
    expect(ex.get(childId).status).toBe('cancelled');
    expect(ex.get(childId).error?.message).toBe(`parent run ${second.id} was cancelled`);
  });

  it('refuses a run nested deeper than the sub-workflow limit, and names an unknown run', async () => {
    const ex = world().executor();
    await expect(
      ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {}, depth: 99 }),
    ).rejects.toThrow(/sub-workflows nest deeper than/);
    expect(() => ex.get('nope')).toThrow('unknown run "nope"');
  });
  describe('start with a caller-given id (idempotent)', () => {
    const pipeline = def([{ id: 'a', service: 'upper@^1', input: '=$input' }]);

    it('returns the run that exists instead of starting a second, in memory and concurrently', async () => {
      const w = world();
      w.dispatcher.handlers = { upper: (input) => input };
      const ex = w.executor();
      const [first, second] = await Promise.all([
        ex.startOnce({ id: 'orders.s.7', definition: pipeline, input: { n: 7 } }),
        ex.startOnce({ id: 'orders.s.7', definition: pipeline, input: { n: 7 } }),
      ]);
      expect(first.created).toBe(true);
      expect(second).toEqual({ run: first.run, created: false });
      expect(first.run.id).toBe('orders.s.7');
      // The first record was stored before startOnce resolved.
      expect(w.store.records.has('orders.s.7')).toBe(true);
      await settle();
      const again = await ex.startOnce({ id: 'orders.s.7', definition: pipeline, input: { n: 8 } });
      expect(again.created).toBe(false);
      expect(again.run.input).toEqual({ n: 7 });
      expect(w.dispatcher.calls).toHaveLength(1);
      expect(ex.list({}).map((r) => r.id)).toEqual(['orders.s.7']);
    });

    it('finds the run in the store after a crash (a redelivered message), and resumes it rather than starting anew', async () => {
      const w = world();
      w.dispatcher.handlers = { upper: hang };
      const first = w.executor();
      const { created } = await first.startOnce({ id: 'orders.s.9', definition: pipeline, input: { n: 9 } });
      expect(created).toBe(true);
      first.stop();

      w.dispatcher.handlers = { upper: (input) => input };
      // A fresh executor that has not restored: the store alone says the run exists.
      const fresh = w.executor();
      const found = await fresh.startOnce({ id: 'orders.s.9', definition: pipeline, input: { n: 9 } });
      expect(found.created).toBe(false);
      expect(found.run.id).toBe('orders.s.9');
      expect(w.dispatcher.calls).toHaveLength(1);

      const second = w.executor();
      await second.restore();
      const redelivered = await second.startOnce({ id: 'orders.s.9', definition: pipeline, input: { n: 9 } });
      expect(redelivered.created).toBe(false);
      await second.resume('orders.s.9');
      await settle();
      expect(second.get('orders.s.9').status).toBe('succeeded');
      // Sent twice (the attempt out at the crash, then its resend), started once: one attempt, same key.
      expect(w.dispatcher.calls.map((c) => c.idempotencyKey)).toEqual(['orders.s.9:a:1', 'orders.s.9:a:1']);
      expect(second.get('orders.s.9').steps.a.tasks[0].attempts).toHaveLength(1);
    });

    it('forgets a durable run whose first write failed, so the next start with that id starts it', async () => {
      const w = world();
      w.dispatcher.handlers = { upper: (input) => input };
      const ex = w.executor();
      const save = w.store.save.bind(w.store);
      w.store.save = () => Promise.reject(new Error('store unavailable'));
      await expect(ex.startOnce({ id: 'x.s.1', definition: pipeline, input: {} })).rejects.toThrow('store unavailable');
      expect(w.dispatcher.calls).toHaveLength(0);
      w.store.save = save;
      const retried = await ex.startOnce({ id: 'x.s.1', definition: pipeline, input: {} });
      expect(retried.created).toBe(true);
      await settle();
      expect(ex.get('x.s.1').status).toBe('succeeded');
    });

    it('starts a new id every time without one, and refuses to start once stopped', async () => {
      const w = world();
      w.dispatcher.handlers = { upper: (input) => input };
      const ex = w.executor();
      const a = await ex.startOnce({ definition: pipeline, input: {} });
      const b = await ex.startOnce({ definition: pipeline, input: {} });
      expect(a.created && b.created).toBe(true);
      expect(a.run.id).not.toBe(b.run.id);
      ex.stop();
      await expect(ex.start({ definition: pipeline, input: {} })).rejects.toThrow(/engine is stopping/);
    });
  });
});

describe('Executor under faults: the same attempt is asked again, not started anew', () => {
  const key = (w: ReturnType<typeof world>) => new Set(w.dispatcher.calls.map((c) => c.idempotencyKey));
  const targets = (w: ReturnType<typeof world>) => w.dispatcher.calls.map((c) => c.instance.id);

  it('asks again for a reply that did not come (lost in a NATS blip), with the same key on the same instance', async () => {
    const w = world();
    let requests = 0;
    // The first request's reply is lost; the repeat is answered (the worker's result cache would).
    w.dispatcher.handlers = { upper: () => (++requests === 1 ? new Promise(() => undefined) : 'done') };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1', timeoutMs: 30_000 }]), input: {} });
    await w.clock.advance(4_999);
    expect(w.dispatcher.calls).toHaveLength(1);
    await w.clock.advance(1);
    expect(run.status).toBe('succeeded');
    expect(w.dispatcher.calls.map((c) => c.timeoutMs)).toEqual([5_000, 5_000]);
    expect(key(w).size).toBe(1);
    expect(targets(w)).toEqual(['a1', 'a1']);
    expect(run.steps.s.tasks[0].attempts).toHaveLength(1);
    expect(w.router.totalInFlight()).toBe(0);
  });

  it('asks again at once after a reconnect, and takes whichever request of the attempt is answered', async () => {
    const w = world();
    let requests = 0;
    w.dispatcher.handlers = { upper: () => (++requests === 1 ? new Promise(() => undefined) : 'after reconnect') };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await w.clock.advance(1_000);
    ex.reconnected();
    await settle();
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ s: 'after reconnect' });
    expect(key(w).size).toBe(1);
    expect(targets(w)).toEqual(['a1', 'a1']);
    // The first request's wait ending later changes nothing.
    await w.clock.advance(10_000);
    expect(run.steps.s.tasks[0].attempts).toHaveLength(1);
    expect(w.router.totalInFlight()).toBe(0);
  });

  it('does not count time the connection was away against the step timeout', async () => {
    const w = world();
    let answering = false;
    w.dispatcher.handlers = { upper: () => (answering ? 'after the outage' : new Promise(() => undefined)) };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([{ id: 's', service: 'upper@^1', timeoutMs: 8_000, retry: { maxAttempts: 1 } }]),
      input: {},
    });
    await w.clock.advance(1_000);
    ex.disconnected();
    // Thirty seconds away: far past the step's 8 s, and the attempt is still out.
    await w.clock.advance(30_000);
    expect(run.status).toBe('running');
    expect(run.steps.s.tasks[0].attempts).toHaveLength(1);
    answering = true;
    ex.reconnected();
    await settle();
    expect(run.status).toBe('succeeded');
    expect(key(w).size).toBe(1);
    // Asked at 0 s and 5 s (3 s left), then nothing while away past the deadline, then once back
    // (the deadline moved on by the 30 s away: 7 s left, so its usual 5 s wait).
    expect(w.dispatcher.calls.map((c) => c.timeoutMs)).toEqual([5_000, 3_000, 5_000]);
  });

  it('still fails an attempt at its moved-on deadline when the reply never comes after a reconnect', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: hang };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([{ id: 's', service: 'upper@^1', timeoutMs: 8_000, retry: { maxAttempts: 1 } }]),
      input: {},
    });
    await w.clock.advance(1_000);
    ex.disconnected();
    await w.clock.advance(10_000);
    ex.reconnected();
    // 8 s of the step's time, 10 s of it away: the deadline is at 18 s.
    await w.clock.advance(6_999);
    expect(run.status).toBe('running');
    await w.clock.advance(1);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('TIMEOUT');
  });

  it('keeps asking until the step timeout, then fails the attempt naming the step timeout', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: hang };
    const ex = w.executor();
    const run = await ex.start({
      definition: def([{ id: 's', service: 'upper@^1', timeoutMs: 12_000, retry: { maxAttempts: 1 } }]),
      input: {},
    });
    await w.clock.advance(11_999);
    expect(run.status).toBe('running');
    await w.clock.advance(1);
    expect(run.status).toBe('failed');
    expect(run.error?.message).toContain('step s got no reply from instance a1 within 12000 ms');
    expect(w.dispatcher.calls.map((c) => c.timeoutMs)).toEqual([5_000, 5_000, 2_000]);
    expect(key(w).size).toBe(1);
    expect(w.router.totalInFlight()).toBe(0);
  });

  it('asks again while the worker has no responders (reconnecting), with backoff, within a grace', async () => {
    const w = world();
    let requests = 0;
    w.dispatcher.handlers = {
      upper: () => {
        if (++requests <= 3) throw new Undelivered('NO_RESPONDERS');
        return 'back';
      },
    };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await w.clock.advance(2_000);
    expect(run.status).toBe('succeeded');
    expect(targets(w)).toEqual(['a1', 'a1', 'a1', 'a1']);
    expect(run.steps.s.tasks[0].attempts).toHaveLength(1);
  });

  it('starts a new attempt elsewhere when no responders outlast the grace', async () => {
    const w = world({ executor: { noRespondersGraceMs: 3_000 } });
    w.dispatcher.handlers = {
      upper: (_input, call) => {
        if (call.instance.id === 'a1') throw new Undelivered('NO_RESPONDERS');
        return 'from a2';
      },
    };
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await w.clock.advance(20_000);
    expect(run.status).toBe('succeeded');
    const attempts = run.steps.s.tasks[0].attempts;
    expect(attempts.map((a) => a.instanceId)).toEqual(['a1', 'a2']);
    expect(attempts[0].error?.code).toBe('NO_RESPONDERS');
    // 0, 250, 750, 1750, 3750 ms: asked five times before giving up on a1.
    expect(targets(w).filter((t) => t === 'a1')).toHaveLength(5);
  });

  it('starts a new attempt when the instance is gone from the catalogue, or when the handler failed', async () => {
    const w = world();
    let failed = false;
    w.dispatcher.handlers = {
      upper: (_input, call) => {
        if (call.instance.id === 'a1') return new Promise(() => undefined);
        if (!failed) {
          failed = true;
          throw new YunbianError('INTERNAL', 'the handler failed');
        }
        return 'third attempt';
      },
    };
    w.router.instances.push(instance('a3', 'upper'));
    const ex = w.executor();
    const run = await ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await settle();
    w.router.gone.add('a1');
    // a1's wait ends and it is not there: a new attempt (a2), whose handler fails: another (a3).
    await w.clock.advance(20_000);
    expect(run.status).toBe('succeeded');
    const attempts = run.steps.s.tasks[0].attempts;
    expect(attempts.map((a) => a.instanceId)).toEqual(['a1', 'a2', 'a3']);
    expect(attempts.map((a) => a.error?.code)).toEqual(['TIMEOUT', 'INTERNAL', undefined]);
    expect(targets(w)).toEqual(['a1', 'a2', 'a3']);
  });

  it('resends after a restart to the instance the attempt was out on, while it is there', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: hang };
    const first = w.executor();
    const run = await first.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} });
    await settle();
    first.stop();
    // Placement would now choose a2; the resend goes to a1, which may have run it already.
    w.router.instances = [instance('a2', 'upper'), instance('a1', 'upper')];
    w.dispatcher.handlers = { upper: (_input, call) => `cached on ${call.instance.id}` };
    const second = w.executor();
    await second.restore();
    await second.resume(run.id);
    await settle();
    expect(second.get(run.id).output).toEqual({ s: 'cached on a1' });
    expect(targets(w)).toEqual(['a1', 'a1']);
    expect(key(w).size).toBe(1);
  });

  it('after a restart, applies the outcomes workers kept instead of sending those attempts again', async () => {
    const w = world();
    w.dispatcher.handlers = { upper: hang };
    const first = w.executor();
    const run = await first.start({
      definition: def([
        { id: 'a', service: 'upper@^1' },
        { id: 'b', service: 'upper@^1', input: '=$steps.a.output' },
      ]),
      input: {},
    });
    await settle();
    first.stop();
    const key = w.dispatcher.calls[0].idempotencyKey;
    // a finished while no engine listened; its worker kept the outcome.
    const kept = new Map([[key, { ok: true as const, output: 'kept' }]]);
    w.dispatcher.handlers = { upper: (input) => ({ seen: input }) };
    const second = new Executor({
      store: w.store,
      payloads: w.payloads,
      router: w.router,
      dispatcher: w.dispatcher,
      clock: w.clock,
      outcomes: { get: async (k) => kept.get(k) },
    });
    await second.restore();
    await second.resume(run.id);
    await settle();
    const after = second.get(run.id);
    expect(after.status).toBe('succeeded');
    expect(after.output).toEqual({ a: 'kept', b: { seen: 'kept' } });
    // Only b was sent: a was not asked again.
    expect(w.dispatcher.calls.map((c) => c.idempotencyKey)).toEqual([key, `${run.id}:b:1`]);
  });

  it('keeps trying a state write that failed until it lands, then goes on (the run is not wedged)', async () => {
    const w = world();
    const problems: string[] = [];
    w.dispatcher.handlers = { upper: () => 'ok' };
    const ex = new Executor(
      {
        store: w.store,
        payloads: w.payloads,
        router: w.router,
        dispatcher: w.dispatcher,
        clock: w.clock,
        listeners: [{ problem: (message) => problems.push(message) }],
      },
      {},
    );
    const run = await ex.start({
      definition: def([
        { id: 'a', service: 'upper@^1' },
        { id: 'b', service: 'upper@^1', input: '=$steps.a.output' },
      ]),
      input: {},
    });
    // The first write landed; the ones after a's reply fail three times.
    w.store.failing = 3;
    await settle();
    expect(run.status).toBe('running');
    expect(w.dispatcher.calls).toHaveLength(1); // b is not sent before its round is stored
    await w.clock.advance(60_000);
    expect(run.status).toBe('succeeded');
    expect(w.store.stored(run.id).status).toBe('succeeded');
    expect(problems.filter((p) => p === 'run state could not be stored; trying again')).toHaveLength(3);
  });

  it('refuses a durable run whose first write fails, instead of retrying it', async () => {
    const w = world();
    w.store.failing = 1;
    const ex = w.executor();
    await expect(ex.start({ definition: def([{ id: 's', service: 'upper@^1' }]), input: {} })).rejects.toThrow(
      /not stored/,
    );
  });
});
