import { age, bytes, cell, duration, formatOutput, formatTable, parseOutputFormat } from './format';

describe('formatTable', () => {
  const columns = [
    { header: 'id', value: (r: { id: string; tags: string[]; n?: number }) => r.id },
    { header: 'tags', value: (r: { id: string; tags: string[]; n?: number }) => r.tags },
    { header: 'n', value: (r: { id: string; tags: string[]; n?: number }) => r.n },
  ];

  it('pads columns to their widest cell, with upper-case headings and "-" for nothing', () => {
    const rows = [
      { id: 'edge-a', tags: ['camera', 'arm64'], n: 3 },
      { id: 'cloud-1', tags: [] },
    ];
    expect(formatTable(rows, columns).split('\n')).toEqual([
      'ID       TAGS          N',
      'edge-a   camera,arm64  3',
      'cloud-1  -             -',
    ]);
  });

  it('cuts long free text to its column limit', () => {
    const text = formatTable([{ d: 'a long description of a service' }], [{ header: 'd', value: (r) => r.d, max: 10 }]);
    expect(text.split('\n')[1]).toBe('a long de…');
  });

  it('prints the whole answer for json and yaml, and (none) for an empty table', () => {
    const rows = [{ id: 'a', tags: ['x'], extra: { deep: 1 } }];
    expect(JSON.parse(formatOutput(rows, columns, 'json'))).toEqual(rows);
    expect(formatOutput(rows, columns, 'yaml')).toBe('- id: a\n  tags:\n    - x\n  extra:\n    deep: 1');
    expect(formatOutput([], columns, 'table')).toBe('(none)');
  });
});

describe('cells and figures', () => {
  it('flattens values into one line', () => {
    expect(cell('two\nlines')).toBe('two lines');
    expect(cell({ a: 1 })).toBe('{"a":1}');
    expect(cell(0)).toBe('0');
    expect(cell(null)).toBe('-');
  });

  it('writes durations, ages and sizes briefly', () => {
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.850Z')).toBe('850ms');
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:12.340Z')).toBe('12.3s');
    expect(duration('2026-01-01T00:00:00.000Z', '2026-01-01T00:04:05.000Z')).toBe('4m05s');
    expect(duration('2026-01-01T00:00:00.000Z', undefined)).toBeUndefined();
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(age('2026-01-01T23:59:55Z', now)).toBe('5s');
    expect(age('2026-01-01T21:00:00Z', now)).toBe('3h');
    expect(age('2025-12-29T00:00:00Z', now)).toBe('4d');
    expect(bytes(512)).toBe('512B');
    expect(bytes(4_400_000)).toBe('4.2MiB');
  });

  it('refuses an unknown output format, listing the accepted ones', () => {
    expect(parseOutputFormat('yaml')).toBe('yaml');
    expect(() => parseOutputFormat('xml')).toThrow('-o xml: the output format is one of table, json, yaml');
  });
});
