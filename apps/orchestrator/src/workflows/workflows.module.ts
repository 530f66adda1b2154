import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { PlacementRouter } from '../placement/placement.router';
import { NetworkController } from '../placement/network.controller';
import { PlacementsController } from '../placement/placements.controller';
import { PlacementsService } from '../placement/placements.service';
import { STEP_ROUTER } from '../placement/step-router';
import { EnginesController } from './engines.controller';
import { EnginesService } from './engines.service';
import { RemoteRuns } from './remote-runs.service';
import { RunControl } from './run-control.service';
import { SiteRuns } from './site-runs.service';
import { WorkflowEngine } from './workflow-engine.service';
import { WorkflowRegistry } from './workflow-registry.service';
import { WorkflowsController } from './workflows.controller';
import { WorkflowsGateway } from './workflows.gateway';
import { TriggerRunner } from './triggers/trigger-runner.service';
import { SiteFactCollector } from './site-facts/site-fact-collector.service';
import { SiteFactPublisher } from './site-facts/site-fact-publisher';

@Module({
  imports: [CatalogModule],
  controllers: [WorkflowsController, EnginesController, PlacementsController, NetworkController],
  providers: [
    EnginesService,
    RemoteRuns,
    RunControl,
    SiteRuns,
    WorkflowRegistry,
    WorkflowEngine,
    WorkflowsGateway,
    TriggerRunner,
    PlacementRouter,
    { provide: STEP_ROUTER, useExisting: PlacementRouter },
    PlacementsService,
    SiteFactPublisher,
    SiteFactCollector,
  ],
  exports: [WorkflowEngine, WorkflowRegistry, EnginesService],
})
export class WorkflowsModule {}
