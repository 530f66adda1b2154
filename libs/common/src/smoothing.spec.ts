import { RecentMedian, WindowedMean } from './smoothing';

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

describe('WindowedMean', () => {
  it('is the mean of the recent samples and forgets an idle window', () => {
    const m = new WindowedMean(1_000);
    expect(m.value(0)).toBeUndefined();
    m.add(10, 0);
    m.add(30, 500);
    expect(m.value(600)).toBe(20);
    expect(m.value(1_150)).toBe(30); // the sample at 0 fell out of the window (to a tenth of it)
    expect(m.value(2_000)).toBeUndefined();
  });
});
