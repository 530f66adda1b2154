import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { NatsTracePropagator, shutdownTracing } from '@yunbian/observability';
import { TransportModule } from './transport.module';
import { CatalogModule } from './catalog/catalog.module';
import { HealthModule } from './health/health.module';
import { ModelsModule } from './models/models.module';
import { WorkflowsModule } from './workflows/workflows.module';
import { ErrorFilter } from './http/error.filter';

@Module({
  imports: [
    TransportModule.forRoot({ name: 'orchestrator', propagator: new NatsTracePropagator() }),
    CatalogModule,
    WorkflowsModule,
    ModelsModule,
    HealthModule,
  ],
  providers: [{ provide: APP_FILTER, useClass: ErrorFilter }],
})
export class AppModule {
  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing();
  }
}
