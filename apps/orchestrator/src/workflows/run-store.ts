import { Kvm, type KV } from '@nats-io/kv';
import type { NatsTransport } from '@yunbian/transport';
import type { RunRecord } from '@yunbian/workflow';

export const RUN_BUCKET = 'yb-runs';

/**
 * Durable run state in JetStream KV, one key per run. Writes for one run are chained so
 * they land in order; the engine awaits them before dispatching.
 */
export class RunStore {
  private readonly chains = new Map<string, Promise<void>>();

  private constructor(private readonly kv: KV) {}

  static async open(transport: NatsTransport): Promise<RunStore> {
    return new RunStore(await new Kvm(transport.connection).create(RUN_BUCKET, { history: 1 }));
  }

  save(run: RunRecord): Promise<void> {
    const data = JSON.stringify(run);
    const previous = this.chains.get(run.id) ?? Promise.resolve();
    const next = previous.then(async () => {
      await this.kv.put(`run.${run.id}`, data);
    });
    const settled = next.catch(() => undefined);
    this.chains.set(run.id, settled);
    void settled.then(() => {
      if (this.chains.get(run.id) === settled) this.chains.delete(run.id);
    });
    return next;
  }

  async loadAll(): Promise<RunRecord[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys('run.>')) keys.push(key);
    const runs: RunRecord[] = [];
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') runs.push(entry.json<RunRecord>());
    }
    return runs;
  }
}
