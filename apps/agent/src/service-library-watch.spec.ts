import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JsonLogger } from '@yunbian/common';
import type { ScannedLibrary } from './service-library-scan';
import { directoryFingerprint, libraryChanged, ServiceLibraryWatcher } from './service-library-watch';

const service = (name: string, file: string) => ({
  descriptor: {
    name,
    version: '1.0.0',
    kind: 'data' as const,
    description: '',
    input: {},
    output: {},
    requirements: {},
    concurrency: 4,
  },
  file,
});

describe('libraryChanged', () => {
  const a: ScannedLibrary = {
    services: [service('a', '/x/a.service.js'), service('b', '/x/b.service.js')],
    problems: [],
  };
  it('ignores order and sees added, changed and newly refused services', () => {
    expect(libraryChanged(a, { services: [...a.services].reverse(), problems: [] })).toBe(false);
    expect(libraryChanged(a, { services: [...a.services, service('c', '/x/c.service.js')], problems: [] })).toBe(true);
    const changed = { ...a.services[0], descriptor: { ...a.services[0].descriptor, concurrency: 8 } };
    expect(libraryChanged(a, { services: [changed, a.services[1]], problems: [] })).toBe(true);
    expect(
      libraryChanged(a, {
        services: a.services,
        problems: [{ kind: 'typescript', path: '/x/c.service.ts', message: 'm' }],
      }),
    ).toBe(true);
  });
});

describe('ServiceLibraryWatcher', () => {
  let dir: string;
  let watcher: ServiceLibraryWatcher | undefined;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'yb-watch-'))));
  afterEach(() => {
    watcher?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fingerprints the files of a directory, and a missing directory as such', () => {
    const before = directoryFingerprint([dir]);
    writeFileSync(path.join(dir, 'a.service.js'), '1');
    expect(directoryFingerprint([dir])).not.toBe(before);
    expect(directoryFingerprint([path.join(dir, 'gone')])).toContain('missing');
  });

  it('scans again when a file appears and hands over the new library once', async () => {
    const scans: string[][] = [];
    const fakeScan = async (): Promise<ScannedLibrary> => {
      const files = directoryFingerprint([dir])
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[0]);
      scans.push(files);
      return { services: files.map((f) => service(path.basename(f, '.service.js'), f)), problems: [] };
    };
    const changes: ScannedLibrary[] = [];
    watcher = new ServiceLibraryWatcher(
      { services: [], problems: [] },
      {
        directories: [dir],
        // The periodic look alone must find it too (fs.watch may be unavailable); either way one change.
        rescanMs: 200,
        settleMs: 50,
        scan: fakeScan,
        onChange: (l) => changes.push(l),
        logger: new JsonLogger('test'),
      },
    );
    watcher.start();
    writeFileSync(path.join(dir, 'hello.service.js'), 'module.exports = {}');
    for (let i = 0; i < 200 && changes.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(changes).toHaveLength(1);
    expect(changes[0].services.map((s) => s.descriptor.name)).toEqual(['hello']);
    // Nothing changed since: further looks do not scan again.
    const scanned = scans.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(scans.length).toBe(scanned);
    // An explicit reload scans, and reports no change.
    await watcher.reload();
    expect(scans.length).toBe(scanned + 1);
    expect(changes).toHaveLength(1);
  });
});
