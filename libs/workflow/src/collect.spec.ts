import { collectPrivacy, collectRoute, hardExamples, samplesDue, type SampleArrival } from './collect';
import { judgeTier, tierTensor } from './tiers';
import type { TierDefinition } from './definition';

const site = { mode: 'site' as const, site: 'factory-a', runDomain: 'factory-a', hubDomain: 'hub' };
const cloud = { mode: 'cloud' as const, site: 'cloud' };

describe('collectRoute: where hard examples may be kept', () => {
  it('keeps public samples in the cloud collection, in the hub domain from a site engine', () => {
    expect(collectRoute('hard', 'public', site)).toEqual({
      keep: true,
      privacy: 'public',
      scope: 'cloud',
      domain: 'hub',
      subject: 'yb.samples.cloud.hard',
    });
    expect(collectRoute('hard', 'public', cloud)).toEqual({
      keep: true,
      privacy: 'public',
      scope: 'cloud',
      subject: 'yb.samples.cloud.hard',
    });
  });

  it("keeps edge-private samples in the site's own domain and never from the cloud engine", () => {
    expect(collectRoute('hard', 'edge-private', site)).toEqual({
      keep: true,
      privacy: 'edge-private',
      scope: 'factory-a',
      domain: 'factory-a',
      subject: 'yb.samples.factory-a.hard',
    });
    const inCloud = collectRoute('hard', 'edge-private', cloud);
    expect(inCloud.keep).toBe(false);
    expect(inCloud).toMatchObject({ reason: expect.stringContaining('cloud engine') });
    // A site engine without its own domain cannot keep them either.
    expect(collectRoute('hard', 'edge-private', { mode: 'site', site: 'x' }).keep).toBe(false);
  });

  it('never keeps user-private samples, wherever the engine is', () => {
    for (const engine of [site, cloud]) {
      const route = collectRoute('hard', 'user-private', engine);
      expect(route).toMatchObject({ keep: false, privacy: 'user-private' });
    }
  });

  it('takes the more private of the step tier and collect.privacy (a collection cannot lower it)', () => {
    expect(collectPrivacy({ dataset: 'd' }, undefined)).toBe('public');
    expect(collectPrivacy({ dataset: 'd', privacy: 'edge-private' }, 'public')).toBe('edge-private');
    expect(collectPrivacy({ dataset: 'd', privacy: 'public' }, 'edge-private')).toBe('edge-private');
    expect(collectPrivacy({ dataset: 'd', privacy: 'user-private' }, 'edge-private')).toBe('user-private');
  });
});

describe('hardExamples: what is kept of a tiered task', () => {
  const tiers: TierDefinition[] = [
    { service: 'onnx-inference@^1', model: 'small@1', hard: { rule: 'threshold', threshold: 0.6 } },
    { service: 'onnx-inference@^1', model: 'big@1' },
  ];
  // Three samples of two pixels each; tier 0 is sure of sample 0 only.
  const input = {
    inputs: { image: tierTensor([3, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) },
    labels: [0, 1, null],
  };

  it('keeps the samples a tier sent on, with its prediction, the pseudo-label, the label and the row', () => {
    const t0 = judgeTier(
      tiers,
      0,
      { outputs: { p: tierTensor([3, 2], [0.9, 0.1, 0.55, 0.45, 0.45, 0.55]) } },
      undefined,
      3,
      { model: 'small@1' },
    );
    expect(t0.done).toBe(false);
    const t1 = judgeTier(tiers, 1, { outputs: { p: tierTensor([2, 2], [0.2, 0.8, 0.1, 0.9]) } }, t0.progress, 3, {
      model: 'big@1',
    });
    expect(t1.done).toBe(true);
    const where = { dataset: 'd', privacy: 'public' as const, run: 'r', step: 's', item: null, at: 'now' };
    const kept = hardExamples(input, t1.progress, where);
    expect(kept.map((k) => k.row)).toEqual([1, 2]);
    expect(kept[0]).toMatchObject({
      sentBy: { tier: 0, model: 'small@1', prediction: 0, rule: 'threshold', threshold: 0.6 },
      answeredBy: { tier: 1, model: 'big@1', pseudoLabel: 1 },
      label: 1,
      input: { name: 'image', dims: [1, 2], float32: tierTensor([1, 2], [0.3, 0.4]).float32 },
    });
    expect(kept[1].label).toBeUndefined();
    expect(kept[1]).toMatchObject({ sentBy: { prediction: 1 }, answeredBy: { pseudoLabel: 1 } });
    expect(kept[1].input.float32).toBe(tierTensor([1, 2], [0.5, 0.6]).float32);
  });

  it('keeps nothing when no tier sent a sample on', () => {
    const t0 = judgeTier(
      tiers,
      0,
      { outputs: { p: tierTensor([3, 2], [0.9, 0.1, 0.8, 0.2, 0.1, 0.9]) } },
      undefined,
      3,
      {},
    );
    expect(t0.done).toBe(true);
    expect(
      hardExamples(input, t0.progress, { dataset: 'd', privacy: 'public', run: 'r', step: 's', item: null, at: '' }),
    ).toEqual([]);
  });
});

describe('samplesDue: the samples trigger', () => {
  const at = (seq: number, seconds: number, label?: number, answer?: number): SampleArrival => ({
    seq,
    at: seconds * 1000,
    ...(label !== undefined ? { label } : {}),
    ...(answer !== undefined ? { answer } : {}),
  });

  it('fires on count new samples since the last fire', () => {
    const arrivals = [1, 2, 3, 4, 5].map((s) => at(s, s));
    expect(samplesDue(arrivals, { count: 5 }, 10_000)).toMatchObject({
      fire: true,
      reason: 'count',
      fromSeq: 1,
      toSeq: 5,
    });
    expect(samplesDue(arrivals, { count: 5 }, 10_000, 1)).toMatchObject({ fire: false, samples: 4 });
  });

  it('counts only the samples within the window', () => {
    const arrivals = [1, 2, 3, 4, 5].map((s) => at(s, s * 10));
    // At 55 s with a 30 s window: the samples of 30, 40 and 50 s.
    expect(samplesDue(arrivals, { count: 4, windowSeconds: 30 }, 55_000)).toMatchObject({ fire: false, samples: 3 });
    expect(samplesDue(arrivals, { count: 3, windowSeconds: 30 }, 55_000)).toMatchObject({ fire: true, fromSeq: 3 });
  });

  it('fires on accuracy below the level once enough samples are labelled', () => {
    const arrivals = [at(1, 1, 3, 3), at(2, 2, 4, 1), at(3, 3, 5, 0), at(4, 4)];
    const spec = { count: 100, accuracyBelow: 0.5, minLabelled: 3 };
    expect(samplesDue(arrivals, spec, 5_000)).toMatchObject({ fire: true, reason: 'accuracy', labelled: 3 });
    expect(samplesDue(arrivals, spec, 5_000).accuracy).toBeCloseTo(1 / 3);
    expect(samplesDue(arrivals, { ...spec, minLabelled: 4 }, 5_000).fire).toBe(false);
    expect(samplesDue(arrivals, { ...spec, accuracyBelow: 0.3 }, 5_000).fire).toBe(false);
  });
});
