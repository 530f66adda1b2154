import { Kvm, type KV } from '@nats-io/kv';
import { createKv, type NatsTransport } from '@yunbian/transport';
import { pickVersion, WORKFLOW_BUCKET, type StoredWorkflow } from '@yunbian/workflow';

/**
 * The orchestrator's workflow registry read from its KV bucket (`yb-workflows`): a name's
 * versions are read once and kept until the bucket says that name changed.
 */
export class RegistryView {
  private readonly cache = new Map<string, Promise<StoredWorkflow[]>>();
  private stopped = false;

  private constructor(private readonly kv: KV) {}

  static async open(transport: NatsTransport): Promise<RegistryView> {
    // Same settings as the orchestrator's registry, so whichever starts first creates it alike.
    const kv = await createKv(new Kvm(transport.connection), WORKFLOW_BUCKET, { history: 1 });
    const view = new RegistryView(kv);
    const updates = await kv.watch({ key: 'wf.>', include: 'updates' });
    void (async () => {
      for await (const entry of updates) {
        if (view.stopped) break;
        view.cache.delete(entry.key.split('.')[1]);
      }
    })();
    view.stopWatching = () => updates.stop();
    return view;
  }

  private stopWatching: () => void = () => undefined;

  /** Stored versions of `name`, ascending (empty when none). */
  versions(name: string): Promise<StoredWorkflow[]> {
    let versions = this.cache.get(name);
    if (!versions) {
      versions = this.read(name);
      this.cache.set(name, versions);
      versions.catch(() => this.cache.delete(name));
    }
    return versions;
  }

  /** A stored version (the latest when `version` is omitted); NOT_FOUND says what exists, as GET /workflows does. */
  async get(name: string, version?: number): Promise<StoredWorkflow> {
    const versions = await this.versions(name);
    const names = versions.length === 0 ? await this.names() : [];
    return pickVersion(name, versions, version, () => names);
  }

  private async read(name: string): Promise<StoredWorkflow[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`wf.${name}.*`)) keys.push(key);
    const versions: StoredWorkflow[] = [];
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') versions.push(entry.json<StoredWorkflow>());
    }
    return versions.sort((a, b) => a.version - b.version);
  }

  private async names(): Promise<string[]> {
    const names = new Set<string>();
    for await (const key of await this.kv.keys('wf.>')) names.add(key.split('.')[1]);
    return [...names];
  }

  close(): void {
    this.stopped = true;
    this.stopWatching();
  }
}
