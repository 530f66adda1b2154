import { Kvm, type KV } from '@nats-io/kv';
import type { JsonLogger } from '@yunbian/common';
import { versionToken, type InstanceRecord, type NodeRecord, type ServiceDescriptor } from '@yunbian/contracts';
import { createKv, type NatsTransport } from '@yunbian/transport';
import type { CatalogSnapshot } from '@yunbian/catalog';

export const CATALOG_BUCKET = 'yb-catalog';

export type { CatalogSnapshot };

/**
 * The catalogue's durable copy in a JetStream KV bucket. Writes are ordered per key and
 * never block the caller; the in-memory catalogue stays the source of reads.
 */
export class CatalogStore {
  private readonly pending = new Map<string, Promise<void>>();

  private constructor(
    private readonly kv: KV,
    private readonly logger: JsonLogger,
  ) {}

  static async open(transport: NatsTransport, logger: JsonLogger): Promise<CatalogStore> {
    const kv = await createKv(new Kvm(transport.connection), CATALOG_BUCKET, { history: 1 });
    return new CatalogStore(kv, logger);
  }

  async load(): Promise<CatalogSnapshot> {
    const snapshot: CatalogSnapshot = { nodes: [], instances: [], services: [] };
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      const value = entry.json<never>();
      if (key.startsWith('node.')) snapshot.nodes.push(value);
      else if (key.startsWith('instance.')) snapshot.instances.push(value);
      else if (key.startsWith('service.')) snapshot.services.push(value);
    }
    return snapshot;
  }

  saveNode(node: NodeRecord): void {
    this.write(`node.${node.id}`, node);
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

  async isReachable(): Promise<boolean> {
    try {
      await this.kv.status();
      return true;
    } catch {
      return false;
    }
  }

  private write(key: string, value: unknown): void {
    const previous = this.pending.get(key) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        if (value === undefined) await this.kv.purge(key);
        else await this.kv.put(key, JSON.stringify(value));
      })
      .catch((err: Error) => this.logger.error('catalogue write failed', { key, error: err.message }))
      .finally(() => {
        if (this.pending.get(key) === next) this.pending.delete(key);
      });
    this.pending.set(key, next);
  }
}
