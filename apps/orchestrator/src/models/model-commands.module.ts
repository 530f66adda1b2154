import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { ModelCommandsService } from './model-commands.service';
import { ModelsModule } from './models.module';

/** The registry's NATS commands for promotion workflows: aliases, serving a version, retiring instances (cloud only). */
@Module({
  imports: [ModelsModule, CatalogModule],
  providers: [ModelCommandsService],
})
export class ModelCommandsModule {}
