import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { DeploymentsController } from './deployments.controller';
import { DeploymentsService } from './deployments.service';
import { ReconcilerService } from './reconciler.service';

@Module({
  imports: [CatalogModule],
  controllers: [DeploymentsController],
  providers: [DeploymentsService, ReconcilerService],
})
export class DeploymentsModule {}
