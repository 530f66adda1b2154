import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { CatalogRouter } from '@yunbian/catalog';
import { CatalogService } from '../catalog/catalog.service';
import { DeploymentsService } from '../deployments/deployments.service';
import { ModelAliasesService } from '../models/model-aliases.service';

/** The placement router of `@yunbian/catalog` over the orchestrator's catalogue, for Nest. */
@Injectable()
export class PlacementRouter extends CatalogRouter implements OnModuleInit {
  constructor(
    @Inject(CatalogService) catalog: CatalogService,
    @Inject(ModelAliasesService) aliases: ModelAliasesService,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {
    super(catalog, { aliases });
  }

  onModuleInit(): void {
    // Looked up, not injected: the deployments module is not a dependency of the workflow
    // modules, and is only consulted to say which deployment serves a model in an error.
    const deployments = this.moduleRef.get(DeploymentsService, { strict: false });
    const aliases = this.moduleRef.get(ModelAliasesService, { strict: false });
    this.useModelSources({
      aliases,
      deploymentsOf: (model) => (deployments.engine.mode === 'cloud' ? deployments.servingModel(model) : []),
    });
  }
}
