import { latencyFigure, profileRequestProblem, sampleFeed } from './profile-figures';

describe('profile figures', () => {
  it('gives median, mean and p90 of timings', () => {
    expect(latencyFigure(1, [5, 1, 3, 2, 4, 100, 6, 7, 8, 9])).toEqual({
      batch: 1,
      medianMs: 5.5,
      meanMs: 14.5,
      p90Ms: 9,
      runs: 10,
    });
    expect(latencyFigure(8, [2, 1, 3])).toMatchObject({ medianMs: 2, p90Ms: 3 });
  });

  it('fills a batch of the declared input shape, the batch dimension dynamic', () => {
    const feed = sampleFeed('m', [{ name: 'image', type: 'float32', shape: ['batch', 1, 28, 28] }], 4);
    expect(feed.image.dims).toEqual([4, 1, 28, 28]);
    expect(feed.image.data.length).toBe(4 * 784);
    expect(Math.max(...feed.image.data)).toBeLessThan(1);
  });

  it('says which input it cannot fill', () => {
    expect(() => sampleFeed('m', [{ name: 'x', type: 'float32', shape: ['b', 'h'] }], 1)).toThrow(
      'm: input x has a dynamic dimension 1 ("h"); only the first (batch) may be dynamic',
    );
    expect(() => sampleFeed('m', [{ name: 'ids', type: 'int64', shape: [1] }], 1)).toThrow('m: input ids is int64');
    expect(() => sampleFeed('m', [{ name: 'x', type: 'float32', shape: [1, 3] }], 8)).toThrow(
      'm: input x has a fixed batch of 1, not 8',
    );
  });

  it('bounds requests', () => {
    const target = { label: 'a', bucket: 'b', object: 'c', sha256: 'd' };
    expect(profileRequestProblem({ models: [target], batchSizes: [1, 64], runs: { '1': 100 } })).toBeUndefined();
    expect(profileRequestProblem({ models: [], batchSizes: [1], runs: {} })).toBe('models must list 1 to 4 objects');
    expect(profileRequestProblem({ models: [target], batchSizes: [0], runs: {} })).toBe(
      'batch sizes must be integers 1-1024 (got 0)',
    );
    expect(profileRequestProblem({ models: [target], batchSizes: [1], runs: { '1': 10_000 } })).toBe(
      'runs for batch 1 must be 1-5000 (got 10000)',
    );
  });

  it('bounds per-node time requests', () => {
    const target = { label: 'a', bucket: 'b', object: 'c', sha256: 'd' };
    const base = { models: [target], batchSizes: [], runs: {} };
    expect(profileRequestProblem({ ...base, nodeTimes: { inputShape: { x: [1, 3, 8, 8] }, runs: 5 } })).toBeUndefined();
    expect(profileRequestProblem({ ...base, nodeTimes: { inputShape: {}, runs: 0 } })).toBe(
      'nodeTimes.runs must be 1-100 (got 0)',
    );
    expect(profileRequestProblem({ ...base, nodeTimes: { inputShape: { x: [1, -1] }, runs: 3 } })).toBe(
      'nodeTimes.inputShape.x must list positive integers (got [1,-1])',
    );
  });
});
