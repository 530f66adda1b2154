import { seededRandom } from '@yunbian/common';
import { cheapestMeeting, mostAccurateWithin, simulateTiers, sweepTiers, type Candidate } from './tiers-sweep';

/** `count` random probability rows of `classes` classes. */
function randomRows(count: number, classes: number, random: () => number): Float32Array {
  const out = new Float32Array(count * classes);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += out[i * classes + k] = random() ** 3;
    for (let k = 0; k < classes; k++) out[i * classes + k] /= sum;
  }
  return out;
}

const candidate = (reached: number[], accuracy: number): Candidate => ({
  rules: [
    { rule: 'threshold', threshold: reached[1] },
    { rule: 'threshold', threshold: reached[2] },
  ],
  result: { accuracy, reached, answered: [1 - reached[1], reached[1] - reached[2], reached[2]] },
});

describe('the tiers sweep', () => {
  it('gives for every pair of rules the figures simulateTiers gives for that configuration', () => {
    const random = seededRandom(5);
    const n = 300;
    const probabilities = [0, 1, 2].map(() => randomRows(n, 4, random));
    const labels = Array.from({ length: n }, () => Math.floor(random() * 4));
    const thresholds = [0.4, 0.6, 0.8];
    const all = sweepTiers(probabilities, 4, labels, ['threshold', 'margin'], thresholds);
    expect(all).toHaveLength((2 * 3) ** 2);
    // The configurations differ (else the comparison below would prove little).
    expect(new Set(all.map((c) => c.result.reached[2])).size).toBeGreaterThan(5);
    for (const c of all) {
      const expected = simulateTiers(probabilities, 4, labels, c.rules);
      expect(c.result.accuracy).toBeCloseTo(expected.accuracy, 12);
      c.result.answered.forEach((a, t) => expect(a).toBeCloseTo(expected.answered[t], 12));
      c.result.reached.forEach((r, t) => expect(r).toBeCloseTo(expected.reached[t], 12));
    }
  });

  it('refuses other than three tiers', () => {
    expect(() => sweepTiers([new Float32Array(4)], 4, [0])).toThrow(/three tiers' probabilities \(got 1\)/);
  });

  it('picks the cheapest configuration meeting the accuracy within the cloud share', () => {
    const pool = [
      candidate([1, 0.3, 0.12], 0.99), // too many at the cloud
      candidate([1, 0.3, 0.08], 0.95), // not accurate enough
      candidate([1, 0.4, 0.09], 0.97),
      candidate([1, 0.2, 0.09], 0.971), // as few at the cloud, fewer at the edge: this one
      candidate([1, 0.1, 0.1], 0.98),
    ];
    expect(cheapestMeeting(pool, 0.97, 0.1)).toBe(pool[3]);
    expect(cheapestMeeting(pool, 0.975, 0.1)).toBe(pool[4]);
    expect(cheapestMeeting(pool, 0.985, 0.1)).toBeUndefined();
  });

  it('picks the most accurate configuration within the cloud share, the cheapest of equals', () => {
    const pool = [
      candidate([1, 0.3, 0.12], 0.99), // too many at the cloud
      candidate([1, 0.5, 0.05], 0.98),
      candidate([1, 0.4, 0.05], 0.98), // as accurate, fewer at the edge: this one
      candidate([1, 0.1, 0.02], 0.97),
    ];
    expect(mostAccurateWithin(pool, 0.1)).toBe(pool[2]);
    expect(mostAccurateWithin(pool, 0.03)).toBe(pool[3]);
    expect(mostAccurateWithin(pool, 0.01)).toBeUndefined();
  });
});
