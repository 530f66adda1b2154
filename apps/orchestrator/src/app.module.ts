import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { NatsTracePropagator, shutdownTracing } from '@yunbian/observability';
import { siteInboxPrefix } from '@yunbian/contracts';
import { TransportModule } from './transport.module';
import { CatalogModule } from './catalog/catalog.module';
import { DeploymentsModule } from './deployments/deployments.module';
import { EngineConfigModule } from './engine-config.module';
import type { EngineConfig } from './engine-config';
import { HealthModule } from './health/health.module';
import { ModelAliasesModule } from './models/model-aliases.module';
import { ModelsModule } from './models/models.module';
import { ModelCommandsModule } from './models/model-commands.module';
import { ReplicasModule } from './replicas/replicas.module';
import { CompressionModule } from './models/compression.module';
import { SiteSplitModule, SplitModule } from './models/split.module';
import { WorkflowsModule } from './workflows/workflows.module';
import { TelemetryModule } from './telemetry/telemetry.module';
import { ErrorFilter } from './http/error.filter';
import { ContentTypeGuard, RouteParamPipe } from './http/request-guards';
import { AuthModule } from './auth/auth.module';
import { EnrolmentModule } from './enrolment/enrolment.module';
import { AuthGuard } from './auth/auth.guard';
import type { AuthConfig } from './auth/auth-config';

@Module({})
export class AppModule {
  /**
   * The orchestrator for its engine mode. A site engine connects to its site's leaf NATS
   * server and reads the cloud's state (definitions, catalogue snapshot) from the hub's
   * JetStream domain; it has no model registry of its own (models are uploaded to the cloud;
   * its split steps read the cloud's through the leaf).
   */
  static forRoot(engine: EngineConfig, auth: AuthConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        EngineConfigModule.forRoot(engine),
        TransportModule.forRoot({
          name: engine.mode === 'site' ? `site-engine-${engine.site}` : 'orchestrator',
          propagator: new NatsTracePropagator(),
          jetStreamDomain: engine.hubDomain,
          // A site engine's inboxes are its site's: the site's leaf connection does not export them.
          ...(engine.mode === 'site' ? { inboxPrefix: siteInboxPrefix(engine.site) } : {}),
        }),
        // Credentials, keys, rate limits, audit log (the KV bucket and stream in the hub's domain).
        AuthModule.forRoot(auth),
        // Leases of cloud replicas: taken before anything executes or decides.
        ReplicasModule,
        ModelAliasesModule,
        CatalogModule,
        // In both modes: a site engine answers /deployments saying the cloud reconciles them.
        DeploymentsModule,
        WorkflowsModule,
        ...(engine.mode === 'cloud'
          ? [
              ModelsModule,
              ModelCommandsModule,
              CompressionModule,
              SplitModule,
              EnrolmentModule.forRoot(engine.natsTrustDir, engine.nodeJoinToken),
              TelemetryModule,
            ]
          : [SiteSplitModule]),
        HealthModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        // First the credential (401), rate limit (429) and role (403) of every route (guards run in
        // this order); then hostile input is refused before any handler: bodies of a type the route
        // does not read (415), path parameters that are no identifier (400).
        { provide: APP_GUARD, useExisting: AuthGuard },
        { provide: APP_GUARD, useClass: ContentTypeGuard },
        { provide: APP_PIPE, useClass: RouteParamPipe },
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing();
  }
}
