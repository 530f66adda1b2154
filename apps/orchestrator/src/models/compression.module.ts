import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { DatasetsModule } from '../datasets/datasets.module';
import { CompressionController } from './compression.controller';
import { CompressionService } from './compression.service';
import { ModelsModule } from './models.module';

/** Datasets and compression of registered models into new versions (cloud orchestrator only, like the registry). */
@Module({
  imports: [ModelsModule, DatasetsModule, CatalogModule],
  controllers: [CompressionController],
  providers: [CompressionService],
})
export class CompressionModule {}
