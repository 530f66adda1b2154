import type { Role } from '@yunbian/contracts';

/** What a route needs: a role, or nothing (`open`: no credential asked for). */
export type Access = Role | 'open';

/**
 * The role each route needs, declared once here by method and route pattern (Express form,
 * `:param`). A route missing from this table needs `admin` (fail closed); a unit spec checks
 * that every route the controllers declare is in it. `/docs`, `/docs/openapi.json`, `/docs-json`,
 * `/metrics` and the console's static files under `/console` are served outside the router (see
 * main.ts): the console page loads without a credential, and its data calls go to the routes below.
 *
 * viewer: reads. operator: runs (start, cancel, retry), instances (deploy, configure, stop),
 * deployments and placement plans. admin: definitions, models, datasets, nodes, keys, audit.
 */
export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  'GET /health/live': 'open',
  'GET /health/ready': 'open',
  'GET /health/durability': 'open',

  'GET /auth/keys': 'admin',
  'POST /auth/keys': 'admin',
  'DELETE /auth/keys/:id': 'admin',
  'GET /auth/whoami': 'viewer',
  'GET /audit': 'admin',

  'GET /nodes': 'viewer',
  'GET /nodes/:id': 'viewer',
  'DELETE /nodes/:id': 'admin',
  'POST /nodes/enrolments': 'admin',
  // The enrolment token in the body is the credential (single-use, issued by an admin).
  'POST /nodes/enrol': 'open',
  'DELETE /nodes/:id/credentials': 'admin',
  'POST /sites/:site/leaf-credentials': 'admin',
  'GET /telemetry/sites': 'viewer',
  // Moves a user's edge-private data between sites: never by default, an admin's explicit call.
  'POST /telemetry/users/:user/transfer': 'admin',
  'GET /services': 'viewer',
  'GET /services/:name': 'viewer',
  'GET /instances': 'viewer',
  'GET /instances/:id': 'viewer',
  'POST /instances': 'operator',
  'POST /instances/:id/configure': 'operator',
  'DELETE /instances/:id': 'operator',
  'GET /catalog/stats': 'viewer',
  'GET /network': 'viewer',
  'GET /events': 'viewer',

  'GET /deployments': 'viewer',
  'GET /deployments/:name': 'viewer',
  'POST /deployments': 'operator',
  'PUT /deployments/:name': 'operator',
  'DELETE /deployments/:name': 'operator',
  'POST /placements/plan': 'operator',
  'GET /placements/:id': 'viewer',
  'POST /placements/:id/apply': 'operator',

  'GET /schemas/workflow': 'viewer',
  'GET /engines': 'viewer',
  'GET /workflows': 'viewer',
  'GET /workflows/:name': 'viewer',
  'GET /workflows/:name/versions/:version': 'viewer',
  'POST /workflows': 'admin',
  // Stores nothing: whoever may read definitions may check one.
  'POST /workflows/validate': 'viewer',
  'DELETE /workflows/:name': 'admin',
  'POST /workflows/:name/runs': 'operator',
  'GET /runs': 'viewer',
  'GET /runs/:id': 'viewer',
  'GET /runs/:id/events': 'viewer',
  'POST /runs/:id/cancel': 'operator',
  'POST /runs/:id/retry': 'operator',

  'GET /models': 'viewer',
  'GET /models/:name': 'viewer',
  'GET /models/:name/versions/:version': 'viewer',
  'GET /models/:name/versions/:version/content': 'viewer',
  'GET /models/:name/aliases': 'viewer',
  'GET /models/:name/aliases/:alias': 'viewer',
  'POST /models': 'admin',
  'DELETE /models/:name': 'admin',
  'DELETE /models/:name/versions/:version': 'admin',
  'PUT /models/:name/aliases/:alias': 'admin',
  'DELETE /models/:name/aliases/:alias': 'admin',
  'POST /models/:name/versions/:version/compress': 'admin',
  'POST /models/:name/versions/:version/profile': 'admin',
  'POST /models/:name/versions/:version/split': 'admin',
  'POST /models/:name/versions/:version/split-plan': 'admin',
  'GET /compressions': 'viewer',
  'GET /compressions/:id': 'viewer',

  'GET /datasets': 'viewer',
  'GET /datasets/:name': 'viewer',
  'POST /datasets': 'admin',
  'DELETE /datasets/:name': 'admin',
};

/** `GET /runs/:id` for a method and an Express route pattern (trailing slash dropped). */
export function routeKey(method: string, pattern: string): string {
  const path = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  return `${method.toUpperCase()} ${path}`;
}

/** What the route needs; `admin` when it is not declared. */
export function accessFor(method: string, pattern: string | undefined): Access {
  if (!pattern) return 'admin';
  return ROUTE_ACCESS[routeKey(method, pattern)] ?? 'admin';
}

/** An OpenAPI path (`/runs/{id}`) in Express form (`/runs/:id`). */
export function expressPattern(openApiPath: string): string {
  return openApiPath.replace(/\{([^}]+)\}/g, ':$1');
}
