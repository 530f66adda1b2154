import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { YunbianError } from '@yunbian/transport';
import { sha256Hex } from './fetch-model';
import { keptVersion, ModelCache } from './model-cache';
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

  /** The model files (the folder of kept registry records aside). */
  const files = () => readdirSync(directory).filter((f) => f !== 'meta');

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
    expect(files()).toEqual([]);
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
    expect(files().sort()).toEqual([a.meta.sha256, c.meta.sha256].sort());
    expect(models.stats().evicted).toBe(1);

    clock += 1000;
    const big = add('big', 300); // larger than the whole cache: kept alone
    await models.ensure(big.meta);
    expect(files()).toEqual([big.meta.sha256]);
  });

  it('with the registry unreachable, resolves a model it served before from the record it kept, without fetching', async () => {
    const m = add('ocr-det', 50);
    const first = cache();
    await first.ensure(await first.resolve('ocr-det', undefined, async () => m.meta));
    expect(fetched).toEqual(['ocr-det']);

    // A restarted instance (a new process: a new cache over the same folder), the uplink cut.
    const cut = () => Promise.reject(new Error('TIMEOUT: JetStream did not answer'));
    const again = cache();
    const meta = await again.resolve('ocr-det', undefined, cut);
    expect(meta).toEqual(m.meta);
    expect(await again.resolve('ocr-det', 1, cut)).toEqual(m.meta);
    expect(readFileSync(await again.ensure(meta))).toEqual(Buffer.from(m.bytes));
    expect(fetched).toEqual(['ocr-det']);
    expect(again.stats()).toMatchObject({ hits: 1, misses: 0 });

    // What the registry answered stands; what the node never served cannot start offline.
    await expect(
      again.resolve('ocr-det', 9, () =>
        Promise.reject(new YunbianError('NOT_FOUND', 'model ocr-det has no version 9')),
      ),
    ).rejects.toThrow('has no version 9');
    await expect(again.resolve('ocr-det', 2, cut)).rejects.toThrow(
      /the model registry did not answer \(TIMEOUT: JetStream did not answer\) and this node has no copy of model ocr-det v2 it served before/,
    );
    // A kept record whose file was evicted is no copy.
    rmSync(path.join(directory, m.meta.sha256));
    await expect(again.resolve('ocr-det', undefined, cut)).rejects.toThrow('has no copy of model ocr-det');
  });

  it('picks the newest kept version, or the one asked for', () => {
    const kept = ['det.1.json', 'det.12.json', 'det.3.json', 'det-v2.7.json', 'det.x.json', 'det.2.json.part'];
    expect(keptVersion('det', kept)).toBe(12);
    expect(keptVersion('det', kept, 3)).toBe(3);
    expect(keptVersion('det', kept, 4)).toBeUndefined();
    expect(keptVersion('rec', kept)).toBeUndefined();
  });
});
