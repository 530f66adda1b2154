import type { PromotionCheck, PromotionOutcome, PromotionRules, VersionFigures } from '@yunbian/contracts';

export const DEFAULT_PROMOTION_RULES: Required<PromotionRules> = {
  accuracyTolerancePoints: 1,
  maxErrorRateIncrease: 0,
  latencyFactor: 1.5,
  minLabelledSamples: 200,
  earlyAccuracyPoints: 5,
  earlyMinLabelledSamples: 200,
  earlyErrorRateIncrease: 0.05,
  earlyMinRequests: 20,
};

/** The rules with their defaults, or every problem with its JSON pointer (under `at`). */
export function promotionRules(
  rules: PromotionRules | undefined,
  at = '/rules',
): Required<PromotionRules> | { pointer: string; message: string }[] {
  const merged = { ...DEFAULT_PROMOTION_RULES, ...(rules ?? {}) };
  const issues: { pointer: string; message: string }[] = [];
  const check = (key: keyof PromotionRules, ok: (v: number) => boolean, accepted: string) => {
    const v = merged[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
      issues.push({ pointer: `${at}/${key}`, message: `must be ${accepted} (got ${JSON.stringify(v)})` });
  };
  check('accuracyTolerancePoints', (v) => v >= 0 && v <= 100, 'a number of points from 0 to 100');
  check('maxErrorRateIncrease', (v) => v >= 0 && v <= 1, 'a share from 0 to 1');
  check('latencyFactor', (v) => v >= 1, 'a factor ≥ 1');
  check('minLabelledSamples', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  check('earlyAccuracyPoints', (v) => v >= 0 && v <= 100, 'a number of points from 0 to 100 (100: off)');
  check('earlyMinLabelledSamples', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  check('earlyErrorRateIncrease', (v) => v >= 0 && v <= 1, 'a share from 0 to 1 (1: off)');
  check('earlyMinRequests', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1');
  for (const key of Object.keys(rules ?? {}))
    if (!(key in DEFAULT_PROMOTION_RULES))
      issues.push({
        pointer: `${at}/${key}`,
        message: `unknown rule; accepted: ${Object.keys(DEFAULT_PROMOTION_RULES).join(', ')}`,
      });
  return issues.length ? issues : merged;
}

const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)} %`);
const ms = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)} ms`);

/**
 * Compares a canary's live figures with stable's over one window. Promoted only when every
 * check passes: both sides have at least `minLabelledSamples` labelled samples, canary
 * accuracy ≥ stable − tolerance, canary error rate ≤ stable's + the allowed increase, canary
 * mean latency ≤ stable's × factor. Anything else — too few samples included — rolls back:
 * stable is what is known to work.
 */
export function decidePromotion(
  stable: VersionFigures,
  canary: VersionFigures,
  rules: Required<PromotionRules>,
): { outcome: PromotionOutcome; reason: string; checks: PromotionCheck[] } {
  const checks: PromotionCheck[] = [];
  const enough = stable.labelled >= rules.minLabelledSamples && canary.labelled >= rules.minLabelledSamples;
  checks.push({
    rule: 'samples',
    passed: enough,
    detail: `labelled samples: canary ${canary.labelled}, stable ${stable.labelled}; each needs ${rules.minLabelledSamples}`,
  });
  if (enough) {
    const floor = stable.accuracy! - rules.accuracyTolerancePoints / 100;
    checks.push({
      rule: 'accuracy',
      passed: canary.accuracy! >= floor - 1e-12,
      detail: `accuracy: canary ${pct(canary.accuracy)}, stable ${pct(stable.accuracy)}; canary needs ≥ ${pct(floor)} (stable − ${rules.accuracyTolerancePoints} points)`,
    });
  }
  const errorCeiling = stable.errorRate + rules.maxErrorRateIncrease;
  checks.push({
    rule: 'errors',
    passed: canary.errorRate <= errorCeiling + 1e-12,
    detail: `error rate: canary ${pct(canary.errorRate)} (${canary.errors} of ${canary.requests}), stable ${pct(stable.errorRate)} (${stable.errors} of ${stable.requests}); canary needs ≤ ${pct(errorCeiling)}`,
  });
  if (canary.meanLatencyMs !== null && stable.meanLatencyMs !== null) {
    const ceiling = stable.meanLatencyMs * rules.latencyFactor;
    checks.push({
      rule: 'latency',
      passed: canary.meanLatencyMs <= ceiling,
      detail: `mean latency: canary ${ms(canary.meanLatencyMs)}, stable ${ms(stable.meanLatencyMs)}; canary needs ≤ ${ms(ceiling)} (stable × ${rules.latencyFactor})`,
    });
  } else {
    checks.push({
      rule: 'latency',
      passed: false,
      detail: `mean latency: canary ${ms(canary.meanLatencyMs)}, stable ${ms(stable.meanLatencyMs)}; both sides need requests in the window`,
    });
  }
  const failed = checks.filter((c) => !c.passed);
  return failed.length
    ? { outcome: 'rolled-back', reason: failed.map((c) => c.detail).join('; '), checks }
    : { outcome: 'promoted', reason: 'every check passed', checks };
}

/**
 * Standard errors an early rule's gap must clear its bound by: by chance about 1 in 740 at one
 * look. A bound alone is not enough: with 200 labelled rows a side, one standard error of the
 * accuracy gap is ≈ 2.5 points, so a canary truly 3 points worse would cross a 5-point bound
 * by chance at one look in five, and the watch looks every few seconds.
 */
export const EARLY_Z = 3;

/** Standard error of a share `hits / n`, with one hit and one miss added (finite at 0 and at n). */
function shareError(hits: number, n: number): number {
  const p = (hits + 1) / (n + 2);
  return Math.sqrt((p * (1 - p)) / (n + 2));
}

const points = (v: number) => `${(100 * v).toFixed(2)} points`;

/**
 * Whether a canary is so clearly beyond a hard bound that the window need not run on: its
 * accuracy is more than `earlyAccuracyPoints` below stable's, with at least
 * `earlyMinLabelledSamples` labelled rows a side, or its error rate is more than
 * `earlyErrorRateIncrease` above stable's, with at least `earlyMinRequests` canary requests —
 * each gap beyond its bound by more than `EARLY_Z` standard errors. Answers the failed check
 * with its figures, or null to keep watching. It never promotes: only the whole window does.
 */
export function earlyRollback(
  stable: VersionFigures,
  canary: VersionFigures,
  rules: Required<PromotionRules>,
): PromotionCheck | null {
  const labelled = Math.min(stable.labelled, canary.labelled);
  if (labelled >= rules.earlyMinLabelledSamples && rules.earlyAccuracyPoints < 100) {
    const gap = stable.accuracy! - canary.accuracy!;
    const noise = Math.hypot(shareError(stable.correct, stable.labelled), shareError(canary.correct, canary.labelled));
    if (gap - EARLY_Z * noise > rules.earlyAccuracyPoints / 100)
      return {
        rule: 'early-accuracy',
        passed: false,
        detail: `accuracy: canary ${pct(canary.accuracy)} of ${canary.labelled} labelled, stable ${pct(stable.accuracy)} of ${stable.labelled}: ${points(gap)} below, beyond the early bound of ${rules.earlyAccuracyPoints} points by more than ${EARLY_Z} standard errors (${points(noise)} each)`,
      };
  }
  if (canary.requests >= rules.earlyMinRequests && rules.earlyErrorRateIncrease < 1) {
    const gap = canary.errorRate - stable.errorRate;
    const noise = Math.hypot(shareError(canary.errors, canary.requests), shareError(stable.errors, stable.requests));
    if (gap - EARLY_Z * noise > rules.earlyErrorRateIncrease)
      return {
        rule: 'early-errors',
        passed: false,
        detail: `error rate: canary ${pct(canary.errorRate)} (${canary.errors} of ${canary.requests}), stable ${pct(stable.errorRate)} (${stable.errors} of ${stable.requests}): above stable + ${pct(rules.earlyErrorRateIncrease)} by more than ${EARLY_Z} standard errors (${points(noise)} each)`,
      };
  }
  return null;
}
