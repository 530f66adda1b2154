import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { yunbianTracer } from './spans';
import { isTracingEnabled } from './tracing';

export interface HttpTracingOptions {
  /** Path prefixes not traced; probes and scrapes would bury the REST calls. */
  ignorePathPrefixes?: string[];
}

const DEFAULT_IGNORED = ['/health', '/metrics', '/docs'];

/** What Express adds to a request that this middleware reads. */
interface RoutedRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
  route?: { path?: unknown };
}

/**
 * Express/Nest middleware: one SERVER span per HTTP request, continuing a W3C
 * `traceparent` the caller sent, named `METHOD /route/{param}` once the route is known
 * (Jaeger then lists one operation per route, not per URL). The span is active in the
 * controller, so the run and step spans the engine opens there become its children.
 */
export function traceHttpRequests(
  options: HttpTracingOptions = {},
): (request: IncomingMessage, response: ServerResponse, next: (err?: unknown) => void) => void {
  const ignored = options.ignorePathPrefixes ?? DEFAULT_IGNORED;
  return (request, response, next) => {
    // Off: no URL parsing, listeners or context per request (the API would be no-ops anyway).
    if (!isTracingEnabled()) return next();
    const routed = request as RoutedRequest;
    const path = new URL(routed.originalUrl ?? request.url ?? '/', 'http://host').pathname;
    if (ignored.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return next();

    const method = request.method ?? 'GET';
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = yunbianTracer().startSpan(
      `${method} ${path}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': path } },
      parent,
    );
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const route = routeOf(routed);
      if (route) {
        span.setAttribute('http.route', route);
        span.updateName(`${method} ${route}`);
      }
      span.setAttribute('http.response.status_code', response.statusCode);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      if (!response.writableFinished) span.setAttribute('http.response.aborted', true);
      span.end();
    };
    response.once('finish', end);
    response.once('close', end);
    context.with(trace.setSpan(parent, span), () => next());
  };
}

/** The matched route template (`/instances/:id`), in OpenAPI style (`/instances/{id}`). */
function routeOf(request: RoutedRequest): string | undefined {
  const path = request.route?.path;
  if (typeof path !== 'string') return undefined;
  return `${request.baseUrl ?? ''}${path}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
