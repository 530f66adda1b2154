import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NatsTransport } from '@yunbian/transport';
import { fetchModelBytes, verifyModelBytes } from './fetch-model';
import type { ModelMeta } from './model-meta';

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface ModelCacheOptions {
  /** Folder of cached models, one file per sha256; created when missing. */
  directory: string;
  /** Total size above which the least recently used files are deleted. */
  maxBytes: number;
  /** Gets the bytes of a model that is not cached (e.g. from the object store). */
  fetch: (meta: ModelMeta) => Promise<Uint8Array>;
  /** Clock for last-use times, in ms (tests pass their own). */
  now?: () => number;
}

export interface ModelCacheStats {
  hits: number;
  misses: number;
  /** Cached files that no longer matched their sha256 and were fetched again. */
  corrupted: number;
  evicted: number;
}

/**
 * A disk cache of model files named by sha256. `ensure(meta)` returns a path whose bytes
 * were verified against `meta.sha256` on this call; last use is the file's mtime, so the
 * LRU order survives restarts and is shared by processes using the same folder.
 */
export class ModelCache {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly counters: ModelCacheStats = { hits: 0, misses: 0, corrupted: 0, evicted: 0 };
  private readonly now: () => number;

  constructor(private readonly options: ModelCacheOptions) {
    if (!Number.isFinite(options.maxBytes) || options.maxBytes <= 0) {
      throw new Error(`ModelCache maxBytes must be a positive number of bytes (got ${options.maxBytes})`);
    }
    this.now = options.now ?? Date.now;
  }

  /** A cache whose misses read the registry's object store over NATS. */
  static overNats(transport: NatsTransport, options: Omit<ModelCacheOptions, 'fetch'>): ModelCache {
    return new ModelCache({ ...options, fetch: (meta) => fetchModelBytes(transport, meta) });
  }

  get directory(): string {
    return this.options.directory;
  }

  stats(): ModelCacheStats {
    return { ...this.counters };
  }

  /** The path of a verified local copy of `meta`, fetching it when missing or corrupt. */
  ensure(meta: ModelMeta): Promise<string> {
    if (!SHA256_HEX.test(meta.sha256)) {
      return Promise.reject(new Error(`model ${meta.name} v${meta.version} has no valid sha256 ("${meta.sha256}")`));
    }
    // Concurrent callers for the same model share one verification and one download.
    let pending = this.pending.get(meta.sha256);
    if (!pending) {
      pending = this.load(meta).finally(() => this.pending.delete(meta.sha256));
      this.pending.set(meta.sha256, pending);
    }
    return pending;
  }

  private async load(meta: ModelMeta): Promise<string> {
    const file = path.join(this.options.directory, meta.sha256);
    if (await this.isIntact(file, meta)) {
      this.counters.hits++;
      await this.touch(file);
      return file;
    }
    this.counters.misses++;
    const bytes = await this.options.fetch(meta);
    verifyModelBytes(meta, bytes);
    await mkdir(this.options.directory, { recursive: true });
    // Write aside and rename so a reader never sees a half-written file.
    const partial = `${file}.${process.pid}.${randomUUID()}.part`;
    await writeFile(partial, bytes);
    await rename(partial, file);
    await this.touch(file);
    await this.evict(meta.sha256);
    return file;
  }

  /** True when the file exists with the right size and hash; a corrupt file is deleted. */
  private async isIntact(file: string, meta: ModelMeta): Promise<boolean> {
    const info = await stat(file).catch(() => undefined);
    if (!info) return false;
    if (info.size === meta.size && (await hashFile(file)) === meta.sha256) return true;
    this.counters.corrupted++;
    await rm(file, { force: true });
    return false;
  }

  private async touch(file: string): Promise<void> {
    const seconds = this.now() / 1000;
    await utimes(file, seconds, seconds);
  }

  /** Deletes least recently used files until the total fits `maxBytes`; never the one just ensured. */
  private async evict(keep: string): Promise<void> {
    const names = (await readdir(this.options.directory)).filter((n) => SHA256_HEX.test(n));
    const files = await Promise.all(
      names.map(async (name) => {
        const info = await stat(path.join(this.options.directory, name)).catch(() => undefined);
        return { name, size: info?.size ?? 0, lastUsed: info?.mtimeMs ?? 0 };
      }),
    );
    let total = files.reduce((sum, f) => sum + f.size, 0);
    for (const f of files.sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (total <= this.options.maxBytes) break;
      if (f.name === keep) continue;
      await rm(path.join(this.options.directory, f.name), { force: true });
      total -= f.size;
      this.counters.evicted++;
    }
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
