import { Module, type DynamicModule } from '@nestjs/common';
import type { ServiceClass } from '@yunbian/service-sdk';

export const SERVICE_HANDLER = Symbol('SERVICE_HANDLER');

/** Hosts exactly one service class as a Nest provider (so services can use DI). */
@Module({})
export class WorkerModule {
  static forService(serviceClass: ServiceClass): DynamicModule {
    return {
      module: WorkerModule,
      providers: [serviceClass, { provide: SERVICE_HANDLER, useExisting: serviceClass }],
      exports: [SERVICE_HANDLER],
    };
  }
}
