import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { JsonLogger } from '@yunbian/common';
import type { ScannedLibrary } from './service-library-scan';

/**
 * What the files directly in the watched directories look like (name, size, mtime): a scan
 * is due when it changes. Cheap (one readdir and a stat an entry), unlike a scan, which loads
 * every service file in a child process.
 */
export function directoryFingerprint(directories: string[]): string {
  const parts: string[] = [];
  for (const dir of directories) {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      parts.push(`${dir}:missing`);
      continue;
    }
    for (const name of names) {
      try {
        const s = statSync(path.join(dir, name));
        parts.push(`${dir}/${name}:${s.size}:${s.mtimeMs}`);
      } catch {
        // Gone between readdir and stat: the next look sees the new state.
      }
    }
  }
  return parts.join('\n');
}

/** Whether two scans differ in what the node would announce (services, their files, problems). */
export function libraryChanged(before: ScannedLibrary, after: ScannedLibrary): boolean {
  const key = (l: ScannedLibrary) =>
    JSON.stringify({
      services: [...l.services].sort(
        (a, b) => a.file.localeCompare(b.file) || a.descriptor.name.localeCompare(b.descriptor.name),
      ),
      problems: [...l.problems].sort((a, b) => a.path.localeCompare(b.path)),
    });
  return key(before) !== key(after);
}

export interface WatchOptions {
  /** The YUNBIAN_SERVICE_PATH directories (the bundled one does not change while the agent runs). */
  directories: string[];
  /** How often the directories are looked at when no change event came (fs.watch misses some: NFS, bind mounts). */
  rescanMs: number;
  /** Quiet time after a change before scanning, so a build that writes several files is read once. */
  settleMs?: number;
  scan: () => Promise<ScannedLibrary>;
  /** Called with each scan that differs from the previous one. */
  onChange: (library: ScannedLibrary) => void;
  logger: JsonLogger;
}

/**
 * Keeps a node's service library current without restarting the agent: fs.watch on every
 * service directory, and a periodic look at their files as a fallback; when the files
 * changed, the library is scanned again (in a fresh child process, so changed files load
 * anew) and, if the services or problems differ, handed to `onChange`.
 */
export class ServiceLibraryWatcher {
  private watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private settleTimer?: NodeJS.Timeout;
  private fingerprint: string;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private current: ScannedLibrary,
    private readonly options: WatchOptions,
  ) {
    this.fingerprint = directoryFingerprint(options.directories);
  }

  get library(): ScannedLibrary {
    return this.current;
  }

  start(): void {
    for (const dir of this.options.directories) {
      try {
        const watcher = watch(dir, () => this.changed());
        watcher.on('error', () => watcher.close()); // the directory went away: the periodic look covers it
        this.watchers.push(watcher);
      } catch (err) {
        this.options.logger.warn('cannot watch service directory; relying on the periodic rescan', {
          directory: dir,
          error: (err as Error).message,
        });
      }
    }
    this.timer = setInterval(() => this.changed(true), this.options.rescanMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.settleTimer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  /** A change event (or the periodic look): scan once the directories have been quiet for a moment. */
  private changed(periodic = false): void {
    if (this.stopped) return;
    if (periodic) {
      if (directoryFingerprint(this.options.directories) !== this.fingerprint) void this.reload();
      return;
    }
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (directoryFingerprint(this.options.directories) !== this.fingerprint) void this.reload();
    }, this.options.settleMs ?? 300);
  }

  /**
   * Scans now (also on request: the node's reload command) and returns the library. Scans
   * run one after another, never two at once.
   */
  reload(): Promise<ScannedLibrary> {
    const run = this.queue.then(() => this.scanOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async scanOnce(): Promise<ScannedLibrary> {
    const fingerprint = directoryFingerprint(this.options.directories);
    let next: ScannedLibrary;
    try {
      next = await this.options.scan();
    } catch (err) {
      // The scan process itself failed: keep serving the library we have.
      this.options.logger.error('service library rescan failed; keeping the previous library', {
        error: (err as Error).message,
      });
      return this.current;
    }
    this.fingerprint = fingerprint;
    if (!this.stopped && libraryChanged(this.current, next)) {
      this.current = next;
      this.options.onChange(next);
    }
    return this.current;
  }
}
