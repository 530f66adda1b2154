import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allowedLocalFile, isInside, parseAllowedModelDirs } from './local-files';

describe('local model files', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'yb-local-files-'));
  const allowed = path.join(root, 'models');
  const outside = path.join(root, 'secret.txt');
  mkdirSync(allowed);
  writeFileSync(path.join(allowed, 'a.onnx'), 'x');
  writeFileSync(outside, 'secret');
  symlinkSync(outside, path.join(allowed, 'link.onnx'));

  it('reads the setting: absolute directories, separated by the path delimiter', () => {
    expect(parseAllowedModelDirs(undefined)).toEqual([]);
    expect(parseAllowedModelDirs(`/a${path.delimiter}/b`)).toEqual(['/a', '/b']);
    expect(() => parseAllowedModelDirs('models')).toThrow(
      /YUNBIAN_ALLOWED_MODEL_DIRS="models" must list absolute directories/,
    );
  });

  it('tells inside from outside, also for a sibling with the same prefix', () => {
    expect(isInside('/m/a.onnx', '/m')).toBe(true);
    expect(isInside('/m2/a.onnx', '/m')).toBe(false);
    expect(isInside('/etc/passwd', '/m')).toBe(false);
  });

  it('gives the real path of a file under an allowed directory', async () => {
    await expect(allowedLocalFile(path.join(allowed, 'a.onnx'), 'modelPath', [allowed])).resolves.toMatch(/a\.onnx$/);
  });

  it('refuses files outside, traversal and symlinks pointing outside, naming the setting', async () => {
    for (const file of ['/etc/passwd', path.join(allowed, '../secret.txt'), path.join(allowed, 'link.onnx')]) {
      await expect(allowedLocalFile(file, 'modelPath', [allowed])).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringContaining('outside the directories this node allows'),
      });
    }
    await expect(allowedLocalFile('/etc/passwd', 'dictionaryPath', [])).rejects.toThrow(
      /"dictionaryPath" names \/etc\/passwd, outside the directories this node allows \(none\); add its directory to the node's YUNBIAN_ALLOWED_MODEL_DIRS/,
    );
  });

  it('refuses what is no path or cannot be opened', async () => {
    await expect(allowedLocalFile(42, 'modelPath', [allowed])).rejects.toThrow(/must be a file path/);
    await expect(allowedLocalFile(path.join(allowed, 'missing.onnx'), 'modelPath', [allowed])).rejects.toThrow(
      /ENOENT/,
    );
  });
});
