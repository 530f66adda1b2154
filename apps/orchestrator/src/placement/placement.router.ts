import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CatalogRouter } from '@yunbian/catalog';
import { JsonLogger } from '@yunbian/common';
import type { ComputeObservation } from '@yunbian/placement';
import { NatsTransport, SiteCopy } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { observationsByService } from './placement-figures';

/** A site engine's copy of its learnt placement figures (compute times), in its site's domain. */
export const SITE_PLACEMENT_BUCKET = 'yb-placement-site';
/** How often a site engine writes what it learnt to the copy. */
const COPY_MS = 5_000;

/**
 * The placement router of `@yunbian/catalog` over the orchestrator's catalogue, for Nest. A
 * site engine keeps the compute times it learnt in its site's domain and starts from them,
 * so after a restart (the uplink cut or not) it places steps with the figures it had.
 */
@Injectable()
export class PlacementRouter extends CatalogRouter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('placement');
  private copyWriter?: { stop(): Promise<void> };

  constructor(
    @Inject(CatalogService) catalog: CatalogService,
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {
    super(catalog);
  }

  async onModuleInit(): Promise<void> {
    if (this.engine.mode !== 'site') return;
    const copy = await SiteCopy.open(this.transport, SITE_PLACEMENT_BUCKET, this.engine.runDomain);
    const copied: ComputeObservation[] = [];
    for (const [key, list] of await copy.entries<ComputeObservation[]>()) {
      if (key.startsWith('compute.') && Array.isArray(list)) copied.push(...list);
    }
    const restored = this.computeProfiles().restore(copied);
    this.logger.info('learnt compute times from the site copy', { observations: restored });
    this.copyWriter = copy.keepWriting(
      () => observationsByService(this.computeProfiles().observations()),
      COPY_MS,
      (err) => this.logger.warn('site copy of the compute times not written', { error: err.message }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.copyWriter?.stop();
  }
}
