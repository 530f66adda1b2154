import type { LiveFigures, VersionFigures } from '@yunbian/contracts';
import { emptyFigures, observe, rowStats, windowFigures } from './live-figures';
import { DEFAULT_PROMOTION_RULES, decidePromotion, earlyRollback, promotionRules } from './promotion';

const reading = (instanceId: string, version: number, patch: Partial<LiveFigures>): LiveFigures => ({
  ...emptyFigures('digits', version, instanceId, 'edge-a'),
  startedAt: '2026-12-01T10:00:00.000Z',
  ...patch,
});

const figures = (version: number, patch: Partial<VersionFigures>): VersionFigures => ({
  model: 'digits',
  version,
  instances: 1,
  requests: 100,
  errors: 0,
  samples: 2500,
  labelled: 2500,
  correct: 2300,
  accuracy: 0.92,
  meanConfidence: 0.9,
  meanLatencyMs: 2,
  errorRate: 0,
  ...patch,
});

describe('rowStats', () => {
  it('takes the top class of each row and counts hits on labelled rows only', () => {
    const probabilities = [0.1, 0.7, 0.2, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6];
    const stats = rowStats(probabilities, [3, 3], [1, 2, null]);
    expect(stats).toEqual({ samples: 3, confidenceSum: expect.closeTo(1.9, 9), labelled: 2, correct: 1 });
  });

  it('counts rows but no confidence for an output that is not [rows, classes]', () => {
    expect(rowStats(new Float32Array(8), [2, 2, 2], [0, 1])).toEqual({
      samples: 2,
      confidenceSum: 0,
      labelled: 0,
      correct: 0,
    });
  });
});

describe('windowFigures', () => {
  it('subtracts each instance’s baseline and sums the instances of the version', () => {
    const a0 = reading('a', 1, { requests: 10, labelled: 100, correct: 90, samples: 100, latencyMsSum: 20 });
    const a1 = reading('a', 1, { requests: 30, labelled: 300, correct: 250, samples: 300, latencyMsSum: 80 });
    const b1 = reading('b', 1, {
      requests: 10,
      errors: 1,
      labelled: 100,
      correct: 100,
      samples: 100,
      latencyMsSum: 10,
    });
    const other = reading('c', 2, { requests: 99, labelled: 99, correct: 0 });
    const w = windowFigures('digits', 1, [a1, b1, other], [a0]);
    expect(w).toMatchObject({ instances: 2, requests: 30, errors: 1, labelled: 300, correct: 260, samples: 300 });
    expect(w.accuracy).toBeCloseTo(260 / 300, 12);
    expect(w.meanLatencyMs).toBeCloseTo(70 / 30, 12);
    expect(w.errorRate).toBeCloseTo(1 / 30, 12);
  });

  it('counts everything of an instance that restarted since the baseline', () => {
    const before = reading('a', 1, { requests: 50, labelled: 50, correct: 50 });
    const restarted = reading('a', 1, { startedAt: '2026-12-01T11:00:00.000Z', requests: 5, labelled: 5, correct: 4 });
    expect(windowFigures('digits', 1, [restarted], [before])).toMatchObject({ requests: 5, labelled: 5, correct: 4 });
  });

  it('has no accuracy, confidence or latency without samples', () => {
    expect(windowFigures('digits', 1, [], [])).toMatchObject({
      instances: 0,
      accuracy: null,
      meanConfidence: null,
      meanLatencyMs: null,
      errorRate: 0,
    });
  });

  it('observe counts a failed request as an error without samples', () => {
    const f = emptyFigures('digits', 1, 'a', 'n');
    observe(f, 3, { samples: 2, confidenceSum: 1.5, labelled: 2, correct: 1 });
    observe(f, 1);
    expect(f).toMatchObject({ requests: 2, errors: 1, samples: 2, labelled: 2, correct: 1, latencyMsSum: 4 });
  });
});

describe('decidePromotion', () => {
  const rules = { ...DEFAULT_PROMOTION_RULES, accuracyTolerancePoints: 1, minLabelledSamples: 500 };

  it('rolls back a canary 3 points worse than stable, saying which figures', () => {
    const d = decidePromotion(
      figures(1, { accuracy: 0.9265, labelled: 2000, correct: 1853 }),
      figures(2, { accuracy: 0.8965, labelled: 2000, correct: 1793 }),
      rules,
    );
    expect(d.outcome).toBe('rolled-back');
    expect(d.checks.find((c) => c.rule === 'accuracy')).toMatchObject({ passed: false });
    expect(d.reason).toContain('accuracy: canary 89.65 %, stable 92.65 %; canary needs ≥ 91.65 %');
  });

  it('promotes a better canary when every check passes', () => {
    const d = decidePromotion(figures(1, { accuracy: 0.9265 }), figures(2, { accuracy: 0.953 }), rules);
    expect(d).toMatchObject({ outcome: 'promoted', reason: 'every check passed' });
    expect(d.checks.map((c) => c.rule)).toEqual(['samples', 'accuracy', 'errors', 'latency']);
  });

  it('promotes within the tolerance but rolls back on errors or latency', () => {
    expect(decidePromotion(figures(1, { accuracy: 0.93 }), figures(2, { accuracy: 0.925 }), rules).outcome).toBe(
      'promoted',
    );
    const errors = decidePromotion(figures(1, {}), figures(2, { errors: 2, errorRate: 0.02 }), rules);
    expect(errors.outcome).toBe('rolled-back');
    expect(errors.reason).toContain('error rate: canary 2.00 % (2 of 100)');
    const slow = decidePromotion(figures(1, { meanLatencyMs: 2 }), figures(2, { meanLatencyMs: 3.5 }), rules);
    expect(slow.outcome).toBe('rolled-back');
    expect(slow.reason).toContain('canary needs ≤ 3.00 ms (stable × 1.5)');
  });

  it('rolls back without enough labelled samples on either side, whatever the accuracy', () => {
    const d = decidePromotion(figures(1, { labelled: 499 }), figures(2, { accuracy: 0.99 }), rules);
    expect(d.outcome).toBe('rolled-back');
    expect(d.reason).toContain('labelled samples: canary 2500, stable 499; each needs 500');
    expect(d.checks.map((c) => c.rule)).not.toContain('accuracy');
  });
});

describe('earlyRollback', () => {
  const rules = DEFAULT_PROMOTION_RULES;
  const labelled = (version: number, n: number, accuracy: number) =>
    figures(version, { labelled: n, correct: Math.round(n * accuracy), accuracy: Math.round(n * accuracy) / n });

  it('rolls back a clearly broken canary once each side has 200 labelled rows, naming the figures', () => {
    const check = earlyRollback(labelled(1, 200, 0.925), labelled(2, 200, 0.4), rules);
    expect(check).toMatchObject({ rule: 'early-accuracy', passed: false });
    expect(check!.detail).toContain(
      'accuracy: canary 40.00 % of 200 labelled, stable 92.50 % of 200: 52.50 points below',
    );
    expect(check!.detail).toContain('beyond the early bound of 5 points by more than 3 standard errors');
    // The same figures with one labelled row too few on a side: keep watching.
    expect(earlyRollback(labelled(1, 199, 0.925), labelled(2, 200, 0.4), rules)).toBeNull();
  });

  it('keeps watching a canary a little over the bound while the samples cannot tell it from noise', () => {
    // 6 points below at 200 a side: one standard error of the gap is ≈ 2.5 points.
    expect(earlyRollback(labelled(1, 200, 0.925), labelled(2, 200, 0.865), rules)).toBeNull();
    // 3 points below (the subtly worse candidate) never ends the window early, however many rows.
    expect(earlyRollback(labelled(1, 40_000, 0.925), labelled(2, 40_000, 0.895), rules)).toBeNull();
    // 9 points below is beyond the bound and the noise (≈ 1 point) at 2,000 a side.
    expect(earlyRollback(labelled(1, 2_000, 0.925), labelled(2, 2_000, 0.835), rules)?.rule).toBe('early-accuracy');
  });

  it('rolls back on errors above stable + 5 % with 20 canary requests, not before', () => {
    const stable = figures(1, { requests: 100, errors: 0, errorRate: 0 });
    const failing = (requests: number, errors: number) =>
      figures(2, { requests, errors, errorRate: errors / requests, labelled: 0, correct: 0, accuracy: null });
    const check = earlyRollback(stable, failing(20, 20), rules);
    expect(check).toMatchObject({ rule: 'early-errors', passed: false });
    expect(check!.detail).toContain(
      'error rate: canary 100.00 % (20 of 20), stable 0.00 % (0 of 100): above stable + 5.00 %',
    );
    expect(earlyRollback(stable, failing(19, 19), rules)).toBeNull();
    // 3 errors in 20 (15 %) may be bad luck; 30 in 150 (20 %) is not.
    expect(earlyRollback(stable, failing(20, 3), rules)).toBeNull();
    expect(earlyRollback(stable, failing(150, 30), rules)?.rule).toBe('early-errors');
  });

  it('is off at a bound of 100 points or an error increase of 1', () => {
    const off = { ...rules, earlyAccuracyPoints: 100, earlyErrorRateIncrease: 1 };
    const broken = figures(2, { labelled: 1000, correct: 0, accuracy: 0, requests: 100, errors: 100, errorRate: 1 });
    expect(earlyRollback(labelled(1, 1000, 0.99), broken, off)).toBeNull();
    expect(earlyRollback(labelled(1, 1000, 0.99), broken, rules)?.rule).toBe('early-accuracy');
  });
});

describe('promotionRules', () => {
  it('fills defaults and names every bad rule by pointer', () => {
    expect(promotionRules(undefined)).toEqual(DEFAULT_PROMOTION_RULES);
    expect(promotionRules({ latencyFactor: 0.5, minLabelledSamples: 1.5, tolerance: 2 } as never, '/x')).toEqual([
      { pointer: '/x/latencyFactor', message: 'must be a factor ≥ 1 (got 0.5)' },
      { pointer: '/x/minLabelledSamples', message: 'must be an integer ≥ 1 (got 1.5)' },
      {
        pointer: '/x/tolerance',
        message:
          'unknown rule; accepted: accuracyTolerancePoints, maxErrorRateIncrease, latencyFactor, minLabelledSamples, earlyAccuracyPoints, earlyMinLabelledSamples, earlyErrorRateIncrease, earlyMinRequests',
      },
    ]);
  });
});
