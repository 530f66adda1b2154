import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { YunbianError, type NatsTransport } from '@yunbian/transport';
import { fetchModelBytes, verifyModelBytes } from './fetch-model';
import { modelMetaKey, type ModelMeta } from './model-meta';
import { ModelTrust } from './model-trust';

/** Beside the files: the registry record of each version this cache handed out (`<name>.<version>.json`). */
const META_FOLDER = 'meta';

/**
 * The newest version of `name` among kept record files (`<name>.<version>.json`), or the
 * one asked for when it is there.
 */
export function keptVersion(name: string, files: readonly string[], version?: number): number | undefined {
  let best: number | undefined;
  for (const file of files) {
    if (!file.startsWith(`${name}.`) || !file.endsWith('.json')) continue;
    const text = file.slice(name.length + 1, -'.json'.length);
    if (!/^\d+$/.test(text)) continue;
    const v = Number(text);
    if (version !== undefined ? v === version : best === undefined || v > best) best = v;
  }
  return best;
}

/** The registry answered (the model or version does not exist, the name is bad): no kept record overrides that. */
function registryAnswered(err: unknown): boolean {
  return err instanceof YunbianError && (err.code === 'NOT_FOUND' || err.code === 'BAD_REQUEST');
}

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
  /**
   * Checks a registry record before anything is loaded or handed out (the registry's
   * signature: `ModelTrust.verify`); a throw refuses the version, cached or not.
   */
  verify?: (meta: ModelMeta) => Promise<void> | void;
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

  /** Over NATS, checking the registry's signature of every version (keys from the node's environment). */
  static overNatsVerified(
    transport: NatsTransport,
    options: Omit<ModelCacheOptions, 'fetch' | 'verify'>,
    env: NodeJS.ProcessEnv = process.env,
  ): ModelCache {
    const trust = ModelTrust.fromEnv(transport, env);
    return new ModelCache({
      ...options,
      fetch: (meta) => fetchModelBytes(transport, meta),
      verify: (meta) => trust.verify(meta),
    });
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

  /**
   * The registry record of `name` (`version`, else the latest) from `readRegistry`; when the
   * registry cannot be reached (a site's uplink is cut), the record this cache kept when it
   * last handed out that version (the newest kept one for the latest) — so an instance of a
   * model the node already served starts again without the cloud. `ensure` then checks the
   * bytes against it as always.
   */
  async resolve(name: string, version: number | undefined, readRegistry: () => Promise<ModelMeta>): Promise<ModelMeta> {
    try {
      return await readRegistry();
    } catch (err) {
      if (registryAnswered(err)) throw err;
      const kept = await this.keptMeta(name, version);
      if (kept) return kept;
      const what = version === undefined ? `model ${name}` : `model ${name} v${version}`;
      throw new YunbianError(
        'UNAVAILABLE',
        `the model registry did not answer (${(err as Error).message}) and this node has no copy of ${what} it served before (cache ${this.options.directory}); start the instance again once the registry is reachable, or give it "modelPath", a file on the node`,
        { model: name, ...(version === undefined ? {} : { version }) },
      );
    }
  }

  /** A kept record whose bytes are still in the cache (an evicted file cannot start anything offline). */
  private async keptMeta(name: string, version: number | undefined): Promise<ModelMeta | undefined> {
    const folder = path.join(this.options.directory, META_FOLDER);
    const files = await readdir(folder).catch(() => [] as string[]);
    const v = keptVersion(name, files, version);
    if (v === undefined) return undefined;
    try {
      const meta = JSON.parse(await readFile(path.join(folder, `${modelMetaKey(name, v)}.json`), 'utf8')) as ModelMeta;
      if (!SHA256_HEX.test(meta.sha256)) return undefined;
      return (await stat(path.join(this.options.directory, meta.sha256)).catch(() => undefined)) ? meta : undefined;
    } catch {
      return undefined;
    }
  }

  private async keepMeta(meta: ModelMeta): Promise<void> {
    const folder = path.join(this.options.directory, META_FOLDER);
    await mkdir(folder, { recursive: true });
    const file = path.join(folder, `${modelMetaKey(meta.name, meta.version)}.json`);
    const partial = `${file}.${process.pid}.${randomUUID()}.part`;
    await writeFile(partial, JSON.stringify(meta));
    await rename(partial, file);
  }

  private async load(meta: ModelMeta): Promise<string> {
    // Signature first: a record whose sha256 was replaced along with the bytes fails here.
    await this.options.verify?.(meta);
    const file = path.join(this.options.directory, meta.sha256);
    if (await this.isIntact(file, meta)) {
      this.counters.hits++;
      await this.touch(file);
      await this.keepMeta(meta);
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
    await this.keepMeta(meta);
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
