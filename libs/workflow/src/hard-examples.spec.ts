import { judgeSample, type SampleRow } from './hard-examples';

const probs = (...values: number[]): SampleRow => ({ kind: 'probabilities', values });
/** Boxes `[x1, y1, x2, y2, score, label]` with these scores. */
const boxes = (...scores: number[]): SampleRow => ({
  kind: 'detections',
  values: scores.flatMap((s, i) => [0, 0, 10, 10, s, i]),
  width: 6,
});

describe('hard-example rules (values computed by hand)', () => {
  it('threshold on probabilities: max p < t, Sedna default 0.5', () => {
    expect(judgeSample(undefined, probs(0.7, 0.2, 0.1))).toEqual({
      rule: 'threshold',
      score: 0.7,
      threshold: 0.5,
      hard: false,
    });
    expect(judgeSample({ threshold: 0.8 }, probs(0.7, 0.2, 0.1)).hard).toBe(true);
    expect(judgeSample({ threshold: 0.7 }, probs(0.7, 0.2, 0.1)).hard).toBe(false);
  });

  it('threshold on detections: mean box score < t; no boxes is not hard', () => {
    expect(judgeSample({ rule: 'threshold' }, boxes(0.9, 0.3))).toEqual({
      rule: 'threshold',
      score: 0.6,
      threshold: 0.5,
      hard: false,
    });
    expect(judgeSample({ threshold: 0.7 }, boxes(0.9, 0.3)).hard).toBe(true);
    expect(judgeSample({ threshold: 0.9 }, boxes()).hard).toBe(false);
  });

  it('crossEntropy: 1 + Σ p ln p / ln K < t', () => {
    // Uniform over 2 classes: 1 + (2 · 0.5 ln 0.5) / ln 2 = 0.
    expect(judgeSample({ rule: 'crossEntropy' }, probs(0.5, 0.5))).toEqual({
      rule: 'crossEntropy',
      score: 0,
      threshold: 0.5,
      hard: true,
    });
    // Certain: 1 + 0 (0 · ln 0 counts as 0).
    expect(judgeSample({ rule: 'crossEntropy' }, probs(1, 0, 0)).score).toBe(1);
    // 0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1 = −0.801819; / ln 3 = −0.729847; + 1 = 0.270153.
    const v = judgeSample({ rule: 'crossEntropy' }, probs(0.7, 0.2, 0.1));
    expect(v.score).toBeCloseTo(0.270153, 5);
    expect(v.hard).toBe(true);
    expect(judgeSample({ rule: 'crossEntropy', threshold: 0.25 }, probs(0.7, 0.2, 0.1)).hard).toBe(false);
  });

  it('margin: top-1 − top-2 < t', () => {
    expect(judgeSample({ rule: 'margin' }, probs(0.1, 0.6, 0.3))).toEqual({
      rule: 'margin',
      score: 0.3,
      threshold: 0.5,
      hard: true,
    });
    // 0.75 − 0.25 = 0.5 exactly: not below 0.5.
    expect(judgeSample({ rule: 'margin' }, probs(0.25, 0.75)).hard).toBe(false);
    expect(judgeSample({ rule: 'margin', threshold: 0.2 }, probs(0.1, 0.6, 0.3)).hard).toBe(false);
  });

  it('ibt: share of boxes with score ≤ box is ≥ 1 − t_img', () => {
    // Scores 0.9, 0.3, 0.4, 0.8 with box 0.5: 2 of 4 unsure = 0.5 ≥ 1 − 0.5.
    expect(judgeSample({ rule: 'ibt' }, boxes(0.9, 0.3, 0.4, 0.8))).toEqual({
      rule: 'ibt',
      score: 0.5,
      threshold: 0.5,
      hard: true,
    });
    expect(judgeSample({ rule: 'ibt', threshold: 0.4 }, boxes(0.9, 0.3, 0.4, 0.8))).toEqual({
      rule: 'ibt',
      score: 0.5,
      threshold: 0.6,
      hard: false,
    });
    // A box exactly at the box threshold counts as unsure: 3 of 4 ≥ 0.5.
    expect(judgeSample({ rule: 'ibt', box: 0.8 }, boxes(0.9, 0.3, 0.4, 0.8)).score).toBe(0.75);
    expect(judgeSample({ rule: 'ibt' }, boxes()).hard).toBe(false);
  });

  it('says which rules read which output when a rule does not fit it', () => {
    expect(() => judgeSample({ rule: 'ibt' }, probs(0.5, 0.5))).toThrow(
      'hard-example rule ibt does not read probabilities; for probabilities use threshold or crossEntropy or margin',
    );
    expect(() => judgeSample({ rule: 'margin' }, boxes(0.5))).toThrow('for detections use threshold or ibt');
    expect(() => judgeSample({ rule: 'crossEntropy' }, probs(1))).toThrow('at least 2 classes');
  });
});
