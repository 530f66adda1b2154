import type { ApiResponseSchemaHost } from '@nestjs/swagger';
import {
  ErrorCodes,
  INSTANCE_RESOURCES_SCHEMA,
  NODE_TIERS,
  SERVICE_KINDS,
  SERVICE_LIBRARY_PROBLEM_KINDS,
} from '@yunbian/contracts';

export type SchemaObject = ApiResponseSchemaHost['schema'];

/** Request and response shapes of the catalogue API, as JSON Schema (validation + OpenAPI). */
export const START_INSTANCE_BODY: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'nodeId'],
  properties: {
    service: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]+(@.+)?$',
      description: '`name@version`, `name@range` (e.g. `json-transform@^1`) or `name` for the latest',
      example: 'json-transform@1.0.0',
    },
    nodeId: { type: 'string', minLength: 1, example: 'edge-a' },
    config: { type: 'object', description: 'settings handed to the instance' },
    // Ajv validates with draft-07 (numeric exclusiveMinimum); OpenAPI 3.0 types spell it as a boolean.
    resources: { ...INSTANCE_RESOURCES_SCHEMA, example: { cpu: 0.5, memoryMb: 256 } } as unknown as SchemaObject,
  },
};

const RESOURCES: SchemaObject = {
  type: 'object',
  properties: { cpu: { type: 'number', description: 'CPU cores, fractional' }, memoryMb: { type: 'number' } },
};

const LOAD: SchemaObject = {
  type: 'object',
  properties: {
    cpuPercent: { type: 'number' },
    memoryUsedMb: { type: 'number' },
    memoryTotalMb: { type: 'number' },
    loadAverage1m: { type: 'number' },
    agentMemoryMb: { type: 'number', description: 'resident memory of the agent process, MiB' },
    instanceMemoryMb: {
      type: 'object',
      additionalProperties: { type: 'number' },
      description: 'resident memory of each instance by id, MiB (shared-worker instances: an equal share)',
    },
    sharedWorkerMemoryMb: { type: 'number', description: "resident memory of the node's shared worker, MiB" },
  },
};

const MEASURED_BANDWIDTH: SchemaObject = {
  type: 'object',
  properties: {
    mbps: { type: 'number', description: 'median of the recent samples, Mbit/s' },
    measuredAt: { type: 'number', description: 'newest sample, epoch ms (orchestrator clock)' },
    ageMs: { type: 'number', description: 'age of the newest sample when the heartbeat was sent' },
    samples: { type: 'number' },
    source: {
      enum: ['active', 'passive'],
      description:
        'a probe the agent sent, or (orchestrator link only) step requests the orchestrator timed; the younger wins',
    },
    viaNode: { type: 'string' },
    direction: {
      enum: ['to-node', 'from-node'],
      description: 'passive figures: which way the newest sample went (a large step input, or a large output)',
    },
  },
};

export const NODE_RECORD: SchemaObject = {
  type: 'object',
  required: ['id', 'site', 'tier', 'arch', 'tags', 'cpuCores', 'memoryMb', 'costPerHour', 'status'],
  properties: {
    id: { type: 'string' },
    site: { type: 'string' },
    tier: { enum: [...NODE_TIERS] },
    arch: { type: 'string' },
    tags: { type: 'array', items: { type: 'string' } },
    cpuCores: { type: 'number' },
    memoryMb: { type: 'number' },
    costPerHour: { type: 'number' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    limits: { ...RESOURCES, description: 'what the node may give its instances altogether' },
    limitsEnforcement: {
      type: 'object',
      description: 'whether the agent enforces limits and instance resources (cgroups) or only reports them, and why',
      properties: {
        mode: { enum: ['enforced', 'advisory'] },
        reason: { type: 'string' },
        cpu: { type: 'boolean' },
        memory: { type: 'boolean' },
      },
    },
    status: { enum: ['alive', 'suspect', 'dead'] },
    statusReason: { type: 'string' },
    heartbeatIntervalMs: { type: 'number' },
    lastHeartbeatAt: { type: 'string', format: 'date-time' },
    services: { type: 'array', items: { type: 'string' } },
    serviceProblems: {
      type: 'array',
      description: "files in the node's service directories it does not serve, and why (e.g. a .ts file not built)",
      items: {
        type: 'object',
        required: ['kind', 'path', 'message'],
        properties: {
          kind: { enum: [...SERVICE_LIBRARY_PROBLEM_KINDS] },
          path: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
    load: LOAD,
    rtt: {
      type: 'object',
      properties: {
        orchestratorMs: { type: 'number' },
        sites: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            properties: { ms: { type: 'number' }, viaNode: { type: 'string' }, ageMs: { type: 'number' } },
          },
        },
      },
    },
    bandwidth: {
      type: 'object',
      description:
        'upload bandwidths the agent measured (probes and real transfers); placement prefers them to bandwidthMbps',
      properties: {
        orchestrator: MEASURED_BANDWIDTH,
        sites: { type: 'object', additionalProperties: MEASURED_BANDWIDTH, description: 'per other site' },
      },
    },
  },
};

export const INSTANCE_RECORD: SchemaObject = {
  type: 'object',
  required: ['id', 'nodeId', 'service', 'version', 'status', 'subject'],
  properties: {
    id: { type: 'string' },
    nodeId: { type: 'string' },
    service: { type: 'string' },
    version: { type: 'string' },
    status: { enum: ['starting', 'ready', 'draining', 'failed'] },
    subject: { type: 'string', description: 'NATS subject pinned to this instance' },
    pid: { type: 'number' },
    inFlight: { type: 'number' },
    queued: { type: 'number' },
    latencyMs: {
      type: 'number',
      description: 'mean request time of the last 10 s, queue wait included (absent when idle)',
    },
    restarts: { type: 'number' },
    lastError: { type: 'string' },
    memoryMb: { type: 'number', description: 'resident memory, MiB (in the shared worker: an equal share of it)' },
    isolation: { enum: ['process', 'shared'], description: 'own worker process, or the node’s shared worker' },
    resources: { ...RESOURCES, description: 'CPU share and memory cap the instance was started with' },
    owner: {
      type: 'object',
      description: 'the deployment or placement plan that started it; absent for a one-off instance',
      properties: {
        kind: { enum: ['deployment', 'plan'] },
        name: { type: 'string' },
        revision: { type: 'number', description: "the deployment's template revision" },
      },
    },
    model: {
      type: 'object',
      description:
        'the registered model version it serves (model-serving services, once loaded; follows hot swaps); steps naming a model route by it',
      properties: {
        name: { type: 'string', example: 'digits' },
        version: { type: 'integer', example: 3 },
        sha256: { type: 'string', description: 'lowercase hex SHA-256 of the bytes it loaded' },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

export const SERVICE_RECORD: SchemaObject = {
  type: 'object',
  required: ['name', 'version', 'kind', 'nodes', 'instances'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    kind: { enum: [...SERVICE_KINDS] },
    description: { type: 'string' },
    input: { type: 'object', description: 'JSON Schema of the request' },
    output: { type: 'object', description: 'JSON Schema of the reply' },
    requirements: {
      type: 'object',
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        memoryMb: { type: 'number' },
        tier: { enum: [...NODE_TIERS] },
      },
    },
    concurrency: { type: 'number' },
    isolation: { enum: ['process', 'shared'] },
    durableResults: {
      type: 'boolean',
      description: 'outcomes kept in the yb-outcomes bucket by idempotency key, beyond the worker’s memory',
    },
    nodes: { type: 'array', items: { type: 'string' } },
    instances: { type: 'object', properties: { total: { type: 'number' }, ready: { type: 'number' } } },
  },
};

/** `GET /services/{name}`: every catalogued version of one service. */
export const SERVICE_VERSIONS: SchemaObject = {
  type: 'object',
  required: ['name', 'versions'],
  properties: { name: { type: 'string' }, versions: { type: 'array', items: SERVICE_RECORD } },
};

/** Every 4xx/5xx answer (`ErrorResponse` in the OpenAPI document): what was wrong, and what to change. */
export const ERROR_BODY: SchemaObject = {
  type: 'object',
  required: ['statusCode', 'code', 'message'],
  properties: {
    statusCode: { type: 'integer', example: 422 },
    code: { type: 'string', description: `one of ${ErrorCodes.join(', ')}`, example: 'UNSATISFIABLE' },
    message: { type: 'string', description: 'what was wrong, where, and what is accepted' },
    details: {
      description: 'machine-readable particulars: `issues` (JSON pointers), `accepted`, `retryAfterSeconds`, …',
    },
  },
};

/** `GET /catalog/stats` (`CatalogStats` in libs/catalog). */
export const CATALOG_STATS: SchemaObject = {
  type: 'object',
  required: ['nodes', 'instances', 'heartbeats', 'deadMarks'],
  properties: {
    nodes: {
      type: 'object',
      properties: { alive: { type: 'integer' }, suspect: { type: 'integer' }, dead: { type: 'integer' } },
    },
    instances: { type: 'object', additionalProperties: { type: 'integer' }, description: 'counts by status' },
    heartbeats: {
      type: 'object',
      properties: {
        received: { type: 'integer' },
        delayMs: {
          type: 'object',
          properties: { p50: { type: 'number' }, p99: { type: 'number' }, max: { type: 'number' } },
        },
      },
    },
    deadMarks: { type: 'integer', description: 'times a node went to dead since this orchestrator started' },
  },
};
