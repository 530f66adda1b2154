import './instrument';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { JsonLogger, setLogFields } from '@yunbian/common';
import { metricsRequestListener, shutdownTracing, traceHttpRequests, yunbianMetrics } from '@yunbian/observability';
import { AppModule } from './app.module';
import { loadEngineConfig } from './engine-config';
import { loadAuthConfig } from './auth/auth-config';
import { AuditService } from './auth/audit.service';
import { auditRequests } from './auth/audit-requests';
import { AuthService } from './auth/auth.service';
import { loadHttpConfig } from './http/http-config';
import { finishDocument, type OpenApiDocument } from './http/openapi';
import { OPENAPI_COMPONENTS } from './http/openapi-components';
import { YAML_ROUTES, YAML_TYPES } from './http/request-guards';
import { nestingExceeds, nestingMessage } from './http/request-limits';

/** dist/console, beside dist/apps (this file is dist/apps/orchestrator/src/main.js). */
const CONSOLE_DIR = path.resolve(__dirname, '../../../console');

async function main(): Promise<void> {
  setLogFields({ service: 'yunbian-orchestrator' });
  const engine = loadEngineConfig();
  const http = loadHttpConfig();
  const auth = loadAuthConfig();
  if (engine.mode === 'site') setLogFields({ service: 'yunbian-orchestrator', engine: engine.id, site: engine.site });
  const logger = new JsonLogger('orchestrator');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(engine, auth), {
    logger,
    bodyParser: false,
  });
  const limit = http.bodyLimit;
  // Nesting is bounded before parsing: deeper bodies are refused with 413 naming the limit.
  const verify = (_req: unknown, _res: unknown, bytes: Buffer) => {
    if (nestingExceeds(bytes, http.jsonMaxDepth))
      throw Object.assign(new Error(nestingMessage(http.jsonMaxDepth)), { status: 413 });
  };
  // Nest reserves `verify` for `rawBody: true` only (off here) and passes it on otherwise; its type omits it.
  app.useBodyParser('json', { limit, verify } as { limit: string });
  app.useBodyParser('text', { limit, verify, type: [...YAML_TYPES] } as { limit: string });
  // API answers are fresh state, never revalidated: skip hashing every body for an ETag.
  app.set('etag', false);
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  app.use(traceHttpRequests());
  // Mutating calls become audit entries once answered (the guard leaves who made them on the request).
  app.use(auditRequests(app.get(AuditService)));
  // /metrics (and /docs) are served outside the router, so outside the guard: open unless YUNBIAN_METRICS_AUTH=on.
  if (auth.metricsAuth) {
    const authService = app.get(AuthService);
    app.use('/metrics', (req: IncomingMessage, res: ServerResponse, next: () => void) => {
      authService.authenticate(req.headers.authorization).then(
        (result) => {
          if ('principal' in result) return next();
          res.statusCode = 401;
          res.setHeader('WWW-Authenticate', 'Bearer realm="yunbian"');
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({ statusCode: 401, code: 'UNAUTHENTICATED', message: `GET /metrics: ${result.problem}` }),
          );
        },
        (err: Error) => {
          res.statusCode = 500;
          res.end(JSON.stringify({ statusCode: 500, code: 'INTERNAL', message: err.message }));
        },
      );
    });
  }
  app.use('/metrics', metricsRequestListener(yunbianMetrics()));
  // The web console: static files bundled at build time (dist/console), served outside the router like
  // /docs, so the page loads without a credential; every data call it makes carries the key it asks for.
  app.useStaticAssets(CONSOLE_DIR, { prefix: '/console', index: 'index.html', redirect: true, maxAge: '5m' });
  const built = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(engine.mode === 'site' ? `Yunbian site engine (${engine.site})` : 'Yunbian orchestrator')
      .setDescription('Edge service catalogue (nodes, services, instances) and workflows (definitions, runs)')
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an API key (yb_…) or a JWT' })
      .build(),
  );
  const document = finishDocument(built as unknown as OpenApiDocument, {
    components: OPENAPI_COMPONENTS,
    yamlRoutes: YAML_ROUTES,
  });
  SwaggerModule.setup('docs', app, document as unknown as OpenAPIObject, { jsonDocumentUrl: 'docs/openapi.json' });
  // Also where Nest's own default and most tools look for it.
  const documentJson = JSON.stringify(document);
  app.use('/docs-json', (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/') return next();
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(documentJson);
  });
  const port = http.port;
  await app.listen(port, http.host);
  logger.info('orchestrator listening', {
    mode: engine.mode,
    site: engine.site,
    engine: engine.id,
    url: `http://localhost:${port}`,
    docs: `http://localhost:${port}/docs`,
    console: `http://localhost:${port}/console`,
  });
}

process.once('exit', () => void shutdownTracing());

main().catch((err: Error) => {
  process.stderr.write(`yunbian-orchestrator: ${err.message}\n`);
  process.exit(1);
});
