import { Inject, Injectable } from '@nestjs/common';
import { CatalogRouter } from '@yunbian/catalog';
import type { RouteDecision, RouteRequest } from '@yunbian/engine';
import { YunbianError } from '@yunbian/transport';
import { parseRef } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { EnginesService } from '../workflows/engines.service';
import { siteUplinkState, uplinkPlacementError, type ServiceInstanceWhere } from '../workflows/uplink';

/**
 * The placement router of `@yunbian/catalog` over the orchestrator's catalogue, for Nest. At a
 * site engine, a step it cannot place because its service runs only across the uplink while
 * the uplink is down fails saying so (`uplinkPlacementError`), not with placement's own refusal.
 */
@Injectable()
export class PlacementRouter extends CatalogRouter {
  constructor(
    @Inject(CatalogService) private readonly catalogue: CatalogService,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
    @Inject(EnginesService) private readonly engines: EnginesService,
  ) {
    super(catalogue);
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
