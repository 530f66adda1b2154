import path from 'node:path';
import { parseArgs } from 'node:util';
import { scaffoldService } from './scaffold';

/** The SDK package in this checkout (the CLI runs from dist/tools/cli or tools/cli). */
export const DEFAULT_SDK_DIR = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../../packages/service-sdk' : '../../packages/service-sdk',
);

export const SERVICE_NEW_USAGE = `usage: yb service new <name> [--dir <directory>] [--sdk <npm spec>]
  Writes a one-file Yunbian service project: src/<name>.service.ts, package.json, tsconfig.json
  and test/<name>.test.mjs.
  --dir  where to write it (default ./<name>; must be new or empty)
  --sdk  how it depends on @yunbian/service-sdk (default file:${DEFAULT_SDK_DIR}); e.g. a
         tarball from \`npm pack\` in packages/service-sdk: file:/path/yunbian-service-sdk-0.1.0.tgz`;

/** A directory as the user would type it: relative when it is below the working directory. */
function shownDir(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative === '' ? '.' : relative.startsWith('..') ? dir : relative;
}

/**
 * \`yb service new\`: \`argv\` is what follows those words. Returns the exit status (0 written,
 * 2 bad arguments or an existing non-empty directory).
 */
export async function serviceNewCommand(
  argv: string[],
  out: (text: string) => void = (t) => process.stdout.write(t),
  err: (text: string) => void = (t) => process.stderr.write(t),
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { dir: { type: 'string' }, sdk: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    err(`yb service new: ${(e as Error).message}\n${SERVICE_NEW_USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    out(SERVICE_NEW_USAGE + '\n');
    return 0;
  }
  const [name, ...rest] = parsed.positionals;
  if (!name || rest.length > 0) {
    err(
      `yb service new: ${name ? `unexpected ${rest.join(' ')}` : 'a service name is required'}\n${SERVICE_NEW_USAGE}\n`,
    );
    return 2;
  }
  const dir = path.resolve(parsed.values.dir ?? name);
  const sdkSpec = parsed.values.sdk ?? `file:${DEFAULT_SDK_DIR}`;
  try {
    const files = scaffoldService({ name, dir, sdkSpec });
    out(
      `wrote ${files.length} files in ${dir}:\n${files.map((f) => `  ${path.relative(dir, f)}`).join('\n')}\n` +
        `next: cd ${shownDir(dir)} && npm install && npm test; then add ${path.join(dir, 'dist')} to an agent's YUNBIAN_SERVICE_PATH\n`,
    );
    return 0;
  } catch (e) {
    err(`yb service new: ${(e as Error).message}\n`);
    return 2;
  }
}
