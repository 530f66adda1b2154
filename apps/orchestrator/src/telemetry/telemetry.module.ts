import { Module } from '@nestjs/common';
import { CatalogModule } from '../catalog/catalog.module';
import { TelemetryController } from './telemetry.controller';
import { TelemetryService } from './telemetry.service';

/** The cloud side of telemetry: the hub stream sourcing every site's summaries, and user transfers. */
@Module({
  imports: [CatalogModule],
  controllers: [TelemetryController],
  providers: [TelemetryService],
})
export class TelemetryModule {}
