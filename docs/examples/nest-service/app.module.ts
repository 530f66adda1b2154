import { Module } from '@nestjs/common';
import { SensorStatsController } from './sensor-stats.controller';

@Module({ controllers: [SensorStatsController] })
export class AppModule {}
