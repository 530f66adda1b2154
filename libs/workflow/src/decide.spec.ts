import { float32FromBase64 } from '@yunbian/common';
import type { ErrorBody } from '@yunbian/contracts';
import {
  apply,
  applyResult,
  cancelRun,
  decide,
  placeAttempt,
  resumeDecision,
  resumeRun,
  startAttempt,
  type Action,
} from './decide';
import { isTerminalStep, isTerminalTask } from './run';
import type { WorkflowDefinition } from './definition';
import { createRun, type RunRecord } from './run';
import { tierTensor, type SampleAnswer, type TierCount, type TierTensor } from './tiers';

type Handler = (input: unknown, attempt: number) => unknown;
/** A handler returning this never replies (the attempt stays out). */
const HANG = Symbol('hang');
type Dispatch = Extract<Action, { type: 'dispatch' }>;
class ServiceError {
  constructor(readonly error: ErrorBody) {}
}
const fail = (code: ErrorBody['code'], message: string) => {
  throw new ServiceError({ code, message });
};

/**
 * Drives a run with the real decider, answering dispatches from `handlers` in order, and
 * records what happened. Like the executor, it records where each attempt was placed
 * (`<service>-1` on node `n1`), unless `refuse` returns a placement refusal for it.
 */
async function drive(
  definition: WorkflowDefinition,
  input: unknown,
  handlers: Record<string, Handler>,
  options: {
    maxRounds?: number;
    refuse?: (d: Dispatch) => ErrorBody | undefined;
    stopWhen?: (run: RunRecord) => boolean;
  } = {},
) {
  const run = createRun({ id: 'r1', definition: { ...definition, version: 1 }, input, now: new Date(0) });
  let now = 0;
  const dispatched: Dispatch[] = [];
  let maxInFlight = 0;
  const outstanding: Dispatch[] = [];
  /** Attempts whose handler hung: still out when driving stopped. */
  const hung: Dispatch[] = [];
  for (
    let round = 0;
    round < (options.maxRounds ?? 1000) && run.status === 'running' && !options.stopWhen?.(run);
    round++
  ) {
    const decision = await decide(run, now);
    for (const action of decision.actions) {
      apply(run, action, now);
      if (action.type === 'dispatch') {
        dispatched.push(action);
        const attempt = run.steps[action.stepId].tasks[action.task].attempts.at(-1)!;
        const refusal = options.refuse?.(action);
        if (refusal) {
          attempt.error = refusal;
          const result = { stepId: action.stepId, task: action.task, attempt: attempt.n };
          applyResult(run, { ...result, ok: false, error: refusal }, now, () => 0);
          continue;
        }
        const name = action.attempt.target.split('@')[0];
        Object.assign(attempt, { service: action.attempt.target, instanceId: `${name}-1`, nodeId: 'n1' });
        outstanding.push(action);
      }
    }
    maxInFlight = Math.max(maxInFlight, outstanding.length);
    if (decision.actions.length === 0) {
      const next = outstanding.shift();
      if (next) {
        if (answer(run, next, handlers, now) === HANG) hung.push(next);
        continue;
      }
      if (decision.wakeAt !== undefined) {
        now = decision.wakeAt;
        continue;
      }
      break;
    }
  }
  return { run, dispatched, maxInFlight, now, hung: [...hung, ...outstanding] };
}

function answer(
  run: RunRecord,
  action: Extract<Action, { type: 'dispatch' }>,
  handlers: Record<string, Handler>,
  now: number,
) {
  const name = action.attempt.target.split('@')[0];
  try {
    const output = handlers[name](action.input, action.attempt.n);
    if (output === HANG) return HANG;
    applyResult(
      run,
      { stepId: action.stepId, task: action.task, attempt: action.attempt.n, ok: true, output },
      now,
      () => 0,
    );
  } catch (err) {
    const error = err instanceof ServiceError ? err.error : { code: 'INTERNAL' as const, message: String(err) };
    applyResult(
      run,
      { stepId: action.stepId, task: action.task, attempt: action.attempt.n, ok: false, error },
      now,
      () => 0,
    );
  }
  return undefined;
}

/** Replies to attempts the run no longer waits for: each must be ignored, leaving the record as it was. */
function lateReplies(run: RunRecord, late: Dispatch[]): boolean[] {
  return late.map((d) =>
    applyResult(run, { stepId: d.stepId, task: d.task, attempt: d.attempt.n, ok: true, output: 'late' }, 1e9),
  );
}

/** Steps or tasks a finished run left unfinished (there must be none). */
const unfinished = (run: RunRecord) =>
  Object.entries(run.steps).flatMap(([id, s]) => [
    ...(isTerminalStep(s.status) ? [] : [`${id}: ${s.status}`]),
    ...s.tasks.filter((t) => !isTerminalTask(t.status)).map((t) => `${id}[${t.index}]: ${t.status}`),
  ]);

const add = (input: unknown) => ({ value: ((input as { value: number }).value ?? 0) + 1 });

describe('decide (the engine without NATS)', () => {
  it('passes outputs along a chain and maps the run output', async () => {
    const { run } = await drive(
      {
        name: 'chain',
        steps: [
          { id: 'a', service: 'add', input: { value: '=$input.start' } },
          { id: 'b', service: 'add', input: { value: '=$steps.a.output.value' } },
        ],
        output: '{ "result": $steps.b.output.value }',
      },
      { start: 40 },
      { add },
    );
    expect(run.status).toBe('succeeded');
    expect(run.output).toEqual({ result: 42 });
  });

  it('runs independent branches in the same round and joins them', async () => {
    const { run, dispatched } = await drive(
      {
        name: 'diamond',
        steps: [
          { id: 'a', service: 'add', input: { value: 1 } },
          { id: 'b', service: 'add', input: { value: '=$steps.a.output.value' } },
          { id: 'c', service: 'add', input: { value: '=$steps.a.output.value * 10' } },
          { id: 'd', service: 'add', input: { value: '=$steps.b.output.value + $steps.c.output.value' } },
        ],
      },
      {},
      { add },
    );
    expect(dispatched.map((d) => d.stepId)).toEqual(['a', 'b', 'c', 'd']);
    expect(run.steps.d.output).toEqual({ value: 3 + 21 + 1 });
  });

  it('dispatches both branches before either answers', async () => {
    const run = createRun({
      id: 'r',
      definition: {
        name: 'p',
        version: 1,
        steps: [
          { id: 'b', service: 'add' },
          { id: 'c', service: 'add' },
        ],
      },
      input: {},
      now: new Date(0),
    });
    let decision = await decide(run, 0);
    decision.actions.forEach((a) => apply(run, a, 0));
    decision = await decide(run, 0);
    expect(decision.actions.map((a) => `${a.type}:${(a as { stepId: string }).stepId}`)).toEqual([
      'dispatch:b',
      'dispatch:c',
    ]);
  });

  it('skips a step whose when is false; dependents still run', async () => {
    const { run } = await drive(
      {
        name: 'w',
        steps: [
          { id: 'gate', service: 'add', when: '$input.go', input: { value: 0 } },
          { id: 'after', service: 'add', after: ['gate'], input: { value: '=$exists($steps.gate.output) ? 100 : 7' } },
        ],
      },
      { go: false },
      { add },
    );
    expect(run.steps.gate).toMatchObject({ status: 'skipped', reason: 'when ($input.go) was false' });
    expect(run.steps.after.output).toEqual({ value: 8 });
  });

  it('fans out forEach over 20 items with at most 4 in flight, keeping order', async () => {
    const { run, maxInFlight, dispatched } = await drive(
      {
        name: 'fan',
        steps: [
          {
            id: 'each',
            service: 'add',
            forEach: { items: '$input.xs', concurrency: 4 },
            input: { value: '=$item * 2 + $index' },
          },
        ],
      },
      { xs: Array.from({ length: 20 }, (_, i) => i) },
      { add },
    );
    expect(maxInFlight).toBe(4);
    expect(dispatched).toHaveLength(20);
    expect(run.steps.each.output).toEqual(Array.from({ length: 20 }, (_, i) => ({ value: i * 3 + 1 })));
  });

  it('retries retryable failures with backoff until the third attempt succeeds', async () => {
    const { run, dispatched, now } = await drive(
      {
        name: 'flaky',
        steps: [
          {
            id: 's',
            service: 'flaky',
            retry: { maxAttempts: 3, backoff: 'exponential', initialDelayMs: 100, jitter: 0 },
          },
        ],
      },
      {},
      { flaky: (_input, attempt) => (attempt < 3 ? fail('UNAVAILABLE', `down ${attempt}`) : { ok: attempt }) },
    );
    expect(run.status).toBe('succeeded');
    expect(run.steps.s.output).toEqual({ ok: 3 });
    expect(dispatched.map((d) => d.attempt.idempotencyKey)).toEqual(['r1:s:1', 'r1:s:2', 'r1:s:3']);
    expect(now).toBe(100 + 200);
    expect(run.steps.s.tasks[0].attempts.map((a) => a.error?.message)).toEqual(['down 1', 'down 2', undefined]);
  });

  it('does not retry errors that would fail again, and fails the run naming the step', async () => {
    const { run, dispatched } = await drive(
      {
        name: 'bad',
        steps: [
          { id: 's', service: 'strict' },
          { id: 't', service: 'add', after: ['s'] },
        ],
      },
      {},
      { strict: () => fail('VALIDATION_FAILED', 'input must have x'), add },
    );
    expect(dispatched).toHaveLength(1);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'step s failed at attempt 1 on strict (instance strict-1, node n1): input must have x',
    });
    expect(run.steps.t).toMatchObject({ status: 'cancelled', reason: 'never started: run failed at step s' });
  });

  it('gives up after maxAttempts', async () => {
    const { run, dispatched } = await drive(
      { name: 'down', steps: [{ id: 's', service: 'down', retry: { maxAttempts: 2, initialDelayMs: 1 } }] },
      {},
      { down: () => fail('TIMEOUT', 'no reply') },
    );
    expect(dispatched).toHaveLength(2);
    expect(run.status).toBe('failed');
  });

  it('escalates when the condition holds on the output, with the same input', async () => {
    const definition: WorkflowDefinition = {
      name: 'tiered',
      steps: [
        {
          id: 'classify',
          service: 'small',
          input: { x: '=$input.x' },
          escalate: { when: '$output.confidence < 0.8', service: 'big@^1' },
        },
      ],
      output: '$steps.classify.output',
    };
    const handlers = {
      small: (input: unknown) => ({ label: 'cat?', confidence: (input as { x: number }).x }),
      big: (input: unknown) => ({ label: 'cat', confidence: 0.99, sawX: (input as { x: number }).x }),
    };
    const low = await drive(definition, { x: 0.5 }, handlers);
    expect(low.run.output).toEqual({ label: 'cat', confidence: 0.99, sawX: 0.5 });
    expect(low.run.steps.classify.tasks[0].primaryOutput).toEqual({ label: 'cat?', confidence: 0.5 });
    expect(low.dispatched.map((d) => d.attempt.purpose)).toEqual(['primary', 'escalation']);
    const high = await drive(definition, { x: 0.9 }, handlers);
    expect(high.run.output).toEqual({ label: 'cat?', confidence: 0.9 });
    expect(high.dispatched).toHaveLength(1);
  });

  it('continues past a failed step with onError: continue, and uses a fallback when given', async () => {
    const handlers = { down: () => fail('TIMEOUT', 'step s timed out after 100 ms'), add };
    const cont = await drive(
      {
        name: 'c',
        steps: [
          { id: 's', service: 'down', onError: 'continue', retry: { maxAttempts: 1 } },
          { id: 't', service: 'add', after: ['s'], input: { value: 1 } },
        ],
      },
      {},
      handlers,
    );
    expect(cont.run.status).toBe('succeeded');
    expect(cont.run.steps.s).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
    expect(cont.run.steps.t.output).toEqual({ value: 2 });

    const fb = await drive(
      {
        name: 'f',
        steps: [
          {
            id: 's',
            service: 'down',
            retry: { maxAttempts: 1 },
            onError: { fallback: { service: 'add', input: { value: 9 } } },
          },
        ],
      },
      {},
      handlers,
    );
    expect(fb.run.status).toBe('succeeded');
    expect(fb.run.steps.s.output).toEqual({ value: 10 });
  });

  it('fails a step whose input mapping fails, saying where', async () => {
    const { run } = await drive(
      { name: 'm', steps: [{ id: 's', service: 'add', input: '$number("x")' }] },
      {},
      { add },
    );
    expect(run.status).toBe('failed');
    expect(run.error!.message).toMatch(/^step s failed: input of step s failed: /);
  });

  it('ignores results for cancelled runs and for attempts no longer out', async () => {
    const run = createRun({
      id: 'r',
      definition: { name: 'x', version: 1, steps: [{ id: 's', service: 'add' }] },
      input: {},
      now: new Date(0),
    });
    for (let i = 0; i < 2; i++) (await decide(run, 0)).actions.forEach((a) => apply(run, a, 0));
    expect(applyResult(run, { stepId: 's', task: 0, attempt: 2, ok: true, output: 1 }, 0)).toBe(false);
    expect(cancelRun(run, 0)).toBe(true);
    expect(applyResult(run, { stepId: 's', task: 0, attempt: 1, ok: true, output: 1 }, 0)).toBe(false);
    expect((await decide(run, 0)).actions).toEqual([]);
  });

  it('resumes a failed run from its failed step without re-running what succeeded', async () => {
    let healthy = false;
    const handlers = { add, maybe: (input: unknown) => (healthy ? add(input) : fail('BAD_REQUEST', 'not yet')) };
    const definition: WorkflowDefinition = {
      name: 'resume',
      steps: [
        { id: 'a', service: 'add', input: { value: 1 } },
        { id: 'b', service: 'maybe', input: { value: '=$steps.a.output.value' } },
      ],
    };
    const first = await drive(definition, {}, handlers);
    expect(first.run.status).toBe('failed');
    healthy = true;
    expect(resumeRun(first.run, 1)).toBe(true);
    const dispatched: string[] = [];
    for (let i = 0; i < 10 && first.run.status === 'running'; i++) {
      const d = await decide(first.run, 1);
      for (const a of d.actions) {
        apply(first.run, a, 1);
        if (a.type === 'dispatch') {
          dispatched.push(a.attempt.idempotencyKey);
          answer(first.run, a, handlers, 1);
        }
      }
    }
    expect(first.run.status).toBe('succeeded');
    expect(dispatched).toEqual(['r1:b:2']);
    expect(first.run.steps.b.output).toEqual({ value: 3 });
  });

  describe('run records that tell the truth when a run ends', () => {
    it('a failure cancels the parallel siblings in flight and the steps not started, naming the cause', async () => {
      const { run, hung } = await drive(
        {
          name: 'siblings',
          steps: [
            { id: 'a', service: 'strict' },
            { id: 'b', service: 'slow' },
            { id: 'c', service: 'slow', forEach: { items: '$input.xs', concurrency: 1 } },
            { id: 'd', service: 'add', after: ['a', 'b'] },
          ],
        },
        { xs: [1, 2, 3] },
        { strict: () => fail('VALIDATION_FAILED', 'input must have x'), slow: () => HANG, add },
      );
      expect(run.status).toBe('failed');
      expect(run.error).toEqual({
        code: 'VALIDATION_FAILED',
        message: 'step a failed at attempt 1 on strict (instance strict-1, node n1): input must have x',
        details: {
          step: 'a',
          attempt: 1,
          purpose: 'primary',
          service: 'strict',
          instance: 'strict-1',
          node: 'n1',
          cause: { code: 'VALIDATION_FAILED', message: 'input must have x' },
        },
      });
      expect(unfinished(run)).toEqual([]);
      expect(run.steps.a.status).toBe('failed');
      expect(run.steps.b).toMatchObject({ status: 'cancelled', reason: 'stopped in flight: run failed at step a' });
      expect(run.steps.b.tasks[0].attempts[0]).toMatchObject({ abandoned: { reason: 'run failed at step a' } });
      expect(run.steps.b.tasks[0].attempts[0]).not.toHaveProperty('input');
      expect(run.steps.c.tasks.map((t) => [t.status, t.attempts.length, !!t.attempts[0]?.abandoned])).toEqual([
        ['cancelled', 1, true],
        ['cancelled', 0, false],
        ['cancelled', 0, false],
      ]);
      expect(run.steps.d).toMatchObject({ status: 'cancelled', reason: 'never started: run failed at step a' });

      // Replies still on their way when the run ended change nothing.
      expect(hung.map((d) => `${d.stepId}[${d.task}]`)).toEqual(['b[0]', 'c[0]']);
      const before = JSON.stringify(run);
      expect(lateReplies(run, hung)).toEqual([false, false]);
      expect(JSON.stringify(run)).toBe(before);
      expect((await decide(run, 1e9)).actions).toEqual([]);
    });

    it('names the attempt that failed, not a later retry that placement refused', async () => {
      const { run } = await drive(
        { name: 'refused', steps: [{ id: 'infer', service: 'onnx', retry: { maxAttempts: 3, initialDelayMs: 1 } }] },
        {},
        { onnx: () => fail('INTERNAL', 'onnxruntime: invalid input shape [1,3]') },
        {
          refuse: (d) =>
            d.attempt.n > 1 ? { code: 'UNSATISFIABLE', message: 'no instance of onnx left to try' } : undefined,
        },
      );
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({
        code: 'INTERNAL',
        message:
          'step infer failed at attempt 1 on onnx (instance onnx-1, node n1): onnxruntime: invalid input shape [1,3]',
        details: {
          attempt: 1,
          instance: 'onnx-1',
          lastAttempt: { attempt: 2, error: { code: 'UNSATISFIABLE', message: 'no instance of onnx left to try' } },
        },
      });
      expect(run.steps.infer.error).toMatchObject({ code: 'INTERNAL' });
    });

    it('a failure inside forEach names the item; the step after it is cancelled', async () => {
      const { run } = await drive(
        {
          name: 'items',
          steps: [
            { id: 'each', service: 'check', forEach: { items: '$input.xs', concurrency: 2 }, input: { x: '=$item' } },
            { id: 'after', service: 'add', after: ['each'] },
          ],
        },
        { xs: [0, 1, 2, 3, 4] },
        { check: (input) => ((input as { x: number }).x === 3 ? fail('BAD_REQUEST', 'x must not be 3') : {}), add },
      );
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({
        code: 'BAD_REQUEST',
        message:
          'step each item 3 failed at attempt 1 on check (instance check-1, node n1): x must not be 3 (1 of 5 items failed)',
        details: { step: 'each', item: 3, failedItems: [3], attempt: 1 },
      });
      expect(unfinished(run)).toEqual([]);
      expect(run.steps.after).toMatchObject({ status: 'cancelled', reason: 'never started: run failed at step each' });
    });

    it('a cancel ends every step (in flight, waiting for a retry, not started) with CANCELLED; retry resumes them', async () => {
      let healthy = false;
      const handlers: Record<string, Handler> = {
        add,
        slow: () => (healthy ? { ok: true } : HANG),
        flaky: (input) =>
          healthy ? { ok: true } : (input as { x: number }).x === 0 ? fail('UNAVAILABLE', 'busy') : HANG,
      };
      const definition: WorkflowDefinition = {
        name: 'cancel',
        steps: [
          { id: 'a', service: 'add' },
          { id: 'b', service: 'slow', after: ['a'] },
          {
            id: 'c',
            service: 'flaky',
            after: ['a'],
            forEach: { items: '[0, 1, 2, 3]', concurrency: 2 },
            input: { x: '=$item' },
            retry: { maxAttempts: 3, initialDelayMs: 60_000 },
          },
          { id: 'd', service: 'add', after: ['b'] },
        ],
      };
      const { run, hung } = await drive(definition, {}, handlers, {
        stopWhen: (r) => r.steps.c.tasks[0]?.status === 'waiting',
      });
      expect(run.status).toBe('running');
      expect(cancelRun(run, 5)).toBe(true);
      expect(run).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED', message: 'cancelled by request' } });
      expect(unfinished(run)).toEqual([]);
      expect(run.steps.a.status).toBe('succeeded');
      expect(run.steps.b).toMatchObject({ status: 'cancelled', reason: 'stopped in flight: cancelled by request' });
      expect(run.steps.b.tasks[0].attempts[0].abandoned).toEqual({
        at: new Date(5).toISOString(),
        reason: 'cancelled by request',
      });
      expect(run.steps.c.tasks[0]).not.toHaveProperty('retryAt');
      expect(run.steps.d).toMatchObject({ status: 'cancelled', reason: 'never started: cancelled by request' });

      const before = JSON.stringify(run);
      expect(lateReplies(run, hung).every((applied) => !applied)).toBe(true);
      expect(JSON.stringify(run)).toBe(before);

      // A retry starts the cancelled steps again; the late reply of an abandoned attempt is not taken for the new one.
      healthy = true;
      expect(resumeRun(run, 6)).toBe(true);
      const lateOne = hung.find((d) => d.stepId === 'b')!;
      for (let i = 0; i < 20 && run.status === 'running'; i++) {
        for (const action of (await decide(run, 6)).actions) {
          apply(run, action, 6);
          if (action.type === 'dispatch') {
            expect(lateReplies(run, [lateOne])).toEqual([false]);
            answer(run, action, handlers, 6);
          }
        }
      }
      expect(run.status).toBe('succeeded');
      expect(run.steps.b.tasks[0].attempts.map((a) => [a.n, !!a.abandoned])).toEqual([
        [1, true],
        [2, false],
      ]);
    });

    it('onError: continue fails the step alone; its siblings in flight finish and the run succeeds', async () => {
      const { run } = await drive(
        {
          name: 'continue',
          steps: [
            { id: 'a', service: 'strict', onError: 'continue' },
            { id: 'b', service: 'add', input: { value: 1 } },
            { id: 'c', service: 'add', input: { value: "=$steps.a.state = 'failed' ? 10 : 20" }, after: ['b'] },
          ],
        },
        {},
        { strict: () => fail('VALIDATION_FAILED', 'input must have x'), add },
      );
      expect(run.status).toBe('succeeded');
      expect(run.error).toBeUndefined();
      expect(run.steps.a).toMatchObject({ status: 'failed', error: { code: 'VALIDATION_FAILED' } });
      expect(run.steps.b.status).toBe('succeeded');
      expect(run.steps.c.output).toEqual({ value: 11 });
    });
  });

  it('dispatches sub-workflow steps as workflow calls', async () => {
    const run = createRun({
      id: 'r',
      definition: { name: 'p', version: 1, steps: [{ id: 'child', workflow: 'ocr@2', input: { a: 1 } }] },
      input: {},
      now: new Date(0),
    });
    (await decide(run, 0)).actions.forEach((a) => apply(run, a, 0));
    const [action] = (await decide(run, 0)).actions;
    expect(action).toMatchObject({ type: 'dispatch', kind: 'workflow', input: { a: 1 }, attempt: { target: 'ocr@2' } });
  });

  it('records placement and send as actions, and resends what was out after a restart with the step timeout', async () => {
    const run = createRun({
      id: 'r1',
      definition: { name: 'w', version: 1, steps: [{ id: 's', service: 'ocr@^1', timeoutMs: 4_000 }] },
      input: {},
      now: new Date(0),
    });
    (await decide(run, 0)).actions.forEach((a) => apply(run, a, 0));
    const [dispatch] = (await decide(run, 0)).actions;
    apply(run, dispatch, 0);
    const d = dispatch as Dispatch;
    apply(run, placeAttempt(d, { service: 'ocr@1.2.0', instanceId: 'i1', nodeId: 'n1', placement: { why: 'x' } }), 5);
    apply(run, startAttempt(d), 7);
    const attempt = run.steps.s.tasks[0].attempts[0];
    expect(attempt).toMatchObject({
      service: 'ocr@1.2.0',
      instanceId: 'i1',
      nodeId: 'n1',
      startedAt: new Date(7).toISOString(),
    });
    // A placement for an attempt no longer out changes nothing.
    apply(
      run,
      { ...placeAttempt(d, { service: 'x', instanceId: 'i2', nodeId: 'n2', placement: null }), attempt: 9 },
      8,
    );
    expect(attempt.instanceId).toBe('i1');

    const restored = JSON.parse(JSON.stringify(run)) as RunRecord;
    const resume = resumeDecision(restored);
    expect(resume.actions).toEqual([
      expect.objectContaining({
        type: 'resend',
        stepId: 's',
        task: 0,
        kind: 'service',
        timeoutMs: 4_000,
        attempt: expect.objectContaining({ n: 1, idempotencyKey: attempt.idempotencyKey }),
      }),
    ]);
    // A finished run has nothing to resend.
    applyResult(restored, { stepId: 's', task: 0, attempt: 1, ok: true, output: 1 }, 10);
    expect(resumeDecision(restored).actions).toEqual([]);
  });
});

describe('decide: tiered steps', () => {
  /** Per sample a difficulty d in its input row; each tier is surer than the one below it. */
  const classifier = (confidence: (d: number) => number) => (input: unknown) => {
    const x = (input as { inputs: { x: TierTensor } }).inputs.x;
    const d = Array.from(float32FromBase64(x.float32));
    return {
      outputs: {
        probabilities: tierTensor(
          [d.length, 2],
          d.flatMap((v) => [confidence(v), 1 - confidence(v)]),
        ),
      },
      batchSize: d.length,
    };
  };
  const handlers: Record<string, Handler> = {
    device: classifier((d) => 1 - d),
    edge: classifier((d) => 1 - d / 2),
    cloud: classifier(() => 0.99),
  };
  const definition = (retry = 3): WorkflowDefinition => ({
    name: 'tiers',
    steps: [
      {
        id: 'classify',
        input: '$input',
        retry: { maxAttempts: retry, initialDelayMs: 10 },
        tiers: [
          { service: 'device@^1', model: 'digits@1', placement: { tier: 'device' }, hard: { threshold: 0.9 } },
          { service: 'edge@^1', model: 'digits@2', placement: { tier: 'edge' }, hard: { threshold: 0.8 } },
          { service: 'cloud@^1', model: 'digits@3', placement: { tier: 'cloud' } },
        ],
      },
    ],
    output: '$steps.classify.output',
  });
  // Device confidences 0.95, 0.7, 0.4, 0.1: samples 1–3 go to the edge; there 0.85, 0.7, 0.55: 2 and 3 go on.
  const batch = { inputs: { x: tierTensor([4, 1], [0.05, 0.3, 0.6, 0.9]) } };
  type Out = { outputs: { probabilities: TierTensor }; samples: SampleAnswer[]; tiers: TierCount[] };
  const rowsOf = (d: Dispatch) => (d.input as { inputs: { x: TierTensor } }).inputs.x.dims[0];

  it('sends each tier only the hard samples of the one below and merges the answers in sample order', async () => {
    const { run, dispatched } = await drive(definition(), batch, handlers);
    expect(run.status).toBe('succeeded');
    expect(dispatched.map((d) => [d.attempt.purpose, d.attempt.tier, d.attempt.target, rowsOf(d)])).toEqual([
      ['primary', 0, 'device@^1', 4],
      ['escalation', 1, 'edge@^1', 3],
      ['escalation', 2, 'cloud@^1', 2],
    ]);
    expect(dispatched.map((d) => [d.model, d.placement?.tier])).toEqual([
      ['digits@1', 'device'],
      ['digits@2', 'edge'],
      ['digits@3', 'cloud'],
    ]);
    const out = run.output as Out;
    expect(out.samples.map((s) => s.tier)).toEqual([0, 1, 2, 2]);
    expect(out.samples[1].why).toEqual({ rule: 'threshold', score: 0.85, threshold: 0.8, hard: false });
    const p = Array.from(float32FromBase64(out.outputs.probabilities.float32)).filter((_, i) => i % 2 === 0);
    expect(p.map((v) => Math.round(v * 100) / 100)).toEqual([0.95, 0.85, 0.99, 0.99]);
    expect(out.tiers.map((c) => [c.tier, c.inferences, c.hardExamples])).toEqual([
      [0, 4, 3],
      [1, 3, 2],
      [2, 2, 0],
    ]);
    expect(run.steps.classify.tasks[0].tiers?.answers).toEqual(out.samples);
  });

  it('stops at the first tier that is sure of every sample', async () => {
    const easy = { inputs: { x: tierTensor([2, 1], [0, 0.01]) } };
    const { run, dispatched } = await drive(definition(), easy, handlers);
    expect(dispatched).toHaveLength(1);
    expect((run.output as Out).samples.map((s) => s.tier)).toEqual([0, 0]);
  });

  it('answers from the lower tier, marked fallback, when a higher tier stays unavailable after the retries', async () => {
    const down = { ...handlers, cloud: () => fail('UNAVAILABLE', 'no instance serves model digits@3') };
    const { run, dispatched } = await drive(definition(), batch, down);
    expect(run.status).toBe('succeeded');
    // Retries count per tier: tier 1's attempt does not use up tier 2's three.
    expect(dispatched.filter((d) => d.attempt.tier === 2)).toHaveLength(3);
    const out = run.output as Out;
    expect(out.samples.map((s) => [s.tier, s.fallback?.tier])).toEqual([
      [0, undefined],
      [1, undefined],
      [1, 2],
      [1, 2],
    ]);
    expect(out.samples[3].fallback?.reason).toBe(
      'tier 2 (cloud@^1, model digits@3) unreachable after 3 attempts: UNAVAILABLE: no instance serves model digits@3',
    );
    expect(out.samples[3].why?.hard).toBe(true);
    expect(out.tiers[1].fallbacks).toBe(2);
  });

  it('falls back at once when placement refuses a tier (not retried)', async () => {
    const refuse = (d: Dispatch): ErrorBody | undefined =>
      d.attempt.tier === 1 ? { code: 'UNSATISFIABLE', message: 'no edge node can run edge@^1' } : undefined;
    const { run, dispatched } = await drive(definition(), batch, handlers, { refuse });
    expect(dispatched.map((d) => d.attempt.tier)).toEqual([0, 1]);
    const out = run.output as Out;
    expect(out.samples.map((s) => [s.tier, s.fallback?.tier])).toEqual([
      [0, undefined],
      [0, 1],
      [0, 1],
      [0, 1],
    ]);
  });

  it('fails the step when a higher tier refuses the request itself', async () => {
    const bad = { ...handlers, cloud: () => fail('BAD_REQUEST', 'model digits@3 has no input "x"') };
    const { run } = await drive(definition(), batch, bad);
    expect(run.status).toBe('failed');
    expect(run.error?.message).toContain('model digits@3 has no input "x"');
  });

  it('resends an attempt out with its tier, model and placement after a restart', async () => {
    const hang = { ...handlers, cloud: () => HANG };
    const { run } = await drive(definition(), batch, hang);
    const [resend] = resumeDecision(run).actions as Dispatch[];
    expect([resend.attempt.tier, resend.model, resend.placement?.tier, rowsOf(resend)]).toEqual([
      2,
      'digits@3',
      'cloud',
      2,
    ]);
  });

  it('runs the tiers per item of a forEach over batches', async () => {
    const def = definition();
    Object.assign(def.steps[0], { forEach: { items: '$input.batches' }, input: '$item' });
    const easy = { inputs: { x: tierTensor([1, 1], [0]) } };
    const { run, dispatched } = await drive(def, { batches: [batch, easy] }, handlers);
    expect(run.status).toBe('succeeded');
    const outputs = run.output as Out[];
    expect(outputs.map((o) => o.samples.map((s) => s.tier))).toEqual([[0, 1, 2, 2], [0]]);
    expect(dispatched.filter((d) => d.task === 1)).toHaveLength(1);
  });

  it('fails with what is wrong when the input is not a batch of tensors', async () => {
    const { run } = await drive(
      definition(),
      { inputs: { x: tierTensor([3, 1], [0.5, 0.5, 0.5]) } },
      {
        ...handlers,
        device: () => ({ outputs: { probabilities: tierTensor([2, 2], [0.5, 0.5, 0.5, 0.5]) } }),
      },
    );
    expect(run.status).toBe('failed');
    expect(run.error?.message).toContain('the step input has 3 samples where tier 0 answered 2');
  });
});
