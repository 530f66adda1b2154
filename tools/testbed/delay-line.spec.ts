import { DelayLine } from './delay-line';

describe('DelayLine', () => {
  it('releases items the delay after they arrived, in order', () => {
    const line = new DelayLine<string>(20);
    line.push('a', 0);
    line.push('b', 5);
    expect(line.take(19)).toEqual([]);
    expect(line.nextDue()).toBe(20);
    expect(line.take(20)).toEqual(['a']);
    expect(line.take(30)).toEqual(['b']);
    expect(line.nextDue()).toBeUndefined();
  });

  it('never lets a shorter new delay overtake older items', () => {
    const line = new DelayLine<string>(50);
    line.push('old', 0);
    line.delay = 5;
    line.push('new', 10);
    expect(line.take(15)).toEqual([]);
    expect(line.take(50)).toEqual(['old', 'new']);
  });

  it('refuses delays that are not milliseconds ≥ 0', () => {
    expect(() => new DelayLine(-1)).toThrow(/≥ 0 \(got -1\)/);
    expect(() => (new DelayLine(1).delay = Number.NaN)).toThrow(/got NaN/);
  });
});
