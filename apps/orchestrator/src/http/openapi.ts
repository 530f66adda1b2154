import { accessFor, expressPattern, routeKey, type Access } from '../auth/route-roles';

/**
 * The OpenAPI document as the orchestrator serves it, finished from what @nestjs/swagger
 * builds out of the controllers' decorators: named component schemas (every response schema
 * equal to a registered one becomes a `$ref`), one `ErrorResponse` behind every 4xx/5xx,
 * operationIds a client generator can name methods by, and the 401/403/429 answers of every
 * authenticated route. Pure functions over plain objects, so a spec checks them without a server.
 */

/** The parts of an OpenAPI 3.1 document this module reads and writes. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  [key: string]: unknown;
}

export interface OpenApiOperation {
  operationId?: string;
  summary?: string;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, OpenApiResponse>;
  security?: Record<string, string[]>[];
  [key: string]: unknown;
}

export interface OpenApiResponse {
  description?: string;
  content?: Record<string, { schema?: unknown }>;
  [key: string]: unknown;
}

/**
 * The operationId of every route, by `METHOD /express/pattern` (the keys of ROUTE_ACCESS):
 * camelCase verb + resource, unique, and stable — generated clients name their methods by
 * them, so renaming a controller method must not rename an operation. A spec checks that
 * every route has one.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /health/live': 'getLiveness',
  'GET /health/ready': 'getReadiness',
  'GET /health/durability': 'getDurability',
  'GET /auth/keys': 'listApiKeys',
  'POST /auth/keys': 'createApiKey',
  'DELETE /auth/keys/:id': 'revokeApiKey',
  'GET /auth/whoami': 'whoAmI',
  'GET /audit': 'listAuditEntries',
  'GET /nodes': 'listNodes',
  'GET /nodes/:id': 'getNode',
  'DELETE /nodes/:id': 'removeNode',
  'POST /nodes/enrolments': 'createEnrolment',
  'POST /nodes/enrol': 'enrolNode',
  'DELETE /nodes/:id/credentials': 'revokeNodeCredentials',
  'POST /sites/:site/leaf-credentials': 'createLeafCredentials',
  'GET /telemetry/sites': 'listTelemetrySites',
  'POST /telemetry/users/:user/transfer': 'transferUserTelemetry',
  'GET /services': 'listServices',
  'GET /services/:name': 'getService',
  'GET /instances': 'listInstances',
  'GET /instances/:id': 'getInstance',
  'POST /instances': 'startInstance',
  'POST /instances/:id/configure': 'configureInstance',
  'DELETE /instances/:id': 'stopInstance',
  'GET /catalog/stats': 'getCatalogStats',
  'GET /network': 'getNetwork',
  'GET /events': 'streamCatalogEvents',
  'GET /deployments': 'listDeployments',
  'GET /deployments/:name': 'getDeployment',
  'POST /deployments': 'createDeployment',
  'PUT /deployments/:name': 'replaceDeployment',
  'DELETE /deployments/:name': 'deleteDeployment',
  'POST /placements/plan': 'planPlacement',
  'GET /placements/:id': 'getPlacementPlan',
  'POST /placements/:id/apply': 'applyPlacementPlan',
  'GET /schemas/workflow': 'getWorkflowSchema',
  'GET /engines': 'listEngines',
  'GET /workflows': 'listWorkflows',
  'GET /workflows/:name': 'getWorkflow',
  'GET /workflows/:name/versions/:version': 'getWorkflowVersion',
  'POST /workflows': 'createWorkflow',
  'POST /workflows/validate': 'validateWorkflow',
  'DELETE /workflows/:name': 'deleteWorkflow',
  'POST /workflows/:name/runs': 'startRun',
  'GET /runs': 'listRuns',
  'GET /runs/:id': 'getRun',
  'GET /runs/:id/events': 'streamRunEvents',
  'POST /runs/:id/cancel': 'cancelRun',
  'POST /runs/:id/retry': 'retryRun',
  'GET /models': 'listModels',
  'GET /models/:name': 'getModel',
  'GET /models/:name/versions/:version': 'getModelVersion',
  'GET /models/:name/versions/:version/content': 'downloadModelVersion',
  'GET /models/:name/aliases': 'listModelAliases',
  'GET /models/:name/aliases/:alias': 'getModelAlias',
  'POST /models': 'uploadModel',
  'DELETE /models/:name': 'deleteModel',
  'DELETE /models/:name/versions/:version': 'deleteModelVersion',
  'PUT /models/:name/aliases/:alias': 'setModelAlias',
  'DELETE /models/:name/aliases/:alias': 'deleteModelAlias',
  'POST /models/:name/versions/:version/compress': 'compressModelVersion',
  'POST /models/:name/versions/:version/profile': 'profileModelVersion',
  'POST /models/:name/versions/:version/split': 'splitModelVersion',
  'POST /models/:name/versions/:version/split-plan': 'planModelSplit',
  'GET /compressions': 'listCompressions',
  'GET /compressions/:id': 'getCompression',
  'GET /datasets': 'listDatasets',
  'GET /datasets/:name': 'getDataset',
  'POST /datasets': 'registerDataset',
  'DELETE /datasets/:name': 'deleteDataset',
};

export const ERROR_SCHEMA_NAME = 'ErrorResponse';
const ERROR_REF = { $ref: `#/components/schemas/${ERROR_SCHEMA_NAME}` };
/** The name `DocumentBuilder.addBearerAuth()` gives the scheme. */
const SECURITY_SCHEME = 'bearer';

/** What the answers every authenticated route may give mean, and what to do about them. */
export const AUTH_RESPONSES: Readonly<Record<string, string>> = {
  '401': 'no credential, or one that is not valid: send `Authorization: Bearer <key>` (an API key or a JWT)',
  '403': "the credential's role or sites do not cover this route or resource; the message names what is needed",
  '429': 'too many requests for this credential: wait the `Retry-After` seconds',
};

/** Answers of every route that reads a body. */
const BODY_RESPONSES: Readonly<Record<string, string>> = {
  '400': 'the body is invalid: `details.issues` lists each problem with its JSON pointer',
  '413': 'the body is larger or deeper than the limit the message names',
  '415': "the body's Content-Type is not one this route reads; the message lists the accepted ones",
};

const STATUS_TEXT: Readonly<Record<string, string>> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted',
  '400': 'Bad request',
  '401': 'Unauthenticated',
  '403': 'Forbidden',
  '404': 'Not found',
  '409': 'Conflict',
  '413': 'Payload too large',
  '415': 'Unsupported media type',
  '422': 'Unsatisfiable',
  '429': 'Too many requests',
  '500': 'Internal error',
  '503': 'Unavailable',
  '504': 'Timeout',
};

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** Keys whose values are data (examples, enumerations), never schemas to name. */
const DATA_KEYS = new Set(['example', 'examples', 'enum', 'const', 'default', 'required']);

/** JSON with object keys sorted: equal schemas, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** A JSON Schema as a component: without `$schema` and `$id` (an `$id` would move the base of every `$ref` in it). */
function asComponent(schema: unknown): unknown {
  const copy = structuredClone(schema) as Record<string, unknown>;
  delete copy.$schema;
  delete copy.$id;
  return copy;
}

/** Each schema (at any depth) equal to a component, replaced by a `$ref` to it; the root itself unless `keepRoot`. */
function nameSchemas(schema: unknown, byText: Map<string, string>, keepRoot = false): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map((s) => nameSchemas(s, byText));
  if (!keepRoot) {
    const name = byText.get(canonicalJson(schema));
    if (name) return { $ref: `#/components/schemas/${name}` };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>))
    out[key] = DATA_KEYS.has(key)
      ? value
      : key === 'properties' && value && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, nameSchemas(v, byText)]))
        : nameSchemas(value, byText);
  return out;
}

export interface FinishOptions {
  /** Named schemas: `ErrorResponse` and every resource. */
  components: Readonly<Record<string, unknown>>;
  operationIds?: Readonly<Record<string, string>>;
  /** Routes (`METHOD /express/pattern`) whose body may also be YAML: their JSON body schema is offered as `application/yaml` too. */
  yamlRoutes?: readonly string[];
  /** The access a route needs (default: ROUTE_ACCESS). */
  access?: (method: string, pattern: string) => Access;
}

/** The served document: see the module comment. Returns a new document; `doc` is left as it was. */
export function finishDocument(doc: OpenApiDocument, options: FinishOptions): OpenApiDocument {
  const operationIds = options.operationIds ?? OPERATION_IDS;
  const access = options.access ?? accessFor;
  if (!(ERROR_SCHEMA_NAME in options.components))
    throw new Error(`finishDocument: the components must include ${ERROR_SCHEMA_NAME}`);
  const byText = new Map<string, string>();
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(options.components)) {
    schemas[name] = asComponent(schema);
    byText.set(canonicalJson(schema), name);
    byText.set(canonicalJson(schemas[name]), name);
  }
  for (const name of Object.keys(schemas)) schemas[name] = nameSchemas(schemas[name], byText, true);

  const paths: OpenApiDocument['paths'] = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    paths[path] = {};
    for (const [method, raw] of Object.entries(item)) {
      if (!METHODS.includes(method)) {
        paths[path][method] = raw;
        continue;
      }
      const key = routeKey(method, expressPattern(path));
      const op: OpenApiOperation = structuredClone(raw);
      op.operationId = operationIds[key] ?? op.operationId;
      // A query parameter declared without a type arrives as a string.
      for (const parameter of (op.parameters ?? []) as { schema?: Record<string, unknown> }[])
        if (!parameter.schema || Object.keys(parameter.schema).length === 0) parameter.schema = { type: 'string' };
      const responses: Record<string, OpenApiResponse> = {};
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (Number(status) >= 400) {
          responses[status] = errorResponse(status, response.description);
          continue;
        }
        const content = response.content
          ? Object.fromEntries(
              Object.entries(response.content).map(([type, media]) => [
                type,
                { ...media, schema: nameSchemas(media.schema, byText) },
              ]),
            )
          : undefined;
        responses[status] = {
          ...response,
          description: response.description || STATUS_TEXT[status] || status,
          ...(content ? { content } : {}),
        };
      }
      const json = op.requestBody?.content?.['application/json'];
      if (json && options.yamlRoutes?.includes(key)) op.requestBody!.content!['application/yaml'] = { ...json };
      for (const media of Object.values(op.requestBody?.content ?? {}))
        media.schema = nameSchemas(media.schema, byText);
      if (op.requestBody)
        for (const [status, description] of Object.entries(BODY_RESPONSES))
          responses[status] ??= errorResponse(status, description);
      if (access(method, expressPattern(path)) === 'open') op.security = [];
      else {
        op.security = [{ [SECURITY_SCHEME]: [] }];
        for (const [status, description] of Object.entries(AUTH_RESPONSES))
          responses[status] ??= errorResponse(status, description);
      }
      op.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
      paths[path][method] = op;
    }
  }
  return {
    ...doc,
    // The schemas are JSON Schema (draft-07 from libs/contracts and the validators): 3.1 reads them as they are.
    openapi: '3.1.0',
    paths,
    components: { ...doc.components, schemas: { ...doc.components?.schemas, ...schemas } },
  };
}

function errorResponse(status: string, description: string | undefined): OpenApiResponse {
  return {
    description: description || STATUS_TEXT[status] || status,
    content: { 'application/json': { schema: ERROR_REF } },
  };
}

/**
 * What a client generator would trip over, one line per problem (empty: none): an operation
 * without an operationId that is camelCase and unique, without a success answer with a
 * schema, an error answer not in `ErrorResponse`, an authenticated route without its
 * 401/403/429, a `$ref` to a schema the document does not have.
 */
export function documentProblems(doc: OpenApiDocument): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const schemas = doc.components?.schemas ?? {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      const at = `${method.toUpperCase()} ${path}`;
      const id = op.operationId;
      if (!id || !/^[a-z][A-Za-z0-9]*$/.test(id))
        problems.push(`${at}: operationId ${JSON.stringify(id)} is not camelCase`);
      else if (seen.has(id)) problems.push(`${at}: operationId ${id} is also ${seen.get(id)}'s`);
      else seen.set(id, at);
      const responses = Object.entries(op.responses ?? {});
      const success = responses.filter(([status]) => /^2\d\d$/.test(status));
      if (!success.some(([, r]) => Object.values(r.content ?? {}).some((m) => m.schema !== undefined)))
        problems.push(`${at}: no success answer with a schema`);
      for (const [status, response] of responses) {
        for (const [type, media] of Object.entries(response.content ?? {}))
          if (media.schema === undefined) problems.push(`${at}: answer ${status} (${type}) has no schema`);
        if (
          Number(status) >= 400 &&
          canonicalJson(response.content?.['application/json']?.schema) !== canonicalJson(ERROR_REF)
        )
          problems.push(`${at}: answer ${status} is not an ${ERROR_SCHEMA_NAME}`);
      }
      const open = Array.isArray(op.security) && op.security.length === 0;
      if (!open)
        for (const status of Object.keys(AUTH_RESPONSES))
          if (!op.responses?.[status]) problems.push(`${at}: an authenticated route without answer ${status}`);
    }
  }
  for (const ref of refsIn(doc)) {
    const name = ref.replace('#/components/schemas/', '');
    if (!ref.startsWith('#/components/schemas/') || !(name in schemas)) problems.push(`$ref ${ref} does not resolve`);
  }
  return [...new Set(problems)];
}

function refsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, found));
  else if (value !== null && typeof value === 'object')
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (key === '$ref' && typeof child === 'string') found.add(child);
      else refsIn(child, found);
    }
  return found;
}
