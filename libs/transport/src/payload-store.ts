import { jetstream } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { domainBucket, isPayloadRef, PAYLOAD_BUCKET, YunbianError, type PayloadRef } from '@yunbian/contracts';
import { createObjectStore } from './durability';
import type { NatsTransport } from './nats-transport';

export { isPayloadRef, PAYLOAD_BUCKET, type PayloadRef } from '@yunbian/contracts';

/** Values whose JSON is larger than this travel by reference. */
export const DEFAULT_OFFLOAD_BYTES = 256 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Large step inputs and outputs go through the JetStream object store: the sender
 * offloads a value above the threshold and sends a reference; the receiver resolves it.
 * Service handlers and expressions only ever see plain values.
 */
export class PayloadStore {
  /** Buckets of other JetStream domains that references named, opened on first use. */
  private readonly elsewhere = new Map<string, Promise<ObjectStore>>();
  /** Stores writing to other JetStream domains (`inDomain`), opened on first use. */
  private readonly writers = new Map<string, Promise<PayloadStore>>();

  private constructor(
    private readonly store: ObjectStore,
    readonly thresholdBytes: number,
    private readonly transport: NatsTransport,
    /**
     * The domain this store writes to when given explicitly, named in its references; absent,
     * the transport's default (the hub's), which references leave unnamed.
     */
    readonly domain: string | undefined,
    /** The bucket written to: `yb-payloads`, or `yb-payloads-<domain>` in a site's domain (`domainBucket`). */
    readonly bucket: string,
  ) {}

  /**
   * `options.domain`: the JetStream domain of the bucket (a site engine keeps its payloads in
   * its site's domain); absent, the transport's own (`jetStreamDomain`, else the server's).
   * A site's bucket is named after it (`yb-payloads-<site>`): its chunks' subjects are the
   * site's alone, so the hub's `yb-payloads` never captures them and the site's leaf
   * connection does not export them (`siteLeafDenyExports`).
   */
  static async open(
    transport: NatsTransport,
    thresholdBytes = DEFAULT_OFFLOAD_BYTES,
    options: { domain?: string } = {},
  ): Promise<PayloadStore> {
    const js = options.domain ? jetstream(transport.connection, { domain: options.domain }) : transport.jetstream();
    const bucket = domainBucket(PAYLOAD_BUCKET, options.domain, transport.jetStreamDomain);
    const store = await createObjectStore(new Objm(js), bucket);
    return new PayloadStore(store, thresholdBytes, transport, options.domain, bucket);
  }

  /** The value itself when small; otherwise stored under `name` and replaced by a reference. `json` saves serialising it again. */
  async offload(value: unknown, name: string, json?: string): Promise<unknown> {
    if (value === undefined || isPayloadRef(value)) return value;
    json ??= JSON.stringify(value);
    // Cheap pre-check: a string shorter than the threshold in UTF-16 units is small in bytes too… mostly.
    if (json.length * 3 <= this.thresholdBytes) return value;
    const bytes = encoder.encode(json);
    if (bytes.length <= this.thresholdBytes) return value;
    await this.store.putBlob({ name }, bytes);
    const ref: PayloadRef['$ybRef'] = { bucket: this.bucket, name, bytes: bytes.length };
    if (this.domain) ref.domain = this.domain;
    return { $ybRef: ref } satisfies PayloadRef;
  }

  /**
   * Like `offload`, but for an object too large to send it moves its large fields one by
   * one, so the small ones stay readable and a large field can be passed on by reference.
   */
  async offloadFields(value: unknown, name: string): Promise<unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || isPayloadRef(value)) {
      return this.offload(value, name);
    }
    const entries = Object.entries(value as Record<string, unknown>);
    const sizes = entries.map(([, v]) => (v === undefined ? 0 : JSON.stringify(v).length));
    if (sizes.reduce((a, b) => a + b, 0) * 3 <= this.thresholdBytes) return value;
    const out: Record<string, unknown> = {};
    await Promise.all(
      entries.map(async ([key, v], i) => {
        out[key] = sizes[i] * 3 > this.thresholdBytes / 4 ? await this.offload(v, `${name}.${key}`) : v;
      }),
    );
    return this.offload(out, name);
  }

  /** A value with a top-level reference, or references in its top-level fields, resolved. */
  async resolveDeep(value: unknown): Promise<unknown> {
    const resolved = await this.resolve(value);
    if (resolved === null || typeof resolved !== 'object' || Array.isArray(resolved)) return resolved;
    const entries = Object.entries(resolved as Record<string, unknown>);
    if (!entries.some(([, v]) => isPayloadRef(v))) return resolved;
    const out: Record<string, unknown> = {};
    await Promise.all(entries.map(async ([key, v]) => (out[key] = await this.resolve(v))));
    return out;
  }

  /** The plain value behind a reference (other values pass through). */
  async resolve(value: unknown): Promise<unknown> {
    if (!isPayloadRef(value)) return value;
    const domain = value.$ybRef.domain;
    const bucket = value.$ybRef.bucket || PAYLOAD_BUCKET;
    const store = domain === this.domain && bucket === this.bucket ? this.store : await this.storeIn(domain, bucket);
    const bytes = await store.getBlob(value.$ybRef.name);
    if (!bytes) {
      throw new YunbianError(
        'NOT_FOUND',
        `payload ${value.$ybRef.name} is gone from the object store (was its run already finished?)`,
        value,
      );
    }
    return JSON.parse(decoder.decode(bytes)) as unknown;
  }

  /** The bucket a reference names in `domain`; a reference without one names the transport's default (the hub's). */
  private storeIn(domain: string | undefined, bucket: string): Promise<ObjectStore> {
    const key = `${domain ?? ''}/${bucket}`;
    let store = this.elsewhere.get(key);
    if (!store) {
      const js = domain ? jetstream(this.transport.connection, { domain }) : this.transport.jetstream();
      store = new Objm(js).open(bucket);
      store.catch(() => this.elsewhere.delete(key));
      this.elsewhere.set(key, store);
    }
    return store;
  }

  /**
   * A store like this one writing to `domain` (a site engine's, named by the request): this
   * one when it is its own domain or none is given. A domain that cannot be opened is tried
   * again on the next call.
   */
  inDomain(domain: string | undefined): Promise<PayloadStore> {
    if (!domain || domain === this.domain) return Promise.resolve(this);
    let store = this.writers.get(domain);
    if (!store) {
      store = PayloadStore.open(this.transport, this.thresholdBytes, { domain });
      store.catch(() => this.writers.delete(domain));
      this.writers.set(domain, store);
    }
    return store;
  }

  /** Deletes every stored payload whose name starts with `prefix` (a run id). */
  async deleteWithPrefix(prefix: string): Promise<number> {
    const objects = await this.store.list();
    let deleted = 0;
    for (const info of objects) {
      if (!info.deleted && info.name.startsWith(prefix)) {
        await this.store.delete(info.name);
        deleted++;
      }
    }
    return deleted;
  }

  /** Deletes objects last written before `cutoffMs` (epoch ms) whose name `select` accepts. */
  async deleteOlderThan(cutoffMs: number, select: (name: string) => boolean = () => true): Promise<number> {
    let deleted = 0;
    for (const info of await this.store.list()) {
      if (!info.deleted && select(info.name) && Date.parse(info.mtime) < cutoffMs) {
        await this.store.delete(info.name);
        deleted++;
      }
    }
    return deleted;
  }

  async names(): Promise<string[]> {
    return (await this.store.list()).filter((i) => !i.deleted).map((i) => i.name);
  }
}
