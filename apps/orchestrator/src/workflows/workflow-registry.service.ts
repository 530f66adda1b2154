import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { JsonLogger } from '@yunbian/common';
import { createKv, NatsTransport, YunbianError } from '@yunbian/transport';
import { checkDefinition, pickVersion, WORKFLOW_BUCKET, workflowKey, type StoredWorkflow } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';

/**
 * Versioned workflow definitions in JetStream KV (`wf.<name>.<version>`, in the hub's
 * domain), cached in memory. A site engine reads the cloud's registry: it watches the
 * bucket, so definitions created or deleted in the cloud reach it (and its change
 * listeners) while the uplink is up, and it keeps executing the ones it has while the
 * uplink is down. It creates none.
 */
@Injectable()
export class WorkflowRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('registry');
  private kv!: KV;
  private readonly workflows = new Map<string, StoredWorkflow[]>();
  private readonly changeListeners: ((name: string) => void)[] = [];
  private watching?: { stop(): void };

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    this.kv = await createKv(new Kvm(this.transport.jetstream()), WORKFLOW_BUCKET, { history: 1 });
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') this.remember(entry.json<StoredWorkflow>());
    }
    if (this.engine.mode === 'site') await this.watch();
  }

  onApplicationShutdown(): void {
    this.watching?.stop();
  }

  /** Follows the cloud's changes (a site engine's registry is a read-only copy of the hub's). */
  private async watch(): Promise<void> {
    const watcher = await this.kv.watch({ key: 'wf.>', include: 'updates' });
    this.watching = watcher;
    void (async () => {
      for await (const entry of watcher as AsyncIterable<KvWatchEntry>) {
        try {
          if (entry.operation === 'PUT') {
            const stored = entry.json<StoredWorkflow>();
            this.remember(stored);
            this.changed(stored.name);
          } else {
            const name = this.forget(entry.key);
            if (name) this.changed(name);
          }
        } catch (err) {
          this.logger.warn('bad workflow entry', { key: entry.key, error: (err as Error).message });
        }
      }
    })();
  }

  /** Drops the version a deleted key held; returns its workflow's name. */
  private forget(key: string): string | undefined {
    const match = /^wf\.(.+)\.(\d+)$/.exec(key);
    if (!match) return undefined;
    const list = (this.workflows.get(match[1]) ?? []).filter((w) => w.version !== Number(match[2]));
    if (list.length) this.workflows.set(match[1], list);
    else this.workflows.delete(match[1]);
    return match[1];
  }

  private assertWritable(): void {
    if (this.engine.mode !== 'site') return;
    throw new YunbianError(
      'BAD_REQUEST',
      `this is the site engine of ${this.engine.site}: workflow definitions are created and deleted in the cloud (POST /workflows on the cloud orchestrator); this engine reads them from there`,
    );
  }

  /** Called with a workflow's name after a new version of it is stored, or after it is deleted. */
  onChange(listener: (name: string) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(name: string): void {
    for (const listener of this.changeListeners) listener(name);
  }

  private remember(stored: StoredWorkflow): void {
    const list = (this.workflows.get(stored.name) ?? []).filter((w) => w.version !== stored.version);
    list.push(stored);
    list.sort((a, b) => a.version - b.version);
    this.workflows.set(stored.name, list);
  }

  /**
   * Validates and stores a definition. The same definition again is the same version
   * (created=false); a changed one becomes the next version.
   */
  async create(raw: unknown): Promise<{ workflow: StoredWorkflow; created: boolean }> {
    this.assertWritable();
    const definition = checkDefinition(raw, {
      serviceVersions: (name) => this.catalog.serviceVersions(name).map((s) => s.version),
      workflowVersions: (name) => this.versions(name).map((w) => w.version),
    });
    const { version: requested, ...rest } = definition;
    const hash = createHash('sha256').update(canonical(rest)).digest('hex');
    const existing = this.versions(definition.name);
    const latest = existing.at(-1);
    const same = existing.find((w) => w.hash === hash && (requested === undefined || w.version === requested));
    if (same) return { workflow: same, created: false };
    const version = requested ?? (latest?.version ?? 0) + 1;
    if (latest && version <= latest.version) {
      throw new YunbianError(
        'CONFLICT',
        `workflow ${definition.name} already has version ${latest.version}; a changed definition needs a higher version, or omit "version" to get ${latest.version + 1}`,
        { pointer: '/version' },
      );
    }
    const stored: StoredWorkflow = {
      name: definition.name,
      version,
      hash,
      createdAt: new Date().toISOString(),
      definition: { ...rest, version },
    };
    await this.kv.put(workflowKey(stored.name, version), JSON.stringify(stored));
    this.remember(stored);
    this.changed(stored.name);
    return { workflow: stored, created: true };
  }

  versions(name: string): StoredWorkflow[] {
    return this.workflows.get(name) ?? [];
  }

  list(): StoredWorkflow[] {
    return [...this.workflows.values()].map((v) => v.at(-1)!).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A stored version (the latest when `version` is omitted); 404 says what exists. */
  get(name: string, version?: number): StoredWorkflow {
    return pickVersion(name, this.versions(name), version, () => [...this.workflows.keys()]);
  }

  async delete(name: string): Promise<number> {
    this.assertWritable();
    const versions = this.versions(name);
    if (versions.length === 0) this.get(name);
    for (const w of versions) await this.kv.purge(workflowKey(name, w.version));
    this.workflows.delete(name);
    this.changed(name);
    return versions.length;
  }
}

/** JSON with sorted keys, so equal definitions hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
