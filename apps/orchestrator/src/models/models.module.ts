import { Module } from '@nestjs/common';
import { ModelRegisterService } from './model-register.service';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

@Module({
  controllers: [ModelsController],
  providers: [ModelsService, ModelRegisterService],
  exports: [ModelsService],
})
export class ModelsModule {}
