import { isoTime } from './time';

describe('isoTime', () => {
  it('writes what toISOString writes, in and across seconds', () => {
    const start = Date.parse('2026-12-01T11:59:59.990Z');
    for (let ms = start; ms < start + 30; ms++) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    // Back in time, the same millisecond twice, and far apart.
    for (const ms of [start + 5, start + 5, 0, 1, 999, 1000, 86_399_999, start - 123_456_789])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('matches toISOString for random times, before 1970 and near the fixed-width limits', () => {
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 2_000; i++) {
      const ms = Math.floor((next() * 2 - 1) * 8e12);
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    for (const ms of [-62_167_219_200_000, 253_402_300_799_999, -62_167_219_200_001, 253_402_300_800_000])
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('keeps sub-millisecond times as Date does (truncated)', () => {
    expect(isoTime(1_000.7)).toBe(new Date(1_000.7).toISOString());
  });
});
