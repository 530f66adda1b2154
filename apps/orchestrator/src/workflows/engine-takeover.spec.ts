import type { RunRecord } from '@yunbian/workflow';
import { lostEngines, runsOf } from './engine-takeover';

describe('lostEngines', () => {
  it('finds engines that left, and engines silent for more than the bound of their own interval', () => {
    const now = 100_000;
    const lost = lostEngines(
      [
        { id: 'fresh', intervalMs: 2_000, lastSeen: now - 5_000 },
        { id: 'silent', intervalMs: 2_000, lastSeen: now - 6_500 },
        { id: 'left', intervalMs: 2_000, lastSeen: now, left: true },
        { id: 'slow', intervalMs: 10_000, lastSeen: now - 20_000 },
      ],
      now,
      3,
    );
    expect(lost).toEqual([
      { id: 'silent', reason: 'its announcements stopped 6.5 s ago (it announces every 2 s)' },
      { id: 'left', reason: 'it left' },
    ]);
  });
});

describe('runsOf', () => {
  const run = (id: string, status: RunRecord['status'], executedBy?: RunRecord['executedBy']) =>
    ({ id, status, executedBy }) as RunRecord;
  it('keeps the running runs the named embedded engine executed', () => {
    const e1 = { kind: 'embedded' as const, id: 'e1', reason: 'caller' };
    const runs = [
      run('a', 'running', e1),
      run('b', 'succeeded', e1),
      run('c', 'running', { kind: 'embedded', id: 'e2', reason: 'caller' }),
      run('d', 'running', { kind: 'cloud', id: 'e1', reason: 'cloud' }),
      run('e', 'running'),
    ];
    expect(runsOf(runs, 'e1').map((r) => r.id)).toEqual(['a']);
  });
});
