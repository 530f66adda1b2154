import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { LeastLoadedRouter } from '../placement/least-loaded.router';
import { STEP_ROUTER } from '../placement/step-router';
import { WorkflowEngine } from './workflow-engine.service';
import { WorkflowRegistry } from './workflow-registry.service';
import { WorkflowsController } from './workflows.controller';
import { WorkflowsGateway } from './workflows.gateway';

@Module({
  imports: [CatalogModule],
  controllers: [WorkflowsController],
  providers: [
    WorkflowRegistry,
    WorkflowEngine,
    WorkflowsGateway,
    { provide: STEP_ROUTER, useClass: LeastLoadedRouter },
  ],
  exports: [WorkflowEngine, WorkflowRegistry],
})
export class WorkflowsModule {}
