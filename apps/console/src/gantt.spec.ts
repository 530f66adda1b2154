import { barLabel, ganttOf } from './gantt';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('ganttOf', () => {
  it('puts each attempt on the row of its node, scaled to the run span', () => {
    const gantt = ganttOf(
      [
        { id: 'a', history: [{ attempt: 1, node: 'edge-1', queuedAt: at(0), finishedAt: at(2) }] },
        {
          id: 'b',
          history: [
            { attempt: 1, node: 'edge-1', startedAt: at(2), finishedAt: at(4), error: { message: 'boom' } },
            { attempt: 2, node: 'cloud-1', queuedAt: at(4), finishedAt: at(10) },
          ],
        },
      ],
      Date.parse(at(30)),
    );
    expect(gantt.rows.map((r) => r.node)).toEqual(['edge-1', 'cloud-1']);
    const [a, b1] = gantt.rows[0].bars;
    expect(a).toMatchObject({ step: 'a', left: 0, width: 20, outcome: 'ok' });
    expect(b1).toMatchObject({ step: 'b', left: 20, width: 20, outcome: 'failed', label: 'b' });
    expect(gantt.rows[1].bars[0]).toMatchObject({ left: 40, width: 60, outcome: 'ok', label: 'b #2' });
    expect(gantt.endMs - gantt.startMs).toBe(10_000);
  });

  it('runs an unfinished attempt up to now, and skips attempts that never started', () => {
    const gantt = ganttOf([{ id: 's', history: [{ attempt: 1, queuedAt: at(0) }, { attempt: 2 }] }], Date.parse(at(5)));
    expect(gantt.rows).toHaveLength(1);
    expect(gantt.rows[0]).toMatchObject({ node: '(not placed)' });
    expect(gantt.rows[0].bars[0]).toMatchObject({ outcome: 'running', width: 100 });
  });

  it('keeps instant attempts visible and inside the track', () => {
    const gantt = ganttOf(
      [
        { id: 'long', history: [{ attempt: 1, node: 'n', queuedAt: at(0), finishedAt: at(100) }] },
        { id: 'blink', history: [{ attempt: 1, node: 'n', queuedAt: at(100), finishedAt: at(100) }] },
      ],
      0,
    );
    const blink = gantt.rows[0].bars[1];
    expect(blink.width).toBeGreaterThan(0);
    expect(blink.left + blink.width).toBeLessThanOrEqual(100);
  });

  it('gives overlapping attempts of one node lines of their own, as few as the overlap needs', () => {
    const item = (i: number, from: number, to: number) => ({
      attempt: 1,
      item: i,
      node: 'n',
      queuedAt: at(from),
      finishedAt: at(to),
    });
    const gantt = ganttOf([{ id: 'each', history: [item(0, 0, 4), item(1, 0, 4), item(2, 4, 8), item(3, 1, 6)] }], 0);
    const [row] = gantt.rows;
    expect(row.lanes).toBe(3);
    expect(row.bars.map((b) => b.lane)).toEqual([0, 1, 0, 2]);
  });

  it('is empty without attempts', () => {
    expect(ganttOf([{ id: 's' }], 7).rows).toEqual([]);
  });
});

describe('barLabel', () => {
  it('names the item, the attempt, the tier and why it ran', () => {
    expect(barLabel('classify', { attempt: 1, item: 3, tier: 1, purpose: 'escalation' })).toBe(
      'classify[3] tier 1 (escalation)',
    );
    expect(barLabel('s', { attempt: 3, purpose: 'primary' })).toBe('s #3');
  });
});
