import { parseSplitModel, primaryTarget, stepKind } from './split-step';
import { validateDefinition, type ValidationContext } from './validate';

const context: ValidationContext = { serviceVersions: () => [], workflowVersions: () => [] };
const issuesOf = (step: Record<string, unknown>) =>
  validateDefinition({ name: 'wf', steps: [{ id: 's', ...step }] }, context).issues;

describe('split steps', () => {
  const split = { model: 'digits@1', between: ['device', 'edge'] as [string, string] };

  it('are their own kind of attempt, escalations and fallbacks staying service calls', () => {
    expect(stepKind({ id: 's', split }, 'primary')).toBe('split');
    expect(stepKind({ id: 's', split }, 'fallback')).toBe('service');
    expect(stepKind({ id: 's', service: 'a@1' }, 'primary')).toBe('service');
    expect(stepKind({ id: 's', workflow: 'w' }, 'primary')).toBe('workflow');
    expect(primaryTarget({ id: 's', split })).toBe('split:digits@1');
  });

  it('validate: an exact version, two different ends, no model or escalation beside', () => {
    expect(issuesOf({ split, input: { inputs: '=$input.inputs' } })).toEqual([]);
    expect(issuesOf({ split: { ...split, lossy: 'float16', link: { rttMs: 20, mbps: 5 } } })).toEqual([]);
    expect(issuesOf({ split: { ...split, model: 'digits@^1' } })).toEqual([
      {
        pointer: '/steps/0/split/model',
        message:
          'split.model must be name@version with a whole version, e.g. digits@1 (got "digits@^1"): the cut is chosen per version',
      },
    ]);
    expect(issuesOf({ split: { ...split, between: ['edge', 'edge'] } })[0].message).toContain('names edge twice');
    expect(issuesOf({ split, model: 'digits@1' })[0]).toMatchObject({ pointer: '/steps/0/model' });
    expect(issuesOf({ split: { ...split, lossy: 'int4' } })[0].pointer).toBe('/steps/0/split/lossy');
    expect(issuesOf({ split, service: 'onnx-inference@^1' }).length).toBeGreaterThan(0);
    expect(parseSplitModel('ocr-rec@12')).toEqual({ name: 'ocr-rec', version: 12 });
  });
});
