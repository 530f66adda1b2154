import {
  rawStreamMaxAgeS,
  readingTime,
  summarise,
  summaryMsgId,
  telemetryPurgeCutoffs,
  tierOfSubject,
} from './telemetry';

describe('telemetry logic', () => {
  const start = new Date('2026-12-01T10:00:00Z');
  const end = new Date('2026-12-01T10:00:10Z');

  it('summarises each sensor of a window: count, mean, min, max', () => {
    const summaries = summarise(
      [
        { sensor: 'temp', value: 20 },
        { sensor: 'hum', value: 50 },
        { sensor: 'temp', value: 24 },
        { sensor: 'temp', value: 19 },
        { sensor: 'hum', value: Number.NaN },
      ],
      'factory-a',
      start,
      end,
    );
    expect(summaries).toEqual([
      {
        site: 'factory-a',
        sensor: 'hum',
        count: 1,
        mean: 50,
        min: 50,
        max: 50,
        windowStart: '2026-12-01T10:00:00.000Z',
        windowEnd: '2026-12-01T10:00:10.000Z',
      },
      {
        site: 'factory-a',
        sensor: 'temp',
        count: 3,
        mean: 21,
        min: 19,
        max: 24,
        windowStart: '2026-12-01T10:00:00.000Z',
        windowEnd: '2026-12-01T10:00:10.000Z',
      },
    ]);
    expect(summarise([], 'factory-a', start, end)).toEqual([]);
    expect(summaryMsgId(summaries[1])).toBe('factory-a:temp:2026-12-01T10:00:00.000Z:2026-12-01T10:00:10.000Z');
  });

  it('purges only the tiers kept shorter than the stream, before their cutoff', () => {
    expect(rawStreamMaxAgeS()).toBe(7 * 24 * 3600);
    expect(telemetryPurgeCutoffs(end, rawStreamMaxAgeS())).toEqual([
      { tier: 'user-private', before: new Date('2026-12-01T09:00:10Z') },
    ]);
    expect(
      telemetryPurgeCutoffs(end, 100, { public: 100, 'edge-private': 50, 'user-private': 10 }).map((c) => c.tier),
    ).toEqual(['edge-private', 'user-private']);
  });

  it('reads the tier from a raw subject, and nothing from another subject', () => {
    expect(tierOfSubject('yb.telemetry.factory-a.raw.edge-private.temp')).toBe('edge-private');
    expect(tierOfSubject('yb.telemetry.factory-a.raw.secret.temp')).toBeUndefined();
    expect(tierOfSubject('yb.telemetry-agg.factory-a.temp')).toBeUndefined();
  });

  it('takes a reading time or defaults it, and says what is accepted', () => {
    expect(readingTime(undefined, end)).toBe('2026-12-01T10:00:10.000Z');
    expect(readingTime('2026-12-01T09:00:00+01:00', end)).toBe('2026-12-01T08:00:00.000Z');
    expect(readingTime('yesterday', end)).toEqual({ error: expect.stringMatching(/not an ISO 8601 time/) });
  });
});
