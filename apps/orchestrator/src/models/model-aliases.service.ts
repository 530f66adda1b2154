import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { JsonLogger } from '@yunbian/common';
import type { ModelAlias, ModelAliasSource, ModelAliasSpec } from '@yunbian/contracts';
import { ModelAliasStore } from '@yunbian/models';
import { NatsTransport, YunbianError } from '@yunbian/transport';

/**
 * The model aliases (`yb-model-aliases`), for routing (every engine, cloud and site) and
 * for the registry's REST API (cloud). Opened in the background: a site engine whose hub is
 * out of reach starts anyway, and steps naming an alias say aliases are not read yet.
 */
@Injectable()
export class ModelAliasesService implements ModelAliasSource, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('model-aliases');
  private store?: ModelAliasStore;
  private opening?: Promise<ModelAliasStore>;
  /** After a failed open, routing lookups try again from this time on (epoch ms), not on every call. */
  private retryAt = 0;

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  onModuleInit(): void {
    void this.open().catch(() => undefined);
  }

  private open(): Promise<ModelAliasStore> {
    this.opening ??= ModelAliasStore.open(this.transport).then(
      (store) => (this.store = store),
      (err: Error) => {
        this.opening = undefined;
        this.retryAt = Date.now() + 5_000;
        this.logger.warn('model aliases unreadable; retried on next use', { error: err.message });
        throw err;
      },
    );
    return this.opening;
  }

  /** The store, opened (again) if it is not yet; 503 when JetStream cannot be reached. */
  async writable(): Promise<ModelAliasStore> {
    try {
      return this.store ?? (await this.open());
    } catch (err) {
      throw new YunbianError('UNAVAILABLE', `model aliases cannot be read: ${(err as Error).message}`);
    }
  }

  alias(model: string, alias: string): ModelAlias | undefined {
    if (!this.store && !this.opening && Date.now() >= this.retryAt) void this.open().catch(() => undefined);
    return this.store?.alias(model, alias);
  }

  aliasesOf(model: string): ModelAlias[] {
    return this.store?.aliasesOf(model) ?? [];
  }

  async set(model: string, alias: string, spec: ModelAliasSpec, actor: string): Promise<ModelAlias> {
    const record = await (await this.writable()).set(model, alias, spec, actor);
    this.logger.info('model alias set', { model, alias, version: spec.version, canary: spec.canary, set_by: actor });
    return record;
  }

  async delete(model: string, alias: string): Promise<ModelAlias> {
    const record = await (await this.writable()).delete(model, alias);
    this.logger.info('model alias deleted', { model, alias });
    return record;
  }

  onApplicationShutdown(): void {
    this.store?.close();
  }
}
