import type { RunDetail, StepView } from './resources';
import { describeRun, newlyFinishedSteps, runEndLine, runExitCode, runLogLines, stepLine } from './run-progress';

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

function step(id: string, state: string, extra: Partial<StepView> = {}): StepView {
  return { id, state, attempts: 0, history: [], ...extra } as StepView;
}

function run(status: string, steps: StepView[], extra: Partial<RunDetail> = {}): RunDetail {
  return {
    id: 'r1',
    workflow: { name: 'wf', version: 2 },
    status,
    durability: 'durable',
    createdAt: T(0),
    updatedAt: T(0),
    input: {},
    steps,
    ...extra,
  } as RunDetail;
}

const attempt = (n: number, extra: Record<string, unknown> = {}) => ({
  attempt: n,
  purpose: 'primary',
  service: 'math@1.0.0',
  node: 'edge-a',
  instance: 'i-1',
  idempotencyKey: `r1:a:${n}`,
  queuedAt: T(1),
  startedAt: T(1),
  finishedAt: T(2),
  ...extra,
});

describe('newlyFinishedSteps', () => {
  it('returns each finished step once, in definition order, whichever view shows it first', () => {
    const printed = new Set<string>();
    const first = run('running', [step('a', 'succeeded'), step('b', 'running'), step('c', 'skipped')]);
    expect(newlyFinishedSteps(first, printed).map((s) => s.id)).toEqual(['a', 'c']);
    expect(newlyFinishedSteps(first, printed)).toEqual([]);
    const later = run('failed', [step('a', 'succeeded'), step('b', 'failed'), step('c', 'skipped')]);
    expect(newlyFinishedSteps(later, printed).map((s) => s.id)).toEqual(['b']);
  });
});

describe('lines', () => {
  it('shows where a step ran, its attempts, time and error', () => {
    expect(stepLine(step('a', 'succeeded', { node: 'edge-a', attempts: 1, startedAt: T(1), finishedAt: T(3) }))).toBe(
      '✓ a  succeeded  on edge-a  2.0s',
    );
    expect(
      stepLine(
        step('b', 'failed', {
          node: 'edge-b',
          attempts: 3,
          error: { code: 'VALIDATION_FAILED', message: 'op must be add' },
        }),
      ),
    ).toBe('✗ b  failed  on edge-b  3 attempts\n    error: VALIDATION_FAILED: op must be add');
    expect(stepLine(step('c', 'skipped', { reason: 'when was false' }))).toBe('- c  skipped  (when was false)');
    // One attempt per forEach item is no retry.
    expect(stepLine(step('d', 'succeeded', { items: 3, attempts: 3, node: 'edge-a' }))).toBe(
      '✓ d  succeeded  3 items  on edge-a',
    );
    expect(stepLine(step('d', 'succeeded', { items: 3, attempts: 4 }))).toBe('✓ d  succeeded  3 items  4 attempts');
  });

  it('ends with the run status and, for a failure, the failing step and its error', () => {
    const failed = run(
      'failed',
      [step('a', 'succeeded'), step('b', 'failed', { error: { code: 'INTERNAL', message: 'boom' } })],
      {
        finishedAt: T(4),
        error: { code: 'INTERNAL', message: 'step b failed' },
      } as Partial<RunDetail>,
    );
    expect(runEndLine(failed)).toBe('run r1 failed in 4.0s: step b failed: INTERNAL: boom');
    expect(runEndLine(run('succeeded', [], { finishedAt: T(1) }))).toBe('run r1 succeeded in 1.0s');
    expect(
      runEndLine(run('cancelled', [], { error: { code: 'CANCELLED', message: 'by request' } } as Partial<RunDetail>)),
    ).toBe('run r1 cancelled: CANCELLED: by request');
  });

  it('maps how a run ended to an exit status', () => {
    expect([runExitCode('succeeded'), runExitCode('failed'), runExitCode('cancelled'), runExitCode('running')]).toEqual(
      [0, 1, 2, 2],
    );
  });
});

describe('describeRun and runLogLines', () => {
  const detail = run(
    'failed',
    [
      step('a', 'failed', {
        attempts: 2,
        history: [
          attempt(1, { error: { code: 'INTERNAL', message: 'flaky' }, finishedAt: T(2) }),
          attempt(2, {
            queuedAt: T(3),
            startedAt: T(3),
            finishedAt: T(5),
            error: { code: 'INTERNAL', message: 'again' },
          }),
        ],
        error: { code: 'INTERNAL', message: 'again' },
      } as Partial<StepView>),
      step('b', 'cancelled', { reason: 'the run failed first' }),
    ],
    { finishedAt: T(6), error: { code: 'INTERNAL', message: 'step a failed' } } as Partial<RunDetail>,
  );

  it('describes every step and attempt', () => {
    const text = describeRun(detail);
    expect(text).toContain('Workflow:  wf@2');
    expect(text).toContain('  a  failed  2 attempts');
    expect(text).toContain('    #1 primary math@1.0.0 on edge-a (i-1) 1.0s ✗ INTERNAL: flaky');
    expect(text).toContain('    #2 primary math@1.0.0 on edge-a (i-1) 2.0s ✗ INTERNAL: again');
    expect(text).toContain('    reason: the run failed first');
  });

  it('lists what happened in time order', () => {
    expect(runLogLines(detail)).toEqual([
      `${T(0)}  run r1 started (wf@2)`,
      `${T(1)}  a #1 queued primary math@1.0.0 on edge-a instance i-1`,
      `${T(1)}  a #1 started`,
      `${T(2)}  a #1 failed: INTERNAL: flaky`,
      `${T(3)}  a #2 queued primary math@1.0.0 on edge-a instance i-1`,
      `${T(3)}  a #2 started`,
      `${T(5)}  a #2 failed: INTERNAL: again`,
      `${T(6)}  b cancelled: the run failed first`,
      `${T(6)}  run failed: INTERNAL: step a failed`,
    ]);
  });
});
