import { RecentMedian } from './smoothing';

describe('RecentMedian', () => {
  it('is the median of the last samples, so one spike does not move it', () => {
    const m = new RecentMedian(5);
    expect(m.value).toBeUndefined();
    for (const [i, ms] of [40, 41, 200, 39, 40].entries()) m.add(ms, i);
    expect(m.value).toBe(40);
    expect(m.lastAt).toBe(4);
    m.add(60, 5);
    m.add(61, 6);
    m.add(59, 7);
    expect(m.value).toBe(59); // a lasting change shows after three samples of five
  });

  it('averages the two middle samples of an even count', () => {
    const m = new RecentMedian(4);
    m.add(10);
    m.add(20);
    expect(m.value).toBe(15);
  });
});
