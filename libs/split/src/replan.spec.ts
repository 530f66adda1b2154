import { adoptCut, shouldReplan, type ReplanOptions } from './replan';

const options: ReplanOptions = { threshold: 0.3, hysteresis: 0.05, minGainMs: 2, intervalMs: 10_000 };

describe('re-planning a split when the link moves', () => {
  const basis = { mbps: 20, rttMs: 20, decidedAt: 0 };

  it('re-decides past 30 % either way, not within it', () => {
    expect(shouldReplan(undefined, { mbps: 20, rttMs: 20 }, 0, options).replan).toBe(true);
    expect(shouldReplan(basis, { mbps: 25, rttMs: 20 }, 60_000, options)).toMatchObject({ replan: false });
    expect(shouldReplan(basis, { mbps: 16, rttMs: 20 }, 60_000, options)).toMatchObject({ replan: false });
    expect(shouldReplan(basis, { mbps: 27, rttMs: 20 }, 60_000, options)).toMatchObject({ replan: true });
    // Halving and doubling are the same move.
    const down = shouldReplan(basis, { mbps: 10, rttMs: 20 }, 60_000, options);
    const up = shouldReplan(basis, { mbps: 40, rttMs: 20 }, 60_000, options);
    expect(down).toMatchObject({ replan: true, ratio: 2 });
    expect(up).toMatchObject({ replan: true, ratio: 2 });
    expect(down.reason).toBe('bandwidth moved 20.0 → 10.0 Mbit/s (×0.50)');
    expect(shouldReplan(basis, { mbps: 20, rttMs: 40 }, 60_000, options)).toMatchObject({ replan: true });
  });

  it('at most once per bandwidth-measurement interval', () => {
    const soon = shouldReplan({ ...basis, decidedAt: 55_000 }, { mbps: 1, rttMs: 20 }, 60_000, options);
    expect(soon.replan).toBe(false);
    expect(soon.reason).toContain('less than one measurement interval (10000 ms)');
    expect(shouldReplan({ ...basis, decidedAt: 50_000 }, { mbps: 1, rttMs: 20 }, 60_000, options).replan).toBe(true);
  });

  it('counts the interval from the last switch of cut: a decision that kept the cut does not hold a step back', () => {
    // Re-decided at 55 s on an RTT wobble, the cut kept (chosen at 0): a bandwidth step at 60 s re-plans.
    const kept = { ...basis, decidedAt: 55_000, switchedAt: 0 };
    expect(shouldReplan(kept, { mbps: 1, rttMs: 20 }, 60_000, options).replan).toBe(true);
    // Switched at 55 s: the next switch waits.
    expect(shouldReplan({ ...kept, switchedAt: 55_000 }, { mbps: 1, rttMs: 20 }, 60_000, options).replan).toBe(false);
  });

  it('switches cut only for a gain past the hysteresis, so a bandwidth at a boundary does not flip it', () => {
    expect(adoptCut(undefined, { id: 'a', totalMs: 50 }, options)).toMatchObject({ id: 'a', switched: true });
    expect(adoptCut({ id: 'a', totalMs: 50 }, { id: 'a', totalMs: 50 }, options)).toMatchObject({ switched: false });
    // 1 ms of 50 (2 %): stays.
    const stay = adoptCut({ id: 'a', totalMs: 50 }, { id: 'b', totalMs: 49 }, options);
    expect(stay).toMatchObject({ id: 'a', switched: false });
    expect(stay.reason).toContain('within the hysteresis');
    // 3 ms of 50: goes (past minGainMs); 4 of 400 ms (1 %) stays, 30 of 400 goes.
    expect(adoptCut({ id: 'a', totalMs: 50 }, { id: 'b', totalMs: 47 }, options)).toMatchObject({ id: 'b' });
    expect(adoptCut({ id: 'a', totalMs: 400 }, { id: 'b', totalMs: 396 }, { hysteresis: 0.05, minGainMs: 5 }).id).toBe(
      'a',
    );
    expect(adoptCut({ id: 'a', totalMs: 400 }, { id: 'b', totalMs: 370 }, options).id).toBe('b');
  });

  it('a bandwidth oscillating ±20 % around the planned one never re-plans; a step change re-plans once', () => {
    let current = { ...basis };
    let replans = 0;
    for (let t = 1; t <= 60; t++) {
      const mbps = t < 30 ? 20 * (t % 2 ? 1.2 : 0.8) : 5;
      const verdict = shouldReplan(current, { mbps, rttMs: 20 }, t * 10_000, options);
      if (verdict.replan) {
        replans++;
        current = { mbps, rttMs: 20, decidedAt: t * 10_000 };
      }
    }
    expect(replans).toBe(1);
    expect(current.mbps).toBe(5);
  });
});
