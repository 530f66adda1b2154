import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { JsonLogger, withDeadline } from '@yunbian/common';
import { createKv, NatsTransport, SiteCopy, YunbianError } from '@yunbian/transport';
import {
  checkDefinition,
  pickVersion,
  validateDefinition,
  registrySyncPlan,
  SITE_WORKFLOW_BUCKET,
  WORKFLOW_BUCKET,
  workflowKey,
  type StoredWorkflow,
} from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';

/** How often a site engine compares its copy of the registry with the hub's (and retries when it is cut off). */
const SITE_RESYNC_MS = 10_000;
/** How long one comparison with the hub's registry may take before it counts as unreachable. */
const HUB_DEADLINE_MS = 10_000;

/**
 * Versioned workflow definitions in JetStream KV (`wf.<name>.<version>`, in the hub's
 * domain), cached in memory. A site engine keeps a copy of the cloud's registry in its
 * site's JetStream domain (`SITE_WORKFLOW_BUCKET`): it starts from that copy, so it comes up
 * and executes the definitions it has while the uplink is cut, then brings it level with the
 * hub's (new versions fetched, deleted ones dropped: `registrySyncPlan`) and watches the hub's
 * bucket, comparing again every `SITE_RESYNC_MS` so what changed in the cloud during a cut
 * reaches it when the link returns. It creates none.
 */
@Injectable()
export class WorkflowRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('registry');
  /** The hub's bucket; a site engine opens it once the hub answers. */
  private kv?: KV;
  /** A site engine's copy in its own domain. */
  private copy?: SiteCopy;
  private readonly workflows = new Map<string, StoredWorkflow[]>();
  private readonly changeListeners: ((name: string) => void)[] = [];
  private watching?: { stop(): void };
  private resyncTimer?: NodeJS.Timeout;
  private syncing?: Promise<void>;
  private hubReachable?: boolean;
  private stopped = false;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.engine.mode === 'site') return this.startSite();
    const kv = await createKv(new Kvm(this.transport.jetstream()), WORKFLOW_BUCKET, { history: 1 });
    this.kv = kv;
    for (const key of await listKeys(kv)) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') this.remember(entry.json<StoredWorkflow>());
    }
    // Orchestrator replicas share the bucket: each follows the versions the others store.
    await this.watch(kv);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.watching?.stop();
  }

  /** A site engine: the site's copy first (no hub needed), then the hub's registry when it answers. */
  private async startSite(): Promise<void> {
    const copy = await SiteCopy.open(this.transport, SITE_WORKFLOW_BUCKET, this.engine.runDomain);
    this.copy = copy;
    for (const stored of (await copy.entries<StoredWorkflow>()).values()) this.remember(stored);
    this.logger.info('workflow definitions from the site copy', {
      versions: this.keys().size,
      domain: this.engine.runDomain,
    });
    // With definitions at hand the engine starts on them and catches up in the background
    // (a restart with the uplink cut is not held up by the hub's deadline); an empty copy
    // (the first start at this site) waits for the hub once.
    const first = this.resync();
    if (!this.keys().size) await first;
    this.resyncTimer = setInterval(() => void this.resync(), SITE_RESYNC_MS).unref();
  }

  /** Brings the site's copy level with the hub's registry; logs when the hub stops or starts answering. */
  private resync(): Promise<void> {
    this.syncing ??= withDeadline(this.syncFromHub(), HUB_DEADLINE_MS, 'the hub did not answer')
      .then(
        () => {
          if (this.hubReachable !== true) this.logger.info('cloud registry reachable; site copy in step with it');
          this.hubReachable = true;
        },
        (err: Error) => {
          if (this.hubReachable !== false) {
            this.logger.warn('cloud registry unreachable; executing the definitions copied at the site', {
              versions: this.keys().size,
              error: err.message,
            });
          }
          this.hubReachable = false;
        },
      )
      .finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncFromHub(): Promise<void> {
    const kv = (this.kv ??= await createKv(new Kvm(this.transport.jetstream()), WORKFLOW_BUCKET, { history: 1 }));
    // Planned against what was known before the listing: a version the watch adds meanwhile is not dropped.
    const known = this.keys();
    const plan = registrySyncPlan(known, await listKeys(kv));
    for (const key of plan.fetch) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') await this.apply(entry.json<StoredWorkflow>());
    }
    for (const key of plan.drop) await this.applyDelete(key);
    if (plan.fetch.length || plan.drop.length) {
      this.logger.info('site copy of the registry updated from the cloud', {
        fetched: plan.fetch.length,
        dropped: plan.drop.length,
      });
    }
    if (!this.watching && !this.stopped) await this.watch(kv);
  }

  /** A version the cloud stored: remembered, written to the site's copy, listeners told. */
  private async apply(stored: StoredWorkflow): Promise<void> {
    this.remember(stored);
    await this.copy?.put(workflowKey(stored.name, stored.version), stored);
    this.changed(stored.name);
  }

  /** A version the cloud deleted. */
  private async applyDelete(key: string): Promise<void> {
    const name = this.forget(key);
    await this.copy?.purge(key);
    if (name) this.changed(name);
  }

  /** The keys of every version held in memory. */
  private keys(): Set<string> {
    const keys = new Set<string>();
    for (const list of this.workflows.values()) for (const w of list) keys.add(workflowKey(w.name, w.version));
    return keys;
  }

  /** Follows the cloud's changes (a site engine's registry is a read-only copy of the hub's; a cloud replica's follows the others'). */
  private async watch(kv: KV): Promise<void> {
    const watcher = await kv.watch({ key: 'wf.>', include: 'updates' });
    // A resync that outlived its deadline may have started one meanwhile: one watch is enough.
    if (this.watching || this.stopped) {
      watcher.stop();
      return;
    }
    this.watching = watcher;
    void (async () => {
      try {
        for await (const entry of watcher as AsyncIterable<KvWatchEntry>) {
          try {
            if (entry.operation === 'PUT') await this.apply(entry.json<StoredWorkflow>());
            else await this.applyDelete(entry.key);
          } catch (err) {
            this.logger.warn('bad workflow entry', { key: entry.key, error: (err as Error).message });
          }
        }
      } catch (err) {
        this.logger.warn('watch of the cloud registry ended', { error: (err as Error).message });
      } finally {
        // The next resync compares the keys and watches again.
        if (this.watching === watcher) this.watching = undefined;
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

  /** The hub's bucket (the cloud opens it at start; only the cloud writes). */
  private hub(): KV {
    if (!this.kv) throw new YunbianError('UNAVAILABLE', 'the workflow registry is not open yet');
    return this.kv;
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
    const definition = checkDefinition(raw, this.validationContext());
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
    await this.hub().put(workflowKey(stored.name, version), JSON.stringify(stored));
    this.remember(stored);
    this.changed(stored.name);
    return { workflow: stored, created: true };
  }

  /** What POST /workflows would say of a definition, without storing it: every problem with its JSON pointer. */
  problems(raw: unknown): { pointer: string; message: string }[] {
    return validateDefinition(raw, this.validationContext()).issues;
  }

  private validationContext() {
    return {
      serviceVersions: (name: string) => this.catalog.serviceVersions(name).map((s) => s.version),
      workflowVersions: (name: string) => this.versions(name).map((w) => w.version),
    };
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
    for (const w of versions) await this.hub().purge(workflowKey(name, w.version));
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

async function listKeys(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  return keys;
}
