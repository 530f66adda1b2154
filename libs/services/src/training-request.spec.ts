import type { TrainingRequest } from '@yunbian/contracts';
import {
  checkpointKeyOf,
  hyperParameters,
  parseModelRef,
  resolveDigitsData,
  trainingRequestIssues,
} from './training-request';

const valid: TrainingRequest = {
  base: 'digits-cloud@1',
  training: [{ digits: { part: 'edge', share: { index: 1, of: 2 }, shift: 'tilted-soft' } }],
  validation: { digits: { part: 'heldOut', shift: 'tilted-soft' } },
  register: 'digits-site-b',
};

describe('training requests', () => {
  it('accept a fine-tune of a registered version on a site share, and resolve its data to absolute positions', () => {
    expect(trainingRequestIssues(valid)).toEqual([]);
    expect(resolveDigitsData({ part: 'edge', share: { index: 1, of: 2 }, shift: 'tilted-soft' }, '/x')).toEqual({
      from: 7_000,
      to: 8_000,
      shift: { rotateDeg: 25, blurSigma: 0.8 },
      shiftName: 'tilted-soft',
      privacy: 'edge-private',
      label: 'digits edge [7000, 8000) shift tilted-soft',
    });
    expect(resolveDigitsData({ part: 'public', from: 100, to: 600 }, '/x')).toMatchObject({
      from: 100,
      to: 600,
      privacy: 'public',
    });
  });

  it('refuse what they cannot train, naming the field and what is accepted', () => {
    const problems = (r: Partial<TrainingRequest>) =>
      trainingRequestIssues({ ...valid, ...r } as TrainingRequest).map((i) => `${i.pointer} ${i.message}`);
    expect(problems({ architecture: 'edge' })[0]).toContain('/base give exactly one of base');
    expect(problems({ base: undefined })[0]).toContain('/base give exactly one of base');
    expect(problems({ base: 'digits@0' })[0]).toContain('"digits@0" is not name or name@version');
    expect(problems({ training: [{ digits: { part: 'edge', from: 0, to: 5_000 } }] })[0]).toContain(
      '/training/0/digits/from from and to must select 0 ≤ from < to ≤ 2000 within the edge part',
    );
    expect(problems({ training: [{ digits: { part: 'public', share: { index: 0, of: 2 } } }] })[0]).toContain(
      'shares divide the edge part among sites, not public',
    );
    expect(problems({ training: [{ digits: { part: 'edge', share: { index: 2, of: 2 } } }] })[0]).toContain(
      '0 ≤ index < of ≤ 100',
    );
    expect(problems({ validation: { digits: { part: 'heldOut', shift: 'fisheye' } } })[0]).toContain(
      '/validation/digits/shift unknown shift "fisheye"; named shifts: tilted-soft',
    );
    expect(problems({ validation: { digits: { part: 'test' as 'heldOut' } } })[0]).toContain(
      '/validation/digits/part must be one of public, edge, heldOut',
    );
    expect(problems({ training: [{ nothing: 1 } as never] })[0]).toContain(
      '/training/0 must be { dataset: <registered name> }, { samples: { dataset: <collection>, site? } } or { digits:',
    );
    expect(problems({ training: [{ dataset: 'a b' }] })[0]).toContain('/training/0/dataset must be a registered');
    expect(problems({ hyperParameters: { epochs: 0 } })[0]).toContain('at least one epoch');
  });

  it('fill in hyper-parameters and parse model references', () => {
    expect(hyperParameters()).toEqual({ epochs: 3, learningRate: 1e-3, batchSize: 64, seed: 1 });
    expect(hyperParameters({ epochs: 1, tail: { epochs: 1, learningRate: 1e-4 } })).toMatchObject({
      epochs: 1,
      tail: { epochs: 1, learningRate: 1e-4 },
    });
    expect(parseModelRef('digits-cloud')).toEqual({ name: 'digits-cloud' });
    expect(parseModelRef('digits-cloud@12')).toEqual({ name: 'digits-cloud', version: 12 });
    expect(parseModelRef('digits-cloud@1.5')).toBeUndefined();
    expect(parseModelRef('a@1@2')).toBeUndefined();
  });

  it('key checkpoints by run and step, so the attempt after a lost worker finds them', () => {
    expect(checkpointKeyOf({}, 'run-1:train:1')).toBe('run-1:train');
    expect(checkpointKeyOf({}, 'run-1:train:2')).toBe('run-1:train');
    expect(checkpointKeyOf({}, 'run-1:train[3]:1')).toBe('run-1:train[3]');
    expect(checkpointKeyOf({ checkpointKey: 'mine' }, 'run-1:train:1')).toBe('mine');
    expect(checkpointKeyOf({}, undefined)).toBeUndefined();
  });
});

describe('training on a collection of hard examples', () => {
  const base = { base: 'digits-cloud@1', validation: { digits: { part: 'heldOut' as const } }, register: 'm' };

  it('accepts a site collection', () => {
    expect(
      trainingRequestIssues({ ...base, training: [{ samples: { dataset: 'hard-a', site: 'factory-a' } }] }),
    ).toEqual([]);
  });

  it('names a bad collection, site or labels choice by pointer', () => {
    const issues = trainingRequestIssues({
      ...base,
      training: [{ samples: { dataset: 'a b', site: 'x.y', labels: 'any' as never } }],
    });
    expect(issues.map((i) => i.pointer)).toEqual([
      '/training/0/samples/dataset',
      '/training/0/samples/site',
      '/training/0/samples/labels',
    ]);
  });
});
