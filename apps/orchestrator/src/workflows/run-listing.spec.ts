import type { RunRecord } from '@yunbian/workflow';
import { mergeRunLists, pageOfRuns } from './run-listing';

const run = (id: string, createdAt: string, extra: Partial<RunRecord> = {}) =>
  ({ id, createdAt, status: 'succeeded', workflow: { name: 'w', version: 1 }, ...extra }) as RunRecord;

describe('mergeRunLists', () => {
  it('lists each run once, the holding engine’s record first, newest first', () => {
    const takenOver = run('b', '2026-01-02', {
      status: 'running',
      executedBy: { kind: 'cloud', id: 'c', reason: 'took over' },
    });
    const merged = mergeRunLists(
      [takenOver, run('a', '2026-01-01')],
      [
        run('b', '2026-01-02', { status: 'running', executedBy: { kind: 'embedded', id: 'e', reason: 'caller' } }),
        run('c', '2026-01-03', { executedBy: { kind: 'site', id: 's', reason: 'site' } }),
        run('c', '2026-01-03', { executedBy: { kind: 'site', id: 's', reason: 'site' } }),
      ],
      {},
    );
    expect(merged.map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(merged[1]).toBe(takenOver);
  });

  it('filters the other engines’ runs as this engine’s are, and bounds the answer', () => {
    const merged = mergeRunLists(
      [run('a', '2026-01-01')],
      [
        run('x', '2026-01-05', { workflow: { name: 'other', version: 1 } } as Partial<RunRecord>),
        run('y', '2026-01-04', { status: 'failed' }),
        run('z', '2026-01-03'),
      ],
      { workflow: 'w', status: 'succeeded', limit: 1 },
    );
    expect(merged.map((r) => r.id)).toEqual(['z']);
  });
});

describe('pageOfRuns', () => {
  const runs = ['a', 'b', 'c', 'd', 'e'].map((id, i) => run(id, `2026-01-0${i + 1}`));

  it('pages newest first until the limit, each page within its budget, the cursor moving on', () => {
    const one = JSON.stringify(runs[0]).length + 1;
    const first = pageOfRuns(runs, { limit: 4, budgetBytes: 2 + 2 * one });
    expect(first.runs.map((r) => r.id)).toEqual(['e', 'd']);
    expect(first.next).toEqual({ createdAt: '2026-01-04', id: 'd' });
    const second = pageOfRuns(runs, { limit: 2, after: first.next, budgetBytes: 2 + 2 * one });
    expect(second.runs.map((r) => r.id)).toEqual(['c', 'b']);
    // The limit is reached: no cursor, although older runs are left.
    expect(second.next).toBeUndefined();
    expect(pageOfRuns(runs, { limit: 10, after: { createdAt: '2026-01-02', id: 'b' }, budgetBytes: 1e6 })).toEqual({
      runs: [runs[0]],
    });
  });

  it('always sends one run, even larger than the budget; ties in time are ordered by id', () => {
    const tied = [run('x', '2026-01-01'), run('y', '2026-01-01')];
    const page = pageOfRuns(tied, { limit: 10, budgetBytes: 1 });
    expect(page.runs.map((r) => r.id)).toEqual(['y']);
    expect(pageOfRuns(tied, { limit: 10, after: page.next, budgetBytes: 1 }).runs.map((r) => r.id)).toEqual(['x']);
  });
});
