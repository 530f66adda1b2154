import { Kvm, type KV } from '@nats-io/kv';
import type { DeploymentRecord } from '@yunbian/contracts';
import { createKv, type NatsTransport } from '@yunbian/transport';
import type { DeploymentMemory } from './reconcile-plan';

export const DEPLOYMENTS_BUCKET = 'yb-deployments';

/**
 * Deployments in a JetStream KV bucket (file storage: they survive orchestrator and NATS
 * restarts): `spec.<name>` the declared record, `memory.<name>` what the reconciler keeps
 * between passes (the nodes replicas ran on, autoscaling state).
 */
export class DeploymentStore {
  private constructor(private readonly kv: KV) {}

  /** The bucket in the transport's JetStream domain (the hub's). */
  static async open(transport: NatsTransport): Promise<DeploymentStore> {
    return new DeploymentStore(await createKv(new Kvm(transport.jetstream()), DEPLOYMENTS_BUCKET, { history: 1 }));
  }

  async load(): Promise<{ records: DeploymentRecord[]; memory: Map<string, DeploymentMemory> }> {
    const records: DeploymentRecord[] = [];
    const memory = new Map<string, DeploymentMemory>();
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') continue;
      if (key.startsWith('spec.')) records.push(entry.json<DeploymentRecord>());
      else if (key.startsWith('memory.')) memory.set(key.slice('memory.'.length), entry.json<DeploymentMemory>());
    }
    return { records, memory };
  }

  async save(record: DeploymentRecord): Promise<void> {
    await this.kv.put(`spec.${record.spec.name}`, JSON.stringify(record));
  }

  async saveMemory(name: string, memory: DeploymentMemory): Promise<void> {
    await this.kv.put(`memory.${name}`, JSON.stringify(memory));
  }

  async delete(name: string): Promise<void> {
    await this.kv.purge(`spec.${name}`);
    await this.kv.purge(`memory.${name}`);
  }
}
