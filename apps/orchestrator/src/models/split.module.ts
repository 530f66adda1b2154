import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { ModelsModule } from './models.module';
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
