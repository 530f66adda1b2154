import {
  BandwidthEstimator,
  bandwidthFromAcks,
  bandwidthFromTransfer,
  confirmationProbeBytes,
  nextRoundDue,
  DEFAULT_PROBE_SIZING,
  plannedProbeBytes,
  ProbeBudget,
  probeBytes,
} from './link-measurement';

describe('probeBytes', () => {
  it('sizes a probe so that its transfer lasts 4 round trips at the last estimate', () => {
    // 10 Mbit/s = 1,250 bytes/ms; 4 × 60 ms = 240 ms → 300,000 bytes.
    expect(probeBytes(10, 60)).toBe(300_000);
    // Short round trips: at least 200 ms of transfer.
    expect(probeBytes(10, 5)).toBe(250_000);
  });

  it('starts with the first size, and stays within the smallest and largest probe', () => {
    expect(probeBytes(undefined, 40)).toBe(DEFAULT_PROBE_SIZING.firstBytes);
    expect(probeBytes(0.01, 40)).toBe(DEFAULT_PROBE_SIZING.minBytes);
    expect(probeBytes(10_000, 40)).toBe(DEFAULT_PROBE_SIZING.maxBytes);
  });
});

describe('bandwidthFromTransfer', () => {
  it('subtracts the round trip from the elapsed time', () => {
    // 250,000 bytes in 240 ms of which 40 ms round trip: 2,000,000 bits / 0.2 s = 10 Mbit/s.
    expect(bandwidthFromTransfer(250_000, 240, 40)).toBeCloseTo(10, 6);
  });

  it('keeps a finite lower bound when the round trip is most of the elapsed time', () => {
    // 100,000 bytes, 20 ms elapsed, 25 ms RTT measured earlier: transfer taken as 2 ms → 400 Mbit/s.
    expect(bandwidthFromTransfer(100_000, 20, 25)).toBeCloseTo(400, 6);
  });

  it('says nothing about an empty or instantaneous transfer', () => {
    expect(bandwidthFromTransfer(0, 10, 1)).toBeUndefined();
    expect(bandwidthFromTransfer(1000, 0, 0)).toBeUndefined();
  });
});

describe('bandwidthFromAcks', () => {
  // 16 chunks of 10,000 bytes over a 10 Mbit/s bottleneck (1,250 bytes/ms: 8 ms a chunk), 30 ms RTT.
  const chunk = 10_000;
  const train = (rampMs: number) => Array.from({ length: 16 }, (_, i) => 30 + rampMs + 8 * (i + 1));

  it('reads the bottleneck from the spacing of the acks, whatever the ramp-up before them', () => {
    expect(bandwidthFromAcks(chunk, train(0), 30)).toBeCloseTo(10, 6);
    // 25 ms of slow start: the whole transfer says 160,000 B / 153 ms ≈ 8.4 Mbit/s; the spacing still 10.
    expect(bandwidthFromTransfer(16 * chunk, train(25)[15], 30)).toBeCloseTo(8.37, 2);
    expect(bandwidthFromAcks(chunk, train(25), 30)).toBeCloseTo(10, 6);
  });

  it('falls back to the whole transfer when the acks came bunched or were too few', () => {
    // A stalled event loop: all 16 acks within 1 ms at the end (the spacing would say 1,200 Mbit/s).
    const bunched = Array.from({ length: 16 }, (_, i) => 158 + i / 15);
    expect(bandwidthFromAcks(chunk, bunched, 30)).toBeCloseTo(bandwidthFromTransfer(16 * chunk, 159, 30)!, 6);
    expect(bandwidthFromAcks(chunk, [40, 48, 56], 30)).toBeCloseTo(bandwidthFromTransfer(3 * chunk, 56, 30)!, 6);
    expect(bandwidthFromAcks(chunk, [], 30)).toBeUndefined();
  });
});

describe('BandwidthEstimator', () => {
  it('takes the median of recent samples, so one disturbed probe does not move it', () => {
    const e = new BandwidthEstimator();
    expect(e.estimate).toBeUndefined();
    for (const [i, mbps] of [9.8, 10.1, 2.0, 10.0, 9.9].entries()) e.add(mbps, 1000 + i, 'active');
    expect(e.estimate).toBe(9.9);
    expect(e.count).toBe(5);
    expect(e.last).toEqual({ mbps: 9.9, at: 1004, source: 'active' });
  });

  it('follows a step up within two probes and a step down within two', () => {
    const e = new BandwidthEstimator();
    for (let i = 0; i < 5; i++) e.add(5 + (i % 2) * 0.2, i, 'active');
    expect(e.estimate).toBeCloseTo(5, 0);
    e.add(300, 10, 'active'); // first probe after the link went to 1,000 Mbit/s (a small probe: a lower bound)
    expect(e.estimate).toBeLessThan(10);
    e.add(800, 11, 'active');
    expect(e.estimate).toBe(550); // restarted from the two new samples
    e.add(900, 12, 'active');
    expect(e.estimate).toBe(800);
    e.add(20, 13, 'passive');
    e.add(21, 14, 'active');
    expect(e.estimate).toBeCloseTo(20.5, 6);
    expect(e.last?.source).toBe('active');
  });

  it('says what each sample did: first, in line, a suspected step, the step confirmed', () => {
    const e = new BandwidthEstimator();
    expect(e.add(5, 0, 'active')).toBe('first');
    expect(e.add(5.2, 1, 'active')).toBe('in-line');
    expect(e.suspected).toBe(false);
    expect(e.add(120, 2, 'active')).toBe('suspect');
    expect(e.suspected).toBe(true);
    expect(e.estimate).toBe(5.2); // one out-of-line sample does not move it
    expect(e.add(140, 3, 'active')).toBe('step');
    expect(e.suspected).toBe(false);
    expect(e.estimate).toBe(130);
    expect(e.add(NaN, 4, 'active')).toBe('ignored');
  });

  it('keeps its figure when the confirmation of a suspected step comes back in line (one noisy probe)', () => {
    const e = new BandwidthEstimator();
    for (let i = 0; i < 5; i++) e.add(10, i, 'active');
    expect(e.add(1.5, 5, 'active')).toBe('suspect'); // a probe disturbed by real traffic
    expect(e.add(9.8, 6, 'active')).toBe('in-line'); // its confirmation, at once
    expect(e.suspected).toBe(false);
    expect(e.estimate).toBe(10);
    // A suspect on the other side starts its own count: it is no confirmation of the first.
    expect(e.add(50, 7, 'active')).toBe('suspect');
    expect(e.add(1, 8, 'active')).toBe('suspect');
    expect(e.estimate).toBe(9.8); // the median of 10, 1.5, 9.8, 50, 1: still the link's figure
  });

  it('does not take alternating outliers for a step', () => {
    const e = new BandwidthEstimator();
    for (let i = 0; i < 5; i++) e.add(10, i, 'active');
    e.add(50, 5, 'active');
    e.add(1, 6, 'active');
    e.add(50, 7, 'active');
    expect(e.estimate).toBe(10);
  });

  it('ignores samples that are not positive finite numbers', () => {
    const e = new BandwidthEstimator();
    e.add(NaN, 0, 'active');
    e.add(-1, 0, 'active');
    e.add(Infinity, 0, 'active');
    expect(e.estimate).toBeUndefined();
    expect(e.count).toBe(0);
  });
});

describe('ProbeBudget', () => {
  it('allows at most its bytes in any sliding minute', () => {
    const budget = new ProbeBudget(1_000_000);
    expect(budget.spend(600_000, 0)).toBe(true);
    expect(budget.available(1_000)).toBe(400_000);
    expect(budget.spend(500_000, 30_000)).toBe(false);
    expect(budget.spend(400_000, 30_000)).toBe(true);
    expect(budget.available(59_999)).toBe(0);
    expect(budget.available(60_000)).toBe(600_000); // the first probe left the window
    expect(budget.available(90_000)).toBe(1_000_000);
  });

  it('refuses a budget that is not a positive number', () => {
    expect(() => new ProbeBudget(0)).toThrow('the probe budget must be a number of bytes above 0 per minute (got 0)');
  });
});

describe('plannedProbeBytes', () => {
  it('cuts a probe to the larger of the interval share and a quarter of the budget, and never spends more', () => {
    const budget = new ProbeBudget(2_000_000);
    // 20 Mbit/s, 40 ms: 500,000 bytes wanted, a quarter of the budget: sent whole.
    expect(plannedProbeBytes(20, 40, budget, 10_000, 0)).toBe(500_000);
    // 1,000 Mbit/s: the largest probe (1 MiB) wanted; cut to a quarter, or to a 40 s interval's share.
    expect(plannedProbeBytes(1000, 40, budget, 10_000, 0)).toBe(500_000);
    expect(plannedProbeBytes(1000, 40, budget, 40_000, 0)).toBe(1_048_576);
    let spent = 0;
    let now = 0;
    // Probing as often as possible for a minute with a huge estimate still spends no more than the budget.
    for (; now < 60_000; now += 100) {
      const bytes = plannedProbeBytes(1000, 40, budget, 100, now);
      if (bytes > 0 && budget.spend(bytes, now)) spent += bytes;
    }
    expect(spent).toBeLessThanOrEqual(2_000_000);
    expect(spent).toBeGreaterThan(1_900_000);
  });

  it('skips the probe when what is left is below the smallest useful probe', () => {
    const budget = new ProbeBudget(100_000);
    budget.spend(80_000, 0);
    expect(plannedProbeBytes(10, 40, budget, 10_000, 1)).toBe(0);
    expect(plannedProbeBytes(10, 40, budget, 10_000, 60_000)).toBeGreaterThan(0);
  });
});

describe('confirmationProbeBytes', () => {
  const suspecting = () => {
    const e = new BandwidthEstimator();
    for (let i = 0; i < 3; i++) e.add(5, i, 'active');
    e.add(100, 3, 'active');
    return e;
  };

  it('sizes the confirmation for the suspected rate, not for the estimate it disagrees with', () => {
    const budget = new ProbeBudget(40_000_000);
    // 100 Mbit/s × 200 ms = 2.5 MB, cut to the largest probe; at the old 5 Mbit/s it would be 125,000 bytes.
    expect(confirmationProbeBytes(suspecting(), 20, budget, 3000, 0)).toBe(DEFAULT_PROBE_SIZING.maxBytes);
    expect(plannedProbeBytes(5, 20, budget, 3000, 0)).toBe(125_000);
  });

  it('sends none unless a step is suspected', () => {
    const e = new BandwidthEstimator();
    expect(confirmationProbeBytes(e, 20, new ProbeBudget(40_000_000), 3000, 0)).toBe(0);
    for (let i = 0; i < 3; i++) e.add(5, i, 'active');
    expect(confirmationProbeBytes(e, 20, new ProbeBudget(40_000_000), 3000, 0)).toBe(0);
  });

  it('stays within the budget: cut to what is left, none when that is below the smallest probe', () => {
    const budget = new ProbeBudget(2_000_000);
    expect(budget.spend(1_500_000, 0)).toBe(true);
    expect(confirmationProbeBytes(suspecting(), 20, budget, 3000, 1)).toBe(500_000);
    expect(budget.spend(480_000, 1)).toBe(true);
    expect(confirmationProbeBytes(suspecting(), 20, budget, 3000, 2)).toBe(0);
  });
});

describe('nextRoundDue', () => {
  it('keeps rounds at a fixed rate when a coarser timer runs them a little late', () => {
    // Interval 3 s, run by a 1 s tick: due at 3000, run at 3400 → next due at 6000, not 6400.
    expect(nextRoundDue(3000, 3400, 3000)).toBe(6000);
    // The agent's case: a round starts after the tick's pings, which take a few ms more or less
    // each time. Counting the interval from each round's own start, a ping faster than the last
    // round's leaves it a few ms short at the third tick, and the round waits for the fourth.
    const startOf = (tick: number) => tick * 1000 + (tick % 2 ? 8 : 3);
    let due = -Infinity;
    let lastStart = -Infinity;
    const fixed: number[] = [];
    const fromStart: number[] = [];
    for (let tick = 0; tick <= 30; tick++) {
      const at = startOf(tick);
      if (at >= due) {
        fixed.push(tick);
        due = nextRoundDue(due, at, 3000);
      }
      if (at - lastStart >= 3000) {
        fromStart.push(tick);
        lastStart = at;
      }
    }
    expect(fixed).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    expect(fromStart).toEqual([0, 3, 7, 11, 15, 19, 23, 27]); // 4 s apart: a third longer than the interval
  });

  it('starts from now after the first round or a stall longer than an interval', () => {
    expect(nextRoundDue(-Infinity, 500, 3000)).toBe(3500);
    expect(nextRoundDue(3000, 9000, 3000)).toBe(12_000);
  });
});
