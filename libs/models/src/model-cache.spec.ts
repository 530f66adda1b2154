import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256Hex } from './fetch-model';
import { ModelCache } from './model-cache';
import type { ModelMeta } from './model-meta';

function model(name: string, size: number): { meta: ModelMeta; bytes: Uint8Array } {
  const bytes = Buffer.alloc(size, name);
  const meta: ModelMeta = {
    name,
    version: 1,
    sha256: sha256Hex(bytes),
    size,
    inputs: [],
    outputs: [],
    object: { bucket: 'yb-models', name: `${name}/1` },
    createdAt: new Date(0).toISOString(),
  };
  return { meta, bytes };
}

describe('ModelCache', () => {
  let directory: string;
  let clock: number;
  let fetched: string[];
  const models = new Map<string, Uint8Array>();

  const cache = (maxBytes = 1_000_000, fetch?: (meta: ModelMeta) => Promise<Uint8Array>) =>
    new ModelCache({
      directory,
      maxBytes,
      now: () => clock,
      fetch:
        fetch ??
        (async (meta) => {
          fetched.push(meta.name);
          return models.get(meta.sha256)!;
        }),
    });
  const add = (name: string, size: number) => {
    const m = model(name, size);
    models.set(m.meta.sha256, m.bytes);
    return m;
  };

  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'yb-model-cache-'));
    clock = Date.UTC(2026, 0, 1);
    fetched = [];
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('fetches on a miss, then serves the verified file from disk', async () => {
    const { meta, bytes } = add('det', 1000);
    const models = cache();
    const first = await models.ensure(meta);
    const second = await models.ensure(meta);
    expect(first).toBe(path.join(directory, meta.sha256));
    expect(second).toBe(first);
    expect(readFileSync(first).equals(Buffer.from(bytes))).toBe(true);
    expect(fetched).toEqual(['det']);
    expect(models.stats()).toMatchObject({ hits: 1, misses: 1, corrupted: 0 });
  });

  it('shares one download between concurrent callers', async () => {
    const { meta } = add('det', 1000);
    const models = cache();
    const paths = await Promise.all([models.ensure(meta), models.ensure(meta), models.ensure(meta)]);
    expect(new Set(paths).size).toBe(1);
    expect(fetched).toEqual(['det']);
  });

  it('detects a corrupted file (same size, other bytes) and fetches it again', async () => {
    const { meta, bytes } = add('det', 1000);
    const models = cache();
    const file = await models.ensure(meta);
    writeFileSync(file, Buffer.alloc(1000, 'x'));
    expect(await models.ensure(meta)).toBe(file);
    expect(readFileSync(file).equals(Buffer.from(bytes))).toBe(true);
    expect(fetched).toEqual(['det', 'det']);
    expect(models.stats()).toMatchObject({ hits: 0, misses: 2, corrupted: 1 });
  });

  it('refuses fetched bytes that do not match the sha256, and caches nothing', async () => {
    const { meta } = add('det', 1000);
    const models = cache(1_000_000, async () => Buffer.alloc(1000, 'y'));
    await expect(models.ensure(meta)).rejects.toThrow(/failed its integrity check: expected sha256/);
    expect(readdirSync(directory)).toEqual([]);
  });

  it('evicts the least recently used files beyond maxBytes, keeping the one just ensured', async () => {
    const a = add('a', 100);
    const b = add('b', 100);
    const c = add('c', 100);
    const models = cache(250);
    await models.ensure(a.meta);
    clock += 1000;
    await models.ensure(b.meta);
    clock += 1000;
    await models.ensure(a.meta); // a is now more recent than b
    clock += 1000;
    await models.ensure(c.meta);
    expect(readdirSync(directory).sort()).toEqual([a.meta.sha256, c.meta.sha256].sort());
    expect(models.stats().evicted).toBe(1);

    clock += 1000;
    const big = add('big', 300); // larger than the whole cache: kept alone
    await models.ensure(big.meta);
    expect(readdirSync(directory)).toEqual([big.meta.sha256]);
  });
});
