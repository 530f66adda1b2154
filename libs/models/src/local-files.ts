import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { YunbianError } from '@yunbian/transport';

/**
 * The node setting listing the directories whose files instance configs may name as
 * `modelPath` / `dictionaryPath` (`:`-separated absolute paths; default none besides the
 * packaged OCR models). Anyone who can start an instance chooses its config: without this
 * bound, any caller could make a node open any local file.
 */
export const ALLOWED_MODEL_DIRS_SETTING = 'YUNBIAN_ALLOWED_MODEL_DIRS';

/** The directories of `YUNBIAN_ALLOWED_MODEL_DIRS`; throws naming a relative or empty entry. */
export function parseAllowedModelDirs(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const dirs = raw.split(path.delimiter).map((d) => d.trim());
  for (const dir of dirs) {
    if (!dir || !path.isAbsolute(dir))
      throw new Error(
        `environment variable ${ALLOWED_MODEL_DIRS_SETTING}="${raw}" must list absolute directories separated by "${path.delimiter}" (got "${dir}")`,
      );
  }
  return dirs;
}

/** True when `file` is `dir` itself or inside it (both already resolved). */
export function isInside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/**
 * The real path of a local file an instance config names (`what`: `modelPath` or
 * `dictionaryPath`), refused unless it lies under one of `allowedDirs` once symlinks are
 * followed (so a link inside an allowed directory cannot point outside it).
 */
export async function allowedLocalFile(file: unknown, what: string, allowedDirs: readonly string[]): Promise<string> {
  const allowed = allowedDirs.map(realDir);
  const accepted = allowed.length ? allowed.join(', ') : 'none';
  if (typeof file !== 'string' || file === '')
    throw new YunbianError('BAD_REQUEST', `instance config "${what}" must be a file path (a string)`, {
      pointer: `/config/${what}`,
    });
  const outside = () =>
    new YunbianError(
      'BAD_REQUEST',
      `instance config "${what}" names ${file}, outside the directories this node allows (${accepted}); ` +
        `add its directory to the node's ${ALLOWED_MODEL_DIRS_SETTING}, or register the model and name it with "model"`,
      { pointer: `/config/${what}`, setting: ALLOWED_MODEL_DIRS_SETTING, allowed },
    );
  // First by the path as written, so a file outside is refused the same whether it exists or not.
  const resolved = path.resolve(file);
  if (
    !allowed.some((dir) => isInside(resolved, dir)) &&
    !allowedDirs.some((dir) => isInside(resolved, path.resolve(dir)))
  )
    throw outside();
  let real: string;
  try {
    real = await realpath(resolved);
  } catch (err) {
    throw new YunbianError(
      'BAD_REQUEST',
      `instance config "${what}" names ${file}, which this node cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      { pointer: `/config/${what}` },
    );
  }
  // Then by the real path: a symlink inside an allowed directory may point anywhere.
  if (allowed.some((dir) => isInside(real, dir))) return real;
  throw outside();
}
