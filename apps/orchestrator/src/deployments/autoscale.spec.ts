import { autoscaleStep, type ScaleState } from './autoscale';

const bounds = { min: 1, max: 5, autoscale: { queueDepth: 2, scaleUpAfterMs: 1_000, scaleDownAfterMs: 10_000 } };

/** Feeds one observation a second and returns the replica counts seen. */
function drive(loads: { ready: number; queued: number; latencyMs?: number }[], policy = bounds): number[] {
  let state: ScaleState | undefined;
  return loads.map((load, second) => {
    state = autoscaleStep(state, policy, load, second * 1_000);
    return state.replicas;
  });
}

describe('autoscaleStep', () => {
  it('starts at min and holds while nothing is ready to judge by', () => {
    expect(
      drive([
        { ready: 0, queued: 0 },
        { ready: 0, queued: 0 },
      ]),
    ).toEqual([1, 1]);
  });

  it('grows only after the target has been exceeded for scaleUpAfterMs, in proportion to the excess', () => {
    // 1 replica with 6 waiting (3× the target of 2): after a second, 3 replicas.
    expect(
      drive([
        { ready: 1, queued: 6 },
        { ready: 1, queued: 6 },
      ]),
    ).toEqual([1, 3]);
  });

  it('ignores a single spike (the excess must last)', () => {
    expect(
      drive([
        { ready: 1, queued: 9 },
        { ready: 1, queued: 0 },
        { ready: 1, queued: 9 },
      ]),
    ).toEqual([1, 1, 1]);
  });

  it('never goes beyond max or below min', () => {
    const counts = drive(Array.from({ length: 6 }, () => ({ ready: 3, queued: 100 })));
    expect(Math.max(...counts)).toBe(5);
    const down = drive(Array.from({ length: 40 }, () => ({ ready: 1, queued: 0 })));
    expect(Math.min(...down)).toBe(1);
  });

  it('holds within the hysteresis band: load between half the target and the target changes nothing', () => {
    let state: ScaleState = { replicas: 3 };
    for (let s = 0; s < 60; s++) state = autoscaleStep(state, bounds, { ready: 3, queued: 1.5 }, s * 1_000);
    expect(state.replicas).toBe(3);
  });

  it('shrinks by one after scaleDownAfterMs below half of the target, and waits again before the next', () => {
    let state: ScaleState = { replicas: 4 };
    const seen: number[] = [];
    for (let s = 0; s <= 21; s++) {
      state = autoscaleStep(state, bounds, { ready: state.replicas, queued: 0.2 }, s * 1_000);
      seen.push(state.replicas);
    }
    expect(seen[9]).toBe(4);
    expect(seen[10]).toBe(3);
    expect(seen[20]).toBe(3);
    expect(seen[21]).toBe(2);
  });

  it('scales on latency too; the worse of the two targets decides', () => {
    const policy = { min: 1, max: 4, autoscale: { queueDepth: 10, latencyMs: 100, scaleUpAfterMs: 0 } };
    const up = autoscaleStep({ replicas: 2 }, policy, { ready: 2, queued: 0, latencyMs: 250 }, 0);
    expect(up.replicas).toBe(4); // ceil(2 × 2.5) = 5, capped at max
    const unreported = autoscaleStep({ replicas: 2 }, policy, { ready: 2, queued: 1 }, 0);
    expect(unreported.replicas).toBe(2);
  });

  it('brings a count outside new bounds back inside at once', () => {
    expect(autoscaleStep({ replicas: 9 }, bounds, { ready: 0, queued: 0 }, 0).replicas).toBe(5);
  });
});
