import { Injectable } from '@nestjs/common';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { JsonLogger } from '@yunbian/common';
import { MODEL_BUCKET, MODEL_META_BUCKET, type ModelMeta } from '@yunbian/models';
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
 * split step registers are written through the leaf to the same registry (the cloud's), from
 * where the site's agents fetch them as they fetch any model.
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
}
