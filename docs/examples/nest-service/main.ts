import { instrument } from '@yunbian/observability';

// Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set (a no-op otherwise); tracing starts
// before Nest loads. Any OpenTelemetry set-up of the app's own does as well.
instrument('sensor-stats');

import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { YunbianServer } from '@yunbian/nest-transport';
import { AppModule } from './app.module';
import { readConfig } from './config';

const reading = {
  type: 'object',
  required: ['id', 'celsius'],
  properties: { id: { type: 'string' }, celsius: { type: 'number' } },
};

/** The only place the app meets Yunbian: its transport. */
async function main(): Promise<void> {
  const config = readConfig();
  const app = await NestFactory.createMicroservice(AppModule, {
    strategy: new YunbianServer({
      connection: { servers: config.natsUrl },
      service: 'sensor-stats',
      version: '1.0.0',
      nodeId: config.nodeId,
      site: config.site,
      operations: {
        summarize: {
          description: 'count, mean, maximum and the sensors above a threshold',
          input: {
            type: 'object',
            required: ['readings'],
            properties: { readings: { type: 'array', items: reading }, thresholdCelsius: { type: 'number' } },
          },
          output: {
            type: 'object',
            properties: {
              count: { type: 'integer' },
              meanCelsius: { type: 'number' },
              maxCelsius: { type: 'number' },
              hot: { type: 'array', items: { type: 'string' } },
            },
          },
        },
        fahrenheit: { input: reading, output: { type: 'object', properties: { fahrenheit: { type: 'number' } } } },
      },
    }),
  });
  app.enableShutdownHooks();
  await app.listen();
}

main().catch((err: Error) => {
  process.stderr.write(`sensor-stats: ${err.message}\n`);
  process.exit(1);
});
