import type { ModelAlias } from '@yunbian/contracts';
import { aliasSpecIssues, ModelAliasBook } from './model-aliases';
import { instanceModelProblem } from './model-check';

const record = (version: number): ModelAlias => ({
  model: 'digits',
  alias: 'stable',
  version,
  setBy: 'ops',
  setAt: '2026-01-01T00:00:00.000Z',
});

describe('model aliases', () => {
  it('accepts a registered version with a canary of another one', () => {
    expect(aliasSpecIssues('digits', 'stable', { version: 3, canary: { version: 4, share: 0.2 } }, [1, 3, 4])).toEqual(
      [],
    );
  });

  it('names every problem with its pointer and the versions that exist', () => {
    const issues = aliasSpecIssues(
      'digits',
      'stable',
      { version: 9, canary: { version: 9, share: 2 }, extra: 1 },
      [1, 2],
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { pointer: '/version', message: 'digits has no version 9 (registered versions of digits: 1, 2)' },
        { pointer: '/canary/version', message: 'must differ from version (the canary is another version)' },
        expect.objectContaining({ pointer: '/canary/share' }),
        expect.objectContaining({ pointer: '/extra' }),
      ]),
    );
    expect(aliasSpecIssues('digits', 'canary', { version: 1 }, [1])[0].message).toContain(
      'names the canary of digits@stable',
    );
    expect(aliasSpecIssues('digits', 'x', { version: 1 }, [1])[0].message).toContain('semver wildcard');
    expect(aliasSpecIssues('digits', 'stable', [], [1])[0].message).toContain('the body must be an object');
  });

  it('keeps the newest revision of each alias, a delete included', () => {
    const book = new ModelAliasBook();
    book.apply('digits', 'stable', record(3), 5);
    book.apply('digits', 'stable', record(2), 4); // a late delivery of an older write
    expect(book.alias('digits', 'stable')?.version).toBe(3);
    book.apply('digits', 'stable', undefined, 6);
    expect(book.alias('digits', 'stable')).toBeUndefined();
    book.apply('digits', 'stable', record(3), 5); // the write the delete replaced, delivered late
    expect(book.alias('digits', 'stable')).toBeUndefined();
    expect(book.aliasesOf('digits')).toEqual([]);
    book.apply('digits', 'stable', record(4), 7);
    expect(book.all().map((a) => a.version)).toEqual([4]);
  });
});

describe('instance model check', () => {
  const models = new Map([
    ['digits', [1, 2]],
    ['ocr-rec', [1]],
  ]);

  it('accepts a registered name or name@version', () => {
    expect(instanceModelProblem('digits', models)).toBeUndefined();
    expect(instanceModelProblem('digits@2', models)).toBeUndefined();
  });

  it('refuses an unknown model or version, naming what exists', () => {
    expect(instanceModelProblem('digitz', models)).toMatchObject({
      code: 'NOT_FOUND',
      message: '/config/model: model "digitz" is not in the registry (registered models: digits, ocr-rec)',
    });
    expect(instanceModelProblem('digits@7', models)).toMatchObject({
      code: 'NOT_FOUND',
      message: '/config/model: model digits has no version 7 (versions of digits: 1, 2)',
    });
    expect(instanceModelProblem('digits@stable', models)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(instanceModelProblem(3, new Map())?.message).toContain('the registry holds no models');
  });
});
