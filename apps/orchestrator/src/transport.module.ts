import { Global, Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { DEFAULT_NATS_URL, JsonLogger } from '@yunbian/common';
import { NatsTransport, type TraceHeaderPropagator } from '@yunbian/transport';

@Injectable()
class TransportShutdown implements OnApplicationShutdown {
  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}
  async onApplicationShutdown(): Promise<void> {
    await this.transport.drain();
  }
}

/** Readiness: the NATS connection is up (reconnecting counts as down). */
@Injectable()
export class NatsHealthIndicator {
  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(HealthIndicatorService) private readonly health: HealthIndicatorService,
  ) {}

  async check(key = 'nats') {
    const session = this.health.check(key);
    if (!this.transport.isConnected) return session.down({ message: 'not connected to NATS' });
    try {
      const rttMs = await this.transport.rtt();
      return session.up({ server: this.transport.connection.getServer(), rttMs });
    } catch (err) {
      return session.down({ message: (err as Error).message });
    }
  }
}

/** Provides one NatsTransport per process (connected to NATS_URL) and its health check. */
@Global()
@Module({})
export class TransportModule {
  static forRoot(options: {
    name: string;
    servers?: string;
    propagator?: TraceHeaderPropagator;
    /** JetStream domain of Yunbian's shared state (the hub's, for a site engine behind a leaf). */
    jetStreamDomain?: string;
    /** The connection's inbox prefix (a site engine's: its site's, `siteInboxPrefix`). */
    inboxPrefix?: string;
  }): DynamicModule {
    const logger = new JsonLogger('nats');
    return {
      module: TransportModule,
      providers: [
        {
          provide: NatsTransport,
          useFactory: () =>
            NatsTransport.connect({
              servers: options.servers ?? process.env.NATS_URL ?? DEFAULT_NATS_URL,
              name: options.name,
              propagator: options.propagator,
              jetStreamDomain: options.jetStreamDomain,
              inboxPrefix: options.inboxPrefix,
              onStatus: (status) => logger.info('nats connection', { status }),
            }),
        },
        HealthIndicatorService,
        NatsHealthIndicator,
        TransportShutdown,
      ],
      exports: [NatsTransport, NatsHealthIndicator],
    };
  }
}
