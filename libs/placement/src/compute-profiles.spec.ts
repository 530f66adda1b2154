import { ComputeProfiles } from './compute-profiles';
import { PlacementInputError } from './errors';

describe('ComputeProfiles', () => {
  const profiles = () =>
    new ComputeProfiles({ defaultMs: 100, smoothing: 0.3 }).declare('ocr', {
      byTagMs: { gpu: 20, npu: 50 },
      defaultMs: 400,
    });

  it('falls back from observed, to the hardware class, to the service default, to the global default', () => {
    const p = profiles();
    p.record('ocr@1.0.0', 'edge-a', 75);
    expect(p.estimate('ocr@1.0.0', 'edge-a', ['npu'])).toEqual({ ms: 75, source: 'observed', tag: undefined });
    expect(p.estimate('ocr@1.0.0', 'edge-b', ['npu'])).toEqual({ ms: 50, source: 'declared-tag', tag: 'npu' });
    expect(p.estimate('ocr@1.0.0', 'edge-c', ['camera'])).toEqual({
      ms: 400,
      source: 'declared-service',
      tag: undefined,
    });
    expect(p.estimate('resize@1.0.0', 'edge-a', ['gpu'])).toEqual({ ms: 100, source: 'default', tag: undefined });
  });

  it('takes the fastest declared class when a node has several', () => {
    expect(profiles().estimate('ocr@2.0.0', 'cloud-1', ['npu', 'gpu', 'x86_64'])).toMatchObject({ ms: 20, tag: 'gpu' });
  });

  it('prefers a declaration for the exact version over the one for the name', () => {
    const p = profiles().declare('ocr@2.0.0', { defaultMs: 90 });
    expect(p.estimate('ocr@2.0.0', 'n', [])).toMatchObject({ ms: 90, source: 'declared-service' });
    expect(p.estimate('ocr@1.0.0', 'n', [])).toMatchObject({ ms: 400 });
  });

  it('smooths observations with an exponentially weighted moving average', () => {
    const p = profiles();
    expect(p.record('ocr@1.0.0', 'n', 100)).toBe(100);
    expect(p.record('ocr@1.0.0', 'n', 200)).toBeCloseTo(130, 10); // 0.3 × 200 + 0.7 × 100
    expect(p.record('ocr@1.0.0', 'n', 130)).toBeCloseTo(130, 10);
    expect(p.observationCount('ocr@1.0.0', 'n')).toBe(3);
    // Observations are per version: another version still uses the declaration.
    expect(p.estimate('ocr@1.1.0', 'n', [])).toMatchObject({ source: 'declared-service' });
  });

  it('forgets what a node observed', () => {
    const p = profiles();
    p.record('ocr@1.0.0', 'n', 10);
    p.forgetNode('n');
    expect(p.estimate('ocr@1.0.0', 'n', ['gpu'])).toMatchObject({ ms: 20, source: 'declared-tag' });
  });

  it('rejects times that are not usable, naming the field', () => {
    expect(() => profiles().record('ocr@1.0.0', 'n', NaN)).toThrow(PlacementInputError);
    expect(() => profiles().declare('x', { byTagMs: { gpu: 0 } })).toThrow(
      'compute profile of x: byTagMs.gpu must be a finite number of milliseconds above 0 (got 0)',
    );
    expect(() => new ComputeProfiles({ smoothing: 0 })).toThrow('smoothing must be above 0 and at most 1 (got 0)');
  });
});
