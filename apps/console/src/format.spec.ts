import { bytes, duration, errorText, preview, routeOf } from './format';
import { columnsOf, dependenciesOf } from './graph';

describe('console formatting', () => {
  it('prints durations in the unit that reads best', () => {
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.250Z')).toBe('250 ms');
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:03.400Z')).toBe('3.4 s');
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:02:05.000Z')).toBe('2 min 5 s');
    expect(duration('2026-01-01T00:00:00.000Z', undefined, Date.parse('2026-01-01T00:00:01.000Z'))).toBe('1.0 s');
    expect(duration(undefined, undefined)).toBe('—');
  });

  it('prints sizes', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(2_048)).toBe('2.0 KB');
    expect(bytes(3 * 1_048_576)).toBe('3.0 MB');
  });

  it('cuts long JSON and says how much is left out', () => {
    const text = preview({ data: 'x'.repeat(100) }, 20);
    expect(text.startsWith('{\n  "data": "xxxxxxx')).toBe(true);
    expect(text).toMatch(/… \(\d+ more characters\)$/);
    expect(preview(undefined)).toBe('—');
  });

  it('splits hash routes', () => {
    expect(routeOf('#/runs/report.cron.3')).toEqual(['runs', 'report.cron.3']);
    expect(routeOf('#/workflows/a%20b')).toEqual(['workflows', 'a b']);
    expect(routeOf('')).toEqual([]);
  });

  it('shows the message of an error answer', () => {
    expect(errorText(403, { message: 'needs role operator' })).toBe('403: needs role operator');
    expect(errorText(502, '<html>')).toBe('HTTP 502');
  });
});

describe('columnsOf', () => {
  it('puts each step one column after the furthest step it depends on', () => {
    expect(
      columnsOf([
        { id: 'a' },
        { id: 'b', input: { v: '=$steps.a.output.value' } },
        { id: 'c' },
        { id: 'd', after: ['c'], when: '$steps.b.output.ok' },
        { id: 'e', after: ['nope'] },
      ]),
    ).toEqual([['a', 'c', 'e'], ['b'], ['d']]);
  });

  it('finds dependencies in after and in $steps references, once each', () => {
    const ids = new Set(['a', 'b', 's']);
    expect(
      dependenciesOf({ id: 's', after: ['a'], input: ['=$steps.a.output', '=$steps.b.x', '$steps.zz'] }, ids),
    ).toEqual(['a', 'b']);
  });

  it('does not loop on a cycle', () => {
    expect(
      columnsOf([
        { id: 'a', after: ['b'] },
        { id: 'b', after: ['a'] },
      ])
        .flat()
        .sort(),
    ).toEqual(['a', 'b']);
  });
});
