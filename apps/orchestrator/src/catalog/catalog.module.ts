import { Module } from '@nestjs/common';
import { CatalogController } from './catalog.controller';
import { CatalogEventsController } from './catalog-events.controller';
import { CatalogService } from './catalog.service';
import { DeploymentService } from './deployment.service';

@Module({
  controllers: [CatalogController, CatalogEventsController],
  providers: [CatalogService, DeploymentService],
  exports: [CatalogService, DeploymentService],
})
export class CatalogModule {}
