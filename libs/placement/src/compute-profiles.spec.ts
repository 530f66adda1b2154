import { ComputeProfiles } from './compute-profiles';
import { PlacementInputError } from './errors';
import { cpuSlowdown, effectiveCpu, nodeClassKey } from './node-class';

describe('ComputeProfiles', () => {
  const profiles = () =>
    new ComputeProfiles({ defaultMs: 100, smoothing: 0.3 }).declare('ocr', {
      byTagMs: { gpu: 20, npu: 50 },
      defaultMs: 400,
    });

  it('falls back from observed, to the hardware class, to the service default, to the global default', () => {
    const p = profiles();
    p.record('ocr@1.0.0', 'edge-a', 75);
    expect(p.estimate('ocr@1.0.0', 'edge-a', ['npu'])).toMatchObject({ ms: 75, source: 'observed', tag: undefined });
    expect(p.estimate('ocr@1.0.0', 'edge-b', ['npu'])).toMatchObject({ ms: 50, source: 'declared-tag', tag: 'npu' });
    expect(p.estimate('ocr@1.0.0', 'edge-c', ['camera'])).toMatchObject({
      ms: 400,
      source: 'declared-service',
      tag: undefined,
    });
    expect(p.estimate('resize@1.0.0', 'edge-a', ['gpu'])).toMatchObject({ ms: 100, source: 'default', tag: undefined });
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

  it('forgets what a node class observed', () => {
    const p = profiles();
    p.record('ocr@1.0.0', 'n', 10);
    p.forget('n');
    expect(p.estimate('ocr@1.0.0', 'n', ['gpu'])).toMatchObject({ ms: 20, source: 'declared-tag' });
  });

  it('hands its learnt times to another process, which estimates the same from them', () => {
    const p = profiles();
    p.record('ocr@1.0.0', 'edge-a', 100);
    p.record('ocr@1.0.0', 'edge-a', 200);
    const copy = JSON.parse(JSON.stringify(p.observations()));
    const q = profiles();
    q.record('ocr@1.0.0', 'edge-b', 60); // its own observation is kept
    expect(q.restore([...copy, { service: 'ocr@1.0.0', nodeClass: 'x', ms: -1, count: 1 }, null])).toBe(1);
    expect(q.estimate('ocr@1.0.0', 'edge-a', [])).toEqual(p.estimate('ocr@1.0.0', 'edge-a', []));
    expect(q.observationCount('ocr@1.0.0', 'edge-a')).toBe(2);
    expect(q.estimate('ocr@1.0.0', 'edge-b', [])).toMatchObject({ ms: 60, source: 'observed' });
  });

  it('rejects times that are not usable, naming the field', () => {
    expect(() => profiles().record('ocr@1.0.0', 'n', NaN)).toThrow(PlacementInputError);
    expect(() => profiles().declare('x', { byTagMs: { gpu: 0 } })).toThrow(
      'compute profile of x: byTagMs.gpu must be a finite number of milliseconds above 0 (got 0)',
    );
    expect(() => new ComputeProfiles({ smoothing: 0 })).toThrow('smoothing must be above 0 and at most 1 (got 0)');
  });

  describe('per node class and CPU share', () => {
    const device = { arch: 'arm64', tags: ['camera'], cpu: 0.25 };
    const edge = { arch: 'arm64', tags: ['camera'], cpu: 1 };

    it('scales declared times by the CPU an instance gets, not beyond one core', () => {
      const p = profiles();
      expect(p.estimate('ocr@1.0.0', nodeClassKey(device), device.tags, 0.25)).toMatchObject({
        ms: 1600,
        source: 'declared-service',
        cpuSlowdown: 4,
      });
      expect(p.estimate('ocr@1.0.0', 'x', ['gpu'], 0.5)).toMatchObject({ ms: 40, source: 'declared-tag' });
      expect(p.estimate('ocr@1.0.0', 'x', [], 1).ms).toBe(400);
      // Single-threaded: four cores do not make one request faster.
      expect(p.estimate('ocr@1.0.0', 'x', [], 4).ms).toBe(400);
      expect(p.estimate('resize@1.0.0', 'x', [], 0.5)).toMatchObject({ ms: 200, source: 'default' });
      expect(cpuSlowdown(undefined)).toBe(1);
    });

    it('keeps what was learnt on one class out of another', () => {
      const p = profiles();
      p.record('ocr@1.0.0', nodeClassKey(device), 1900);
      expect(p.estimate('ocr@1.0.0', nodeClassKey(device), device.tags, 0.25)).toMatchObject({
        ms: 1900,
        source: 'observed',
      });
      // Same arch and tags with a whole core: still the declaration, not the device's 1900 ms.
      expect(p.estimate('ocr@1.0.0', nodeClassKey(edge), edge.tags, 1)).toMatchObject({
        ms: 400,
        source: 'declared-service',
      });
      p.record('ocr@1.0.0', nodeClassKey(edge), 380);
      expect(p.estimate('ocr@1.0.0', nodeClassKey(device), device.tags, 0.25).ms).toBe(1900);
      expect(p.observationCount('ocr@1.0.0', nodeClassKey(edge))).toBe(1);
    });

    it('names a class by arch, sorted tags and CPU', () => {
      expect(nodeClassKey({ arch: 'x64', tags: ['npu', 'camera'], cpu: 0.25 })).toBe('x64|camera,npu|0.25');
      expect(nodeClassKey({ arch: 'x64', tags: ['camera', 'npu'], cpu: 0.25 })).toBe('x64|camera,npu|0.25');
      expect(nodeClassKey({ tags: [], cpu: 2 })).toBe('?||2');
      expect(effectiveCpu({ cpuCores: 4, limits: { cpu: 0.5 } }, { cpu: 0.25 })).toBe(0.25);
      expect(effectiveCpu({ cpuCores: 4, limits: { cpu: 0.5 } }, { cpu: 2 })).toBe(0.5);
      expect(effectiveCpu({ cpuCores: 2 }, { cpu: 8 })).toBe(2);
      expect(effectiveCpu({ cpuCores: 2 })).toBe(2);
    });
  });
});
