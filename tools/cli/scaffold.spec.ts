import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { scaffoldNameProblem, scaffoldService } from './scaffold';
import { serviceNewCommand } from './service-new';

describe('scaffoldService', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'yb-scaffold-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes the service, its package.json (depending on the SDK by the given spec), a tsconfig and a test', () => {
    const dir = path.join(root, 'greeter');
    const files = scaffoldService({ name: 'greeter', dir, sdkSpec: 'file:/tmp/sdk.tgz' });
    expect(files.map((f) => path.relative(dir, f)).sort()).toEqual([
      '.gitignore',
      'README.md',
      'package.json',
      'src/greeter.service.ts',
      'test/greeter.test.mjs',
      'tsconfig.json',
    ]);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.dependencies).toEqual({ '@yunbian/service-sdk': 'file:/tmp/sdk.tgz' });
    expect(pkg.type).toBeUndefined(); // CommonJS: agents require() services
    expect(readFileSync(path.join(dir, 'src/greeter.service.ts'), 'utf8')).toContain("name: 'greeter'");
    expect(JSON.parse(readFileSync(path.join(dir, 'tsconfig.json'), 'utf8')).compilerOptions.outDir).toBe('dist');
  });

  it('refuses a directory with files in it, and writes nothing', () => {
    writeFileSync(path.join(root, 'keep.txt'), 'x');
    expect(() => scaffoldService({ name: 'greeter', dir: root, sdkSpec: '^0.1.0' })).toThrow(/not empty/);
    expect(existsSync(path.join(root, 'package.json'))).toBe(false);
  });

  it('accepts only names that are subject tokens and npm names', () => {
    expect(scaffoldNameProblem('edge-thumb_2')).toBeUndefined();
    expect(scaffoldNameProblem('Edge')).toMatch(/lowercase/);
    expect(scaffoldNameProblem('a.b')).toMatch(/lowercase letters, digits/);
  });

  it('serviceNewCommand: 0 when written, 2 with the usage when the name is missing or the directory is taken', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const dir = path.join(root, 'svc');
    const args = ['svc', '--dir', dir, '--sdk', '^0.1.0'];
    expect(
      await serviceNewCommand(
        args,
        (t) => out.push(t),
        (t) => err.push(t),
      ),
    ).toBe(0);
    expect(out.join('')).toContain('src/svc.service.ts');
    expect(
      await serviceNewCommand(
        args,
        (t) => out.push(t),
        (t) => err.push(t),
      ),
    ).toBe(2);
    expect(err.join('')).toContain('is not empty');
    expect(
      await serviceNewCommand(
        [],
        (t) => out.push(t),
        (t) => err.push(t),
      ),
    ).toBe(2);
    expect(err.join('')).toContain('usage: yb service new');
  });
});
