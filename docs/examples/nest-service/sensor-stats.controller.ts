import { Controller } from '@nestjs/common';
import { MessagePattern, Payload, RpcException } from '@nestjs/microservices';

export interface Reading {
  id: string;
  celsius: number;
}

/**
 * A plain NestJS microservice controller: nothing here knows about Yunbian. Under
 * `YunbianServer` (main.ts) each pattern is a catalogued service, `sensor-stats-summarize`
 * and `sensor-stats-fahrenheit`, which workflow steps name like any other.
 */
@Controller()
export class SensorStatsController {
  @MessagePattern('summarize')
  summarize(@Payload() input: { readings: Reading[]; thresholdCelsius?: number }) {
    const { readings } = input;
    if (readings.length === 0)
      throw new RpcException({ code: 'BAD_REQUEST', message: 'readings is empty: nothing to summarise' });
    const threshold = input.thresholdCelsius ?? 40;
    const values = readings.map((r) => r.celsius);
    return {
      count: readings.length,
      meanCelsius: Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10,
      maxCelsius: Math.max(...values),
      hot: readings.filter((r) => r.celsius > threshold).map((r) => r.id),
      servedBy: process.pid,
    };
  }

  @MessagePattern('fahrenheit')
  fahrenheit(@Payload() reading: Reading) {
    return { id: reading.id, fahrenheit: Math.round(((reading.celsius * 9) / 5 + 32) * 10) / 10 };
  }
}
