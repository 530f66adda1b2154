import { Kvm, type KV } from '@nats-io/kv';
import { withDeadline, type JsonLogger } from '@yunbian/common';
import { versionToken, type InstanceRecord, type NodeRecord, type ServiceDescriptor } from '@yunbian/contracts';
import { createKv, type NatsTransport } from '@yunbian/transport';
import type { CatalogSnapshot } from '@yunbian/catalog';

export const CATALOG_BUCKET = 'yb-catalog';
/** How long a site engine waits for the cloud's catalogue snapshot before starting from announcements. */
const SNAPSHOT_DEADLINE_MS = 2_000;

export type { CatalogSnapshot };

/**
 * The catalogue's durable copy in a JetStream KV bucket. Writes are ordered per key and
 * never block the caller; the in-memory catalogue stays the source of reads.
 */
export class CatalogStore {
  private readonly pending = new Map<string, Promise<void>>();
  /** The last `load` read the bucket (false: the cloud's bucket did not answer). */
  loaded = false;

  private constructor(
    private readonly kv: KV | undefined,
    private readonly logger: JsonLogger,
    /** A site engine's view: it loads the cloud's snapshot and never writes. */
    readonly readOnly: boolean,
  ) {}

  /** The bucket in the transport's JetStream domain (the hub's). */
  static async open(transport: NatsTransport, logger: JsonLogger): Promise<CatalogStore> {
    const kv = await createKv(new Kvm(transport.jetstream()), CATALOG_BUCKET, { history: 1 });
    return new CatalogStore(kv, logger, false);
  }

  /**
   * The cloud's bucket, read once for a starting view and never written (a site engine is
   * not the catalogue's authority). Unreachable (the uplink is down, the cloud never ran):
   * an empty snapshot and `loaded` false (the site engine starts from its site's copy).
   */
  static async openReadOnly(transport: NatsTransport, logger: JsonLogger): Promise<CatalogStore> {
    try {
      // Bounded: with the uplink just cut the leaf may not know yet, and each JetStream call would wait 5 s.
      const kv = await withDeadline(
        (async () => {
          const kv = await new Kvm(transport.jetstream()).open(CATALOG_BUCKET);
          await kv.status();
          return kv;
        })(),
        SNAPSHOT_DEADLINE_MS,
        'the cloud catalogue did not answer',
      );
      return new CatalogStore(kv, logger, true);
    } catch (err) {
      logger.warn('cloud catalogue unreachable', { error: (err as Error).message });
      return new CatalogStore(undefined, logger, true);
    }
  }

  async load(): Promise<CatalogSnapshot> {
    const snapshot: CatalogSnapshot = { nodes: [], instances: [], services: [] };
    const kv = this.kv;
    if (!kv) return snapshot;
    const keys: string[] = [];
    try {
      for await (const key of await kv.keys()) keys.push(key);
    } catch (err) {
      if (!this.readOnly) throw err;
      this.logger.warn('cloud catalogue unreadable', { error: (err as Error).message });
      return snapshot;
    }
    for (const key of keys) {
      const entry = await kv.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      const value = entry.json<never>();
      if (key.startsWith('node.')) snapshot.nodes.push(value);
      else if (key.startsWith('instance.')) snapshot.instances.push(value);
      else if (key.startsWith('service.')) snapshot.services.push(value);
    }
    this.loaded = true;
    return snapshot;
  }

  saveNode(node: NodeRecord): void {
    this.write(`node.${node.id}`, node);
  }

  deleteNode(id: string): void {
    this.write(`node.${id}`, undefined);
  }

  saveInstance(instance: InstanceRecord): void {
    this.write(`instance.${instance.id}`, instance);
  }

  deleteInstance(id: string): void {
    this.write(`instance.${id}`, undefined);
  }

  saveService(service: ServiceDescriptor): void {
    this.write(`service.${service.name}.${versionToken(service.version)}`, service);
  }

  /** Resolves when every write issued so far is stored. */
  async flush(): Promise<void> {
    await Promise.all(this.pending.values());
  }

  /** A read-only view has nothing to store: always reachable. */
  async isReachable(): Promise<boolean> {
    if (this.readOnly) return true;
    try {
      await this.kv!.status();
      return true;
    } catch {
      return false;
    }
  }

  private write(key: string, value: unknown): void {
    const kv = this.kv;
    if (this.readOnly || !kv) return;
    const previous = this.pending.get(key) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        if (value === undefined) await kv.purge(key);
        else await kv.put(key, JSON.stringify(value));
      })
      .catch((err: Error) => this.logger.error('catalogue write failed', { key, error: err.message }))
      .finally(() => {
        if (this.pending.get(key) === next) this.pending.delete(key);
      });
    this.pending.set(key, next);
  }
}
