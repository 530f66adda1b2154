import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { assertToken, SERVICE_ISOLATIONS, serviceRef, type ServiceDescriptor } from '@yunbian/contracts';
import { serviceDescriptorOf, type ServiceClass } from './service.decorator';

export interface LibraryEntry {
  descriptor: ServiceDescriptor;
  serviceClass: ServiceClass;
  file: string;
}

/** The bundled services, next to this library in both the source tree and dist/. */
export const BUILTIN_SERVICE_DIR = path.resolve(__dirname, '../../services/src');

/** Service directories: the bundled one plus YUNBIAN_SERVICE_PATH (`:`-separated). */
export function serviceDirectories(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env.YUNBIAN_SERVICE_PATH ?? '').split(path.delimiter).filter(Boolean);
  return [BUILTIN_SERVICE_DIR, ...extra.map((d) => path.resolve(d))];
}

const SERVICE_FILE = __filename.endsWith('.ts') ? /\.service\.(ts|js)$/ : /\.service\.js$/;

/**
 * Every service class found in `*.service.js` files of the given directories, by
 * `name@version`. A directory that does not exist is an error, since a typo there would
 * silently hide services.
 */
export function loadServiceLibrary(directories: string[] = serviceDirectories()): Map<string, LibraryEntry> {
  const library = new Map<string, LibraryEntry>();
  for (const dir of directories) {
    if (!existsSync(dir)) throw new Error(`service directory ${dir} does not exist (check YUNBIAN_SERVICE_PATH)`);
    for (const name of readdirSync(dir).sort()) {
      if (!SERVICE_FILE.test(name) || name.endsWith('.d.ts') || name.includes('.spec.')) continue;
      for (const entry of loadServiceFile(path.join(dir, name))) {
        const ref = serviceRef(entry.descriptor);
        const existing = library.get(ref);
        if (existing && existing.file !== entry.file) {
          throw new Error(`service ${ref} is defined twice: in ${existing.file} and in ${entry.file}`);
        }
        library.set(ref, entry);
      }
    }
  }
  return library;
}

/** The service classes one file defines (a worker loads only the file of its service). */
export function loadServiceFile(file: string): LibraryEntry[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = require(file) as Record<string, unknown>;
  const entries: LibraryEntry[] = [];
  for (const value of Object.values(exported)) {
    const descriptor = serviceDescriptorOf(value);
    if (!descriptor) continue;
    validateDescriptor(descriptor, file);
    entries.push({ descriptor, serviceClass: value as ServiceClass, file });
  }
  return entries;
}

function validateDescriptor(d: ServiceDescriptor, file: string): void {
  assertToken(d.name, `service name in ${file}`);
  if (!semver.valid(d.version)) throw new Error(`service ${d.name} in ${file}: version "${d.version}" is not semver`);
  if (!Number.isInteger(d.concurrency) || d.concurrency < 1) {
    throw new Error(`service ${d.name} in ${file}: concurrency must be a positive integer`);
  }
  if (d.isolation !== undefined && !SERVICE_ISOLATIONS.includes(d.isolation)) {
    throw new Error(
      `service ${d.name} in ${file}: isolation "${String(d.isolation)}" is not one of ${SERVICE_ISOLATIONS.join(', ')}`,
    );
  }
}
