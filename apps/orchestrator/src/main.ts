import './instrument';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { envInt, JsonLogger, setLogFields } from '@yunbian/common';
import { metricsRequestListener, shutdownTracing, traceHttpRequests, yunbianMetrics } from '@yunbian/observability';
import { AppModule } from './app.module';
import { loadEngineConfig } from './engine-config';

async function main(): Promise<void> {
  setLogFields({ service: 'yunbian-orchestrator' });
  const engine = loadEngineConfig();
  if (engine.mode === 'site') setLogFields({ service: 'yunbian-orchestrator', engine: engine.id, site: engine.site });
  const logger = new JsonLogger('orchestrator');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(engine), {
    logger,
    bodyParser: false,
  });
  const limit = process.env.YUNBIAN_BODY_LIMIT ?? '8mb';
  app.useBodyParser('json', { limit });
  app.useBodyParser('text', { limit, type: ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'] });
  // API answers are fresh state, never revalidated: skip hashing every body for an ETag.
  app.set('etag', false);
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  app.use(traceHttpRequests());
  app.use('/metrics', metricsRequestListener(yunbianMetrics()));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(engine.mode === 'site' ? `Yunbian site engine (${engine.site})` : 'Yunbian orchestrator')
      .setDescription('Edge service catalogue (nodes, services, instances) and workflows (definitions, runs)')
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  const port = envInt('PORT', 3000);
  await app.listen(port, process.env.HOST ?? '0.0.0.0');
  logger.info('orchestrator listening', {
    mode: engine.mode,
    site: engine.site,
    engine: engine.id,
    url: `http://localhost:${port}`,
    docs: `http://localhost:${port}/docs`,
  });
}

process.once('exit', () => void shutdownTracing());

main().catch((err: Error) => {
  process.stderr.write(`yunbian-orchestrator: ${err.message}\n`);
  process.exit(1);
});
