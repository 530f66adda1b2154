import type { ModelAlias, ModelAliasSource } from '@yunbian/contracts';
import {
  canaryDraw,
  modelRefProblem,
  modelVersionInRange,
  parseModelRef,
  resolveModelRef,
  servesTarget,
} from './model-ref';

const alias = (a: Partial<ModelAlias> & Pick<ModelAlias, 'alias' | 'version'>): ModelAlias => ({
  model: 'digits',
  setBy: 'anonymous',
  setAt: '2026-01-01T00:00:00.000Z',
  ...a,
});

const source = (...aliases: ModelAlias[]): ModelAliasSource => ({
  alias: (model, name) => aliases.find((a) => a.model === model && a.alias === name),
  aliasesOf: (model) => aliases.filter((a) => a.model === model),
});

const served = (version: number, name = 'digits') => ({ name, version, sha256: 'ab'.repeat(32) });

describe('model references', () => {
  it('reads versions and ranges as semver over integer versions, and names as aliases', () => {
    expect(parseModelRef('digits').selector).toEqual({ kind: 'range', range: '*' });
    expect(parseModelRef('digits@3').selector).toEqual({ kind: 'range', range: '3' });
    expect(parseModelRef('digits@^3').selector).toEqual({ kind: 'range', range: '^3' });
    expect(parseModelRef('digits@>=2').selector).toEqual({ kind: 'range', range: '>=2' });
    expect(parseModelRef('digits@x').selector).toEqual({ kind: 'range', range: 'x' });
    expect(parseModelRef('digits@stable').selector).toEqual({ kind: 'alias', alias: 'stable' });
    expect(parseModelRef('digits@canary').selector).toEqual({ kind: 'alias', alias: 'canary' });
    expect(modelVersionInRange(3, '3')).toBe(true);
    expect(modelVersionInRange(4, '3')).toBe(false);
    expect(modelVersionInRange(3, '^3')).toBe(true);
    expect(modelVersionInRange(4, '^3')).toBe(false);
    expect(modelVersionInRange(2, '>=2')).toBe(true);
    expect(modelVersionInRange(1, '>=2')).toBe(false);
  });

  it('says what is accepted when a reference cannot be read', () => {
    expect(modelRefProblem('digits@3')).toBeUndefined();
    expect(modelRefProblem('dig.its@3')).toContain('model name "dig.its" is invalid');
    expect(modelRefProblem('digits@>=')).toContain('is neither a version, a semver range nor an alias name');
    expect(modelRefProblem('digits@>=')).toContain('digits@stable');
    expect(() => parseModelRef('digits@1.2.3.4')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('keeps a range as a range and matches served versions against it', () => {
    const target = resolveModelRef(parseModelRef('digits@^3'), undefined, 'k');
    expect(target).toMatchObject({ name: 'digits', range: '^3' });
    expect(servesTarget(served(3), target)).toBe(true);
    expect(servesTarget(served(4), target)).toBe(false);
    expect(servesTarget(served(3, 'other'), target)).toBe(false);
    expect(servesTarget(undefined, target)).toBe(false);
    const any = resolveModelRef(parseModelRef('digits'), undefined, 'k');
    expect(servesTarget(served(17), any)).toBe(true);
  });

  it('resolves an alias to its version, and canary to the canary of stable only', () => {
    const aliases = source(alias({ alias: 'stable', version: 3, canary: { version: 4, share: 0.2 } }));
    const canary = resolveModelRef(parseModelRef('digits@canary'), aliases, 'any');
    expect(canary).toMatchObject({ version: 4, canary: true });
    // Whatever the key: canary always reaches the canary version.
    for (let i = 0; i < 50; i++) {
      expect(resolveModelRef(parseModelRef('digits@canary'), aliases, `run-${i}`).version).toBe(4);
    }
    const plain = source(alias({ alias: 'stable', version: 3 }));
    expect(resolveModelRef(parseModelRef('digits@stable'), plain, 'k')).toMatchObject({ version: 3 });
    expect(servesTarget(served(3), resolveModelRef(parseModelRef('digits@stable'), plain, 'k'))).toBe(true);
    expect(servesTarget(served(4), resolveModelRef(parseModelRef('digits@stable'), plain, 'k'))).toBe(false);
  });

  it('refuses an alias that is not set, naming the aliases that are and how to set it', () => {
    const aliases = source(alias({ alias: 'stable', version: 3 }));
    expect(() => resolveModelRef(parseModelRef('digits@prod'), aliases, 'k')).toThrow(
      'model digits@prod cannot be resolved: model digits has no alias "prod" (its aliases: stable → 3); set it with PUT /models/digits/aliases/prod',
    );
    expect(() => resolveModelRef(parseModelRef('digits@canary'), aliases, 'k')).toThrow(
      'alias digits@stable (version 3) carries no canary',
    );
    expect(() => resolveModelRef(parseModelRef('digits@stable'), undefined, 'k')).toThrow(
      'this engine reads no model aliases',
    );
  });

  it('splits stable by a deterministic draw per key, close to the share over many keys', () => {
    const aliases = source(alias({ alias: 'stable', version: 3, canary: { version: 4, share: 0.2 } }));
    const ref = parseModelRef('digits@stable');
    expect(resolveModelRef(ref, aliases, 'run-1:s:').version).toBe(resolveModelRef(ref, aliases, 'run-1:s:').version);
    let canary = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) if (resolveModelRef(ref, aliases, `r${i}:classify:`).canary) canary++;
    // Binomial(10000, 0.2): sd 40; ±200 is five of them.
    expect(canary).toBeGreaterThan(1_800);
    expect(canary).toBeLessThan(2_200);
    const none = source(alias({ alias: 'stable', version: 3, canary: { version: 4, share: 0 } }));
    for (let i = 0; i < 200; i++) expect(resolveModelRef(ref, none, `r${i}`).version).toBe(3);
    const all = source(alias({ alias: 'stable', version: 3, canary: { version: 4, share: 1 } }));
    for (let i = 0; i < 200; i++) expect(resolveModelRef(ref, all, `r${i}`).version).toBe(4);
  });

  it('draws uniformly in [0, 1)', () => {
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 5_000; i++) {
      const d = canaryDraw(`key-${i}`);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(1);
      buckets[Math.floor(d * 10)]++;
    }
    for (const b of buckets) expect(Math.abs(b - 500)).toBeLessThan(120);
  });
});
