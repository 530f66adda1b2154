import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { HubRegistryModels } from './hub-registry-models';
import { ModelsModule } from './models.module';
import { ModelsService } from './models.service';
import { SplitController } from './split.controller';
import { SplitService } from './split.service';
import { SplitStepRunner } from './split-step.runner';

@Module({
  imports: [ModelsModule, CatalogModule],
  controllers: [SplitController],
  providers: [SplitService, SplitStepRunner],
  exports: [SplitStepRunner],
})
export class SplitModule {}

/**
 * A site engine's split steps: planned from its catalogue view (the site's nodes and links as
 * its agents report them) and the cloud's registry read through the leaf (`HubRegistryModels`:
 * the model, its profiles; head and tail registered there). No REST: plans and profiles are
 * asked of the cloud.
 */
@Module({
  imports: [CatalogModule],
  providers: [{ provide: ModelsService, useClass: HubRegistryModels }, SplitService, SplitStepRunner],
  exports: [SplitStepRunner],
})
export class SiteSplitModule {}
