import { YunbianError } from '@yunbian/contracts';
import { checkDefinition, RunInputValidator } from './stored';

const context = { serviceVersions: () => ['1.0.0'], workflowVersions: () => [] };

describe('checkDefinition', () => {
  it('returns a valid definition', () => {
    const definition = checkDefinition({ name: 'w', steps: [{ id: 'a', service: 'echo@^1' }] }, context);
    expect(definition.name).toBe('w');
  });
  it('throws VALIDATION_FAILED with every problem and its pointer', () => {
    let error: YunbianError | undefined;
    try {
      checkDefinition({ name: 'w', steps: [{ id: 'a', service: 'echo@^2', after: ['zz'] }] }, context);
    } catch (err) {
      error = err as YunbianError;
    }
    expect(error?.code).toBe('VALIDATION_FAILED');
    expect(error?.message).toBe('workflow definition is invalid (2 problems)');
    expect((error?.details as { issues: { pointer: string }[] }).issues.map((i) => i.pointer).sort()).toEqual([
      '/steps/0/after/0',
      '/steps/0/service',
    ]);
  });
});

describe('RunInputValidator', () => {
  const definition = {
    name: 'w',
    version: 2,
    steps: [],
    input: {
      type: 'object',
      required: ['a'],
      properties: { a: { type: 'number' }, b: { type: 'number', default: 40 } },
    },
  };
  it('fills in the schema defaults', () => {
    const input: Record<string, unknown> = { a: 1 };
    new RunInputValidator().check(definition, input);
    expect(input).toEqual({ a: 1, b: 40 });
  });
  it('names the workflow version and the problem', () => {
    expect(() => new RunInputValidator().check(definition, { a: 'x' })).toThrow(
      /^run input does not match the input schema of w@2: /,
    );
  });
});
