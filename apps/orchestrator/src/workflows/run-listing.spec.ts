import type { RunRecord } from '@yunbian/workflow';
import { mergeRunLists } from './run-listing';

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
