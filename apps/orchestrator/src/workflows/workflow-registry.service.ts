import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV } from '@nats-io/kv';
import { createKv, NatsTransport, YunbianError } from '@yunbian/transport';
import { checkDefinition, pickVersion, WORKFLOW_BUCKET, workflowKey, type StoredWorkflow } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';

/** Versioned workflow definitions in JetStream KV (`wf.<name>.<version>`), cached in memory. */
@Injectable()
export class WorkflowRegistry implements OnModuleInit {
  private kv!: KV;
  private readonly workflows = new Map<string, StoredWorkflow[]>();
  private readonly changeListeners: ((name: string) => void)[] = [];

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.kv = await createKv(new Kvm(this.transport.connection), WORKFLOW_BUCKET, { history: 1 });
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') this.remember(entry.json<StoredWorkflow>());
    }
  }

  /** Called with a workflow's name after a new version of it is stored, or after it is deleted. */
  onChange(listener: (name: string) => void): void {
    this.changeListeners.push(listener);
  }

  private changed(name: string): void {
    for (const listener of this.changeListeners) listener(name);
  }

  private remember(stored: StoredWorkflow): void {
    const list = this.workflows.get(stored.name) ?? [];
    list.push(stored);
    list.sort((a, b) => a.version - b.version);
    this.workflows.set(stored.name, list);
  }

  /**
   * Validates and stores a definition. The same definition again is the same version
   * (created=false); a changed one becomes the next version.
   */
  async create(raw: unknown): Promise<{ workflow: StoredWorkflow; created: boolean }> {
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
