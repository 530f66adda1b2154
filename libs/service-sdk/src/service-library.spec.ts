import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { YunbianError } from '@yunbian/contracts';
import { ServiceError } from '../../../packages/service-sdk/src/service';
import { classifyServiceFile, scanServiceDirectories } from './service-library';

const SDK = path.resolve(__dirname, '../../../packages/service-sdk/src/index.ts');

describe('classifyServiceFile', () => {
  const none = new Set<string>();
  it('loads built services and skips what is not a service', () => {
    expect(classifyServiceFile('hello.service.js', none, false)).toBe('load');
    expect(classifyServiceFile('hello.service.d.ts', none, false)).toBe('skip');
    expect(classifyServiceFile('hello.spec.service.js', none, false)).toBe('skip');
    expect(classifyServiceFile('helper.js', none, false)).toBe('skip');
  });
  it('refuses a TypeScript service unless its build sits beside it', () => {
    expect(classifyServiceFile('hello.service.ts', none, false)).toBe('refuse-ts');
    expect(classifyServiceFile('hello.service.mts', none, false)).toBe('refuse-ts');
    expect(classifyServiceFile('hello.service.ts', new Set(['hello.service.js']), false)).toBe('skip');
    expect(classifyServiceFile('hello.service.ts', none, true)).toBe('load');
  });
});

describe('scanServiceDirectories', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'yb-lib-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the good files and reports each bad one with what to do', () => {
    const define = (name: string, version: string) =>
      `const { defineService } = require(${JSON.stringify(SDK)});\n` +
      `module.exports = defineService({ name: '${name}', version: '${version}', kind: 'data', handle: (i) => i });\n`;
    writeFileSync(path.join(dir, 'a.service.js'), define('alpha', '1.0.0'));
    writeFileSync(path.join(dir, 'b.service.js'), define('alpha', '1.0.0'));
    writeFileSync(path.join(dir, 'c.service.js'), 'throw new Error("boom at load");\n');
    writeFileSync(path.join(dir, 'd.service.js'), define('delta', 'one'));
    writeFileSync(path.join(dir, 'e.service.mts'), 'export const x: number = 1;\n');
    const missing = path.join(dir, 'nope');
    const { library, problems } = scanServiceDirectories([dir, missing]);
    expect([...library.keys()]).toEqual(['alpha@1.0.0']);
    const byKind = Object.fromEntries(problems.map((p) => [p.kind, p]));
    expect(Object.keys(byKind).sort()).toEqual(['duplicate', 'invalid', 'load', 'missing-directory', 'typescript']);
    expect(byKind.duplicate.message).toContain('a.service.js');
    expect(byKind.load.message).toContain('boom at load');
    expect(byKind.invalid.message).toContain('"one" is not semver');
    expect(byKind.typescript.path).toBe(path.join(dir, 'e.service.mts'));
    expect(byKind.typescript.message).toContain('npx tsc');
    expect(byKind.typescript.message).toContain('YUNBIAN_SERVICE_PATH');
    expect(byKind['missing-directory'].path).toBe(missing);
  });
});

describe('errors thrown by a service', () => {
  it('keep their code and details through YunbianError.from', () => {
    const err = YunbianError.from(new ServiceError('NOT_FOUND', 'no sensor 3', { id: 3 }));
    expect(err).toBeInstanceOf(YunbianError);
    expect(err.toBody()).toEqual({ code: 'NOT_FOUND', message: 'no sensor 3', details: { id: 3 } });
    expect(YunbianError.from(new Error('plain')).code).toBe('INTERNAL');
  });
});
