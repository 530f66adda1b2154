import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { parseDirectoryList } from '@yunbian/common';
import {
  assertToken,
  SERVICE_ISOLATIONS,
  serviceRef,
  type ServiceDescriptor,
  type ServiceLibraryProblem,
} from '@yunbian/contracts';
import { serviceDescriptorOf, type ServiceClass } from './service.decorator';

export interface LibraryEntry {
  descriptor: ServiceDescriptor;
  serviceClass: ServiceClass;
  file: string;
}

export type LibraryProblem = ServiceLibraryProblem;

export interface LibraryScan {
  library: Map<string, LibraryEntry>;
  problems: LibraryProblem[];
}

/** The bundled services, next to this library in both the source tree and dist/. */
export const BUILTIN_SERVICE_DIR = path.resolve(__dirname, '../../services/src');

/** Service directories: the bundled one plus YUNBIAN_SERVICE_PATH (`:`-separated). */
export function serviceDirectories(env: NodeJS.ProcessEnv = process.env): string[] {
  return [BUILTIN_SERVICE_DIR, ...parseDirectoryList(env.YUNBIAN_SERVICE_PATH)];
}

/** Run from TypeScript (the unit tests), `.service.ts` files load too. */
const RUNNING_TYPESCRIPT = __filename.endsWith('.ts');
const SERVICE_JS = /\.service\.js$/;
const SERVICE_TS = /\.service\.(ts|mts|cts)$/;

/**
 * What a service directory entry is: a service file to load, a TypeScript source to refuse
 * (when no build of it sits beside it), or nothing of ours. `siblings` are the directory's names.
 */
export function classifyServiceFile(
  name: string,
  siblings: ReadonlySet<string>,
  typescript = RUNNING_TYPESCRIPT,
): 'load' | 'refuse-ts' | 'skip' {
  if (name.endsWith('.d.ts') || name.includes('.spec.')) return 'skip';
  if (SERVICE_JS.test(name)) return 'load';
  if (!SERVICE_TS.test(name)) return 'skip';
  if (typescript && name.endsWith('.ts')) return 'load';
  // Source compiled in place: its .js is loaded, the .ts is left alone.
  return siblings.has(name.replace(SERVICE_TS, '.service.js')) ? 'skip' : 'refuse-ts';
}

/** The message a `.ts` service file gets: why it is not loaded and how to build it. */
export function typescriptRefusal(file: string): string {
  return (
    `${file} is TypeScript, which this agent does not load (Node.js ${process.version} runs JavaScript only): ` +
    `build it (e.g. \`npx tsc\` with "outDir": "dist" in its tsconfig.json) and put the directory of the built ` +
    `*.service.js files in YUNBIAN_SERVICE_PATH instead of its source directory`
  );
}

/**
 * Every service class found in `*.service.js` files of the given directories, by
 * `name@version`, and every problem met on the way; one bad file does not hide the others.
 */
export function scanServiceDirectories(directories: string[] = serviceDirectories()): LibraryScan {
  const library = new Map<string, LibraryEntry>();
  const problems: LibraryProblem[] = [];
  for (const dir of directories) {
    if (!existsSync(dir)) {
      problems.push({
        kind: 'missing-directory',
        path: dir,
        message: `service directory ${dir} does not exist (check YUNBIAN_SERVICE_PATH)`,
      });
      continue;
    }
    const names = readdirSync(dir).sort();
    const siblings = new Set(names);
    for (const name of names) {
      const file = path.join(dir, name);
      const what = classifyServiceFile(name, siblings);
      if (what === 'refuse-ts') problems.push({ kind: 'typescript', path: file, message: typescriptRefusal(file) });
      if (what !== 'load') continue;
      let entries: LibraryEntry[];
      try {
        entries = loadServiceFile(file);
      } catch (err) {
        const kind = err instanceof InvalidDescriptorError ? 'invalid' : 'load';
        const message =
          kind === 'invalid' ? (err as Error).message : `${file} failed to load: ${(err as Error).message}`;
        problems.push({ kind, path: file, message });
        continue;
      }
      for (const entry of entries) {
        const ref = serviceRef(entry.descriptor);
        const existing = library.get(ref);
        if (existing && existing.file !== entry.file) {
          problems.push({
            kind: 'duplicate',
            path: file,
            message: `service ${ref} is defined twice: in ${existing.file} and in ${entry.file} (the first is served; give one of them another name or version)`,
          });
          continue;
        }
        library.set(ref, entry);
      }
    }
  }
  return { library, problems };
}

/**
 * Like scanServiceDirectories, but any problem is an error (a directory that does not exist
 * too, since a typo there would silently hide services).
 */
export function loadServiceLibrary(directories: string[] = serviceDirectories()): Map<string, LibraryEntry> {
  const { library, problems } = scanServiceDirectories(directories);
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('; '));
  return library;
}

class InvalidDescriptorError extends Error {}

/** The service classes one file defines (a worker loads only the file of its service). */
export function loadServiceFile(file: string): LibraryEntry[] {
  // A long-lived process (the shared worker) loads a rebuilt file afresh for its next instance;
  // running instances keep the class they were started with.
  delete require.cache[file];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = require(file) as Record<string, unknown>;
  const entries: LibraryEntry[] = [];
  // `module.exports = defineService(…)` exports the class itself.
  const values = serviceDescriptorOf(exported) ? [exported] : Object.values(exported);
  for (const value of values) {
    const descriptor = serviceDescriptorOf(value);
    if (!descriptor) continue;
    validateDescriptor(descriptor, file);
    entries.push({ descriptor, serviceClass: value as ServiceClass, file });
  }
  return entries;
}

function validateDescriptor(d: ServiceDescriptor, file: string): void {
  try {
    assertToken(d.name, `service name in ${file}`);
  } catch (err) {
    throw new InvalidDescriptorError((err as Error).message);
  }
  if (!semver.valid(d.version)) {
    throw new InvalidDescriptorError(`service ${d.name} in ${file}: version "${d.version}" is not semver (e.g. 1.0.0)`);
  }
  if (!Number.isInteger(d.concurrency) || d.concurrency < 1) {
    throw new InvalidDescriptorError(`service ${d.name} in ${file}: concurrency must be a positive integer`);
  }
  if (d.isolation !== undefined && !SERVICE_ISOLATIONS.includes(d.isolation)) {
    throw new InvalidDescriptorError(
      `service ${d.name} in ${file}: isolation "${String(d.isolation)}" is not one of ${SERVICE_ISOLATIONS.join(', ')}`,
    );
  }
}
