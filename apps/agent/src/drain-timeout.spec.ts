import { DEFAULT_DRAIN_TIMEOUT_MS, MAX_DRAIN_TIMEOUT_MS } from '@yunbian/contracts';
import { effectiveDrainTimeoutMs } from './drain-timeout';

describe('effectiveDrainTimeoutMs', () => {
  it('keeps a drain in range', () => {
    expect(effectiveDrainTimeoutMs(0)).toBe(0);
    expect(effectiveDrainTimeoutMs(5_000)).toBe(5_000);
  });

  it('clamps what would overflow setTimeout (2^31 ms and more) to the maximum', () => {
    expect(effectiveDrainTimeoutMs(2 ** 31)).toBe(MAX_DRAIN_TIMEOUT_MS);
    expect(effectiveDrainTimeoutMs(1e20)).toBe(MAX_DRAIN_TIMEOUT_MS);
    expect(effectiveDrainTimeoutMs(Infinity)).toBe(DEFAULT_DRAIN_TIMEOUT_MS);
    // With the agent's 2 s margin for the kill timer, still a valid timer.
    expect(MAX_DRAIN_TIMEOUT_MS + 2_000).toBeLessThan(2 ** 31 - 1);
  });

  it('gives the default to absent or meaningless values', () => {
    for (const v of [undefined, -1, NaN, '100', null])
      expect(effectiveDrainTimeoutMs(v)).toBe(DEFAULT_DRAIN_TIMEOUT_MS);
  });
});
