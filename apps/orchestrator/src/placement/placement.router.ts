import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CatalogRouter } from '@yunbian/catalog';
import { JsonLogger } from '@yunbian/common';
import type { RouteDecision, RouteRequest } from '@yunbian/engine';
import type { ComputeObservation } from '@yunbian/placement';
import { NatsTransport, SiteCopy, YunbianError } from '@yunbian/transport';
import { parseRef } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { DeploymentsService } from '../deployments/deployments.service';
import { ModelAliasesService } from '../models/model-aliases.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { EnginesService } from '../workflows/engines.service';
import { siteUplinkState, uplinkPlacementError, type ServiceInstanceWhere } from '../workflows/uplink';
import { observationsByService } from './placement-figures';

/** A site engine's copy of its learnt placement figures (compute times), in its site's domain. */
export const SITE_PLACEMENT_BUCKET = 'yb-placement-site';
/** How often a site engine writes what it learnt to the copy. */
const COPY_MS = 5_000;

/**
 * The placement router of `@yunbian/catalog` over the orchestrator's catalogue, for Nest. At a
 * site engine, a step it cannot place because its service runs only across the uplink while
 * the uplink is down fails saying so (`uplinkPlacementError`), not with placement's own refusal.
 * A site engine also keeps the compute times it learnt in its site's domain and starts from
 * them, so after a restart (the uplink cut or not) it places steps with the figures it had.
 */
@Injectable()
export class PlacementRouter extends CatalogRouter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('placement');
  private copyWriter?: { stop(): Promise<void> };

  constructor(
    @Inject(CatalogService) private readonly catalogue: CatalogService,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ModelAliasesService) aliases: ModelAliasesService,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {
    super(catalogue, { aliases });
  }

  async onModuleInit(): Promise<void> {
    // Looked up, not injected: the deployments module is not a dependency of the workflow
    // modules, and is only consulted to say which deployment serves a model in an error.
    const deployments = this.moduleRef.get(DeploymentsService, { strict: false });
    const aliases = this.moduleRef.get(ModelAliasesService, { strict: false });
    this.useModelSources({
      aliases,
      deploymentsOf: (model) => (deployments.engine.mode === 'cloud' ? deployments.servingModel(model) : []),
    });
    if (this.config.mode !== 'site') return;
    const copy = await SiteCopy.open(this.transport, SITE_PLACEMENT_BUCKET, this.config.runDomain);
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

  override route(request: RouteRequest): RouteDecision {
    if (this.config.mode !== 'site') return super.route(request);
    try {
      return super.route(request);
    } catch (err) {
      if (!(err instanceof YunbianError) || (err.code !== 'UNAVAILABLE' && err.code !== 'UNSATISFIABLE')) throw err;
      const uplinkError = uplinkPlacementError({
        site: this.config.site,
        service: request.service,
        error: err.toBody(),
        instances: this.instancesOf(request.service),
        uplink: siteUplinkState({
          site: this.config.site,
          now: Date.now(),
          cloud: this.engines.cloudEvidence(),
          nodes: this.catalogue.listNodes(),
        }),
      });
      if (!uplinkError) throw err;
      throw new YunbianError(uplinkError.code, uplinkError.message, uplinkError.details);
    }
  }

  private instancesOf(service: string): ServiceInstanceWhere[] {
    return this.catalogue.instancesOfService(parseRef(service).name).map((instance) => {
      let node: { site?: string; tier?: ServiceInstanceWhere['tier'] } = {};
      try {
        node = this.catalogue.node(instance.nodeId);
      } catch {
        // A node no longer in the view: where it was is not known.
      }
      return { id: instance.id, nodeId: instance.nodeId, site: node.site, tier: node.tier, status: instance.status };
    });
  }
}
