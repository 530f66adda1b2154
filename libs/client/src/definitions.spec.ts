import { YunbianError } from '@yunbian/contracts';
import { parseSource, subWorkflowNames } from './definitions';

describe('parseSource', () => {
  it('takes a workflow name for a stored workflow', () => {
    expect(parseSource('edge-report')).toEqual({ kind: 'name', name: 'edge-report' });
    expect(parseSource(' ocr_2 ')).toEqual({ kind: 'name', name: 'ocr_2' });
  });
  it('parses any other string as YAML or JSON', () => {
    expect(parseSource('name: w\nsteps: []\n')).toEqual({ kind: 'definition', raw: { name: 'w', steps: [] } });
    expect(parseSource('{"name":"w","steps":[]}')).toEqual({ kind: 'definition', raw: { name: 'w', steps: [] } });
  });
  it('passes an object on as it is', () => {
    const raw = { name: 'w', steps: [] };
    expect(parseSource(raw)).toEqual({ kind: 'definition', raw });
  });
  it('says what is wrong with text that is not YAML, and what it accepts otherwise', () => {
    expect(() => parseSource('name: [unclosed')).toThrow(/^definition is not valid YAML\/JSON: /);
    let error: unknown;
    try {
      parseSource([] as never);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(YunbianError);
    expect((error as YunbianError).message).toMatch(/stored workflow's name \(got an array\)$/);
  });
});

describe('subWorkflowNames', () => {
  it('lists the workflows the steps call, once each', () => {
    const raw = {
      steps: [{ workflow: 'child@2' }, { service: 'echo@^1' }, { workflow: 'child' }, { workflow: 'other' }],
    };
    expect(subWorkflowNames(raw)).toEqual(['child', 'other']);
    expect(subWorkflowNames('not a definition')).toEqual([]);
  });
});
