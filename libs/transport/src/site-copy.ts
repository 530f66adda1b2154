import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { createKv } from './durability';
import type { NatsTransport } from './nats-transport';

/** What a copy must write to match what it is given: keys to put (their value changed) and keys to purge. */
export function copyChanges(
  written: ReadonlyMap<string, string>,
  wanted: ReadonlyMap<string, string>,
): { put: string[]; purge: string[] } {
  const put: string[] = [];
  const purge: string[] = [];
  for (const [key, fingerprint] of wanted) if (written.get(key) !== fingerprint) put.push(key);
  for (const key of written.keys()) if (!wanted.has(key)) purge.push(key);
  return { put, purge };
}

/**
 * A site engine's copy of something it reads from the hub (the workflow registry, the
 * catalogue view, placement figures), as JSON values in a KV bucket of the site's JetStream
 * domain, on the site's leaf: written while the uplink is up, read at start when the hub
 * does not answer. `replace` writes only what changed since the copy's last write.
 */
export class SiteCopy {
  /** Fingerprint of every value as last read or written, by key. */
  private readonly written = new Map<string, string>();

  private constructor(
    private readonly kv: KV,
    readonly bucket: string,
    private readonly fingerprint: (value: unknown) => string,
  ) {}

  /**
   * Opens (or creates, with the process's replica setting) `bucket` in `domain`. `fingerprint`
   * (default: the JSON) is what `replace` compares: one that leaves out what changes all the
   * time (a heartbeat's time) keeps the writes few.
   */
  static async open(
    transport: NatsTransport,
    bucket: string,
    domain: string | undefined,
    options: { fingerprint?: (value: unknown) => string } = {},
  ): Promise<SiteCopy> {
    const js = domain ? jetstream(transport.connection, { domain }) : transport.jetstream();
    const kv = await createKv(new Kvm(js), bucket, { history: 1 });
    return new SiteCopy(kv, bucket, options.fingerprint ?? ((value) => JSON.stringify(value)));
  }

  /** Every value in the copy, by key (as it was written; unreadable entries are skipped). */
  async entries<T>(): Promise<Map<string, T>> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    const entries = new Map<string, T>();
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation !== 'PUT') continue;
      try {
        const value = entry.json<T>();
        entries.set(key, value);
        this.written.set(key, this.fingerprint(value));
      } catch {
        // Not JSON: not ours to read; the next write of that key replaces it.
      }
    }
    return entries;
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.kv.put(key, JSON.stringify(value));
    this.written.set(key, this.fingerprint(value));
  }

  async purge(key: string): Promise<void> {
    await this.kv.purge(key);
    this.written.delete(key);
  }

  /**
   * Makes the copy hold exactly `values`: writes the keys whose fingerprint differs from what
   * was last read or written, purges the keys not in `values`.
   */
  async replace(values: ReadonlyMap<string, unknown>): Promise<{ put: number; purged: number }> {
    const wanted = new Map<string, string>();
    for (const [key, value] of values) wanted.set(key, this.fingerprint(value));
    const changes = copyChanges(this.written, wanted);
    for (const key of changes.put) await this.put(key, values.get(key));
    for (const key of changes.purge) await this.purge(key);
    return { put: changes.put.length, purged: changes.purge.length };
  }

  /**
   * Writes `values()` (see `replace`) every `intervalMs`, one write at a time; `stop` ends
   * the timer and writes once more. A failed write is passed to `onError` and tried again at
   * the next tick.
   */
  keepWriting(
    values: () => ReadonlyMap<string, unknown>,
    intervalMs: number,
    onError: (err: Error) => void,
  ): { stop(): Promise<void> } {
    let writing: Promise<void> | undefined;
    const write = (): Promise<void> => {
      writing ??= this.replace(values())
        .then(() => undefined, onError)
        .finally(() => (writing = undefined));
      return writing;
    };
    const timer = setInterval(() => void write(), intervalMs);
    timer.unref();
    return {
      async stop() {
        clearInterval(timer);
        await writing;
        await write();
      },
    };
  }
}
