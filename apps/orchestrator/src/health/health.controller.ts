import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { NatsHealthIndicator } from '../transport.module';
import { CatalogService } from '../catalog/catalog.service';
import { DurabilityService } from './durability.service';
import { DURABILITY_REPORT } from './health.schemas';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(NatsHealthIndicator) private readonly nats: NatsHealthIndicator,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(DurabilityService) private readonly durability: DurabilityService,
  ) {}

  @Get('durability')
  @ApiOperation({
    summary:
      'What the JetStream state survives here: replicas (YUNBIAN_JS_REPLICAS and each bucket), the cluster, the server’s fsync setting',
  })
  @ApiResponse({ status: 200, schema: DURABILITY_REPORT })
  durabilityReport() {
    return this.durability.report();
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: NATS is connected and the catalogue store answers' })
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.nats.check('nats'),
      async () => {
        const session = this.indicators.check('catalogStore');
        return (await this.catalog.isStoreReachable())
          ? session.up()
          : session.down({ message: 'JetStream KV unreachable' });
      },
    ]);
  }
}
