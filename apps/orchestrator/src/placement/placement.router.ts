import { Inject, Injectable } from '@nestjs/common';
import { CatalogRouter } from '@yunbian/catalog';
import { CatalogService } from '../catalog/catalog.service';

/** The placement router of `@yunbian/catalog` over the orchestrator's catalogue, for Nest. */
@Injectable()
export class PlacementRouter extends CatalogRouter {
  constructor(@Inject(CatalogService) catalog: CatalogService) {
    super(catalog);
  }
}
