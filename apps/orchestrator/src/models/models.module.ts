import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { ModelRegisterService } from './model-register.service';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

@Module({
  imports: [CatalogModule],
  controllers: [ModelsController],
  providers: [ModelsService, ModelRegisterService],
  exports: [ModelsService],
})
export class ModelsModule {}
