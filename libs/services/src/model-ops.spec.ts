import { actorOf, classificationReport, median, quietFor, remainingMs } from './model-ops';

describe('model-ops helpers', () => {
  it('names the run an engine call acts for', () => {
    expect(actorOf('workflow:promote', 'r-1a2b:canary:2')).toBe('workflow:promote/run:r-1a2b');
    expect(actorOf('workflow:promote', 'r-1a2b:items[3]:1')).toBe('workflow:promote/run:r-1a2b');
    expect(actorOf('release-bot')).toBe('release-bot');
  });

  it('reports accuracy, per-class accuracy and cross-entropy', () => {
    const rows = [
      [0.9, 0.1, 0],
      [0.2, 0.8, 0],
      [0.5, 0.5, 0],
      [0.1, 0.1, 0.8],
    ];
    const r = classificationReport(rows, [0, 1, 1, 0], 3);
    expect(r.accuracy).toBe(0.5);
    expect(r.perClass).toEqual([0.5, 0.5, null]);
    expect(r.loss).toBeCloseTo(-(Math.log(0.9) + Math.log(0.8) + Math.log(0.5) + Math.log(0.1)) / 4, 12);
    expect(() => classificationReport(rows, [0], 3)).toThrow('4 predictions for 1 labels');
  });

  it('keeps one window across attempts and takes medians', () => {
    const at = '2026-12-01T10:00:00.000Z';
    expect(remainingMs(at, 30_000, Date.parse(at) + 10_000)).toBe(20_000);
    expect(remainingMs(at, 30_000, Date.parse(at) + 40_000)).toBe(0);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it('calls a version quiet once its request count has stood still long enough', () => {
    const at = (ms: number, requests: number) => ({ at: ms, requests });
    expect(quietFor([], 2_000)).toBe(false);
    expect(quietFor([at(0, 5)], 2_000)).toBe(false);
    expect(quietFor([at(0, 5), at(1_000, 5), at(2_000, 5)], 2_000)).toBe(true);
    // A request answered at 1.5 s starts the quiet time again.
    expect(quietFor([at(0, 5), at(1_500, 6), at(3_000, 6)], 2_000)).toBe(false);
    expect(quietFor([at(0, 5), at(1_500, 6), at(3_000, 6), at(3_600, 6)], 2_000)).toBe(true);
  });
});
