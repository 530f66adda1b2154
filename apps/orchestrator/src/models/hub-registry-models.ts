import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { JsonLogger } from '@yunbian/common';
import { MODEL_BUCKET, MODEL_META_BUCKET, registerOverNats, type ModelMeta } from '@yunbian/models';
import { YunbianError } from '@yunbian/transport';
import { ModelsService } from './models.service';

/** After a failed open, the next attempt. */
const RETRY_MS = 5_000;

/**
 * The model registry as a site engine sees it: the cloud's buckets in the hub's JetStream
 * domain, read through the site's leaf (`transport.jetstream()` carries the hub domain), never
 * created here. Opened in the background, so a site engine whose uplink is down starts anyway
 * (its split steps then fail saying the registry is not read yet), and following the metadata
 * bucket, so versions and profiles the cloud stores later are seen. Head and tail parts a
 * split step registers go to the same registry (the cloud's) through its NATS command — staged
 * in the hub's `yb-model-staging` — so the cloud stores and signs them (only it holds the
 * signing key); the site's agents fetch them from there as they fetch any model.
 */
@Injectable()
export class HubRegistryModels extends ModelsService {
  private readonly log = new JsonLogger('hub-registry');
  private opened = false;
  private stopped = false;
  private retry?: NodeJS.Timeout;

  override onModuleInit(): Promise<void> {
    void this.open();
    return Promise.resolve();
  }

  override onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    super.onApplicationShutdown();
  }

  private async open(): Promise<void> {
    try {
      const js = this.transport.jetstream();
      this.kv = await new Kvm(js).open(MODEL_META_BUCKET);
      this.store = await new Objm(js).open(MODEL_BUCKET);
      const versions = await this.readAll();
      this.opened = true;
      this.log.info('hub model registry read', { versions });
    } catch (err) {
      if (this.stopped) return;
      this.log.warn('hub model registry unreadable; retried', { error: (err as Error).message, retry_ms: RETRY_MS });
      this.retry = setTimeout(() => void this.open(), RETRY_MS);
      this.retry.unref();
    }
  }

  override get(name: string, version: number): ModelMeta {
    if (!this.opened)
      throw new YunbianError(
        'UNAVAILABLE',
        `the cloud's model registry (${MODEL_META_BUCKET}, hub domain) is not read yet by this site engine: the uplink to the hub may be down; split steps run once it is read`,
      );
    return super.get(name, version);
  }

  /** Parts made here are registered (and signed) by the cloud's registry, never written directly. */
  override async upload(
    name: string | undefined,
    body: Readable,
    _declaredBytes?: number,
    derived?: Pick<ModelMeta, 'derivedFrom' | 'compression' | 'split' | 'training'>,
  ): Promise<{ meta: ModelMeta; created: boolean }> {
    if (!name) throw new YunbianError('BAD_REQUEST', 'a model registered from a site engine needs a name');
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    const bytes = Buffer.concat(chunks);
    const before = this.versions(name).length;
    const meta = await registerOverNats(
      this.transport,
      name,
      bytes,
      derived?.split ? `${derived.split.part}-${derived.split.cut}` : 'site',
      {
        ...(derived?.derivedFrom ? { derivedFrom: derived.derivedFrom } : {}),
        ...(derived?.split ? { split: derived.split } : {}),
        ...(derived?.training ? { training: derived.training } : {}),
      },
    );
    this.remember(meta);
    return { meta, created: this.versions(name).length > before };
  }
}
