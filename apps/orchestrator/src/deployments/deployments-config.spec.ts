import { loadDeploymentsConfig } from './deployments-config';

describe('loadDeploymentsConfig', () => {
  it('has defaults and reads overrides', () => {
    expect(loadDeploymentsConfig({})).toEqual({
      replaceGraceMs: 5_000,
      siteCutWindowMs: 5_000,
      reconcileIntervalMs: 2_000,
    });
    expect(loadDeploymentsConfig({ YUNBIAN_REPLACE_GRACE_MS: '1500' }).replaceGraceMs).toBe(1_500);
  });

  it('names every bad variable at once', () => {
    expect(() => loadDeploymentsConfig({ YUNBIAN_REPLACE_GRACE_MS: 'soon', YUNBIAN_RECONCILE_MS: '-1' })).toThrow(
      /YUNBIAN_REPLACE_GRACE_MS="soon" must be a positive integer\n {2}environment variable YUNBIAN_RECONCILE_MS="-1"/,
    );
  });
});
