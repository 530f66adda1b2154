import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { INSTANCE_CONFIG, type ServiceClass } from '@yunbian/service-sdk';
import { NatsTransport } from '@yunbian/transport';

export const SERVICE_HANDLER = Symbol('SERVICE_HANDLER');

/** Hosts exactly one service class as a Nest provider (so services can use DI). */
@Module({})
export class WorkerModule {
  /** Services may inject INSTANCE_CONFIG (their settings) and NatsTransport (the worker's connection). */
  static forService(
    serviceClass: ServiceClass,
    config: Record<string, unknown>,
    transport: NatsTransport,
  ): DynamicModule {
    // The SDK package has no Nest dependency, so its classes are made providers here.
    Injectable()(serviceClass);
    return {
      module: WorkerModule,
      providers: [
        serviceClass,
        { provide: SERVICE_HANDLER, useExisting: serviceClass },
        { provide: INSTANCE_CONFIG, useValue: config },
        { provide: NatsTransport, useValue: transport },
      ],
      exports: [SERVICE_HANDLER],
    };
  }
}
