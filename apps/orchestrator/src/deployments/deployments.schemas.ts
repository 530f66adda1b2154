import semver from 'semver';
import { INSTANCE_RESOURCES_SCHEMA, NODE_TIERS, type DeploymentSpec } from '@yunbian/contracts';
import type { SchemaIssue } from '@yunbian/common';
import type { SchemaObject } from '../catalog/catalog.schemas';

const NAME = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'letters, digits, - and _' };

/** The body of `POST /deployments` (and, without `name`, of `PUT /deployments/{name}`), as JSON Schema. */
export const DEPLOYMENT_SPEC_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'service', 'replicas'],
  properties: {
    name: { ...NAME, example: 'echo-pool' },
    service: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]+(@.+)?$',
      description: '`name`, `name@version` or `name@range`: new replicas run the newest catalogued version in range',
      example: 'json-transform@^1',
    },
    config: { type: 'object', description: 'settings handed to every replica' },
    resources: INSTANCE_RESOURCES_SCHEMA,
    replicas: {
      type: 'object',
      additionalProperties: false,
      description: '`{ "count": n }`, or `{ "min", "max", "autoscale": { "queueDepth"?, "latencyMs"? } }`',
      properties: {
        count: { type: 'integer', minimum: 0, maximum: 1000 },
        min: { type: 'integer', minimum: 0, maximum: 1000 },
        max: { type: 'integer', minimum: 1, maximum: 1000 },
        autoscale: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queueDepth: { type: 'number', exclusiveMinimum: 0, description: 'requests waiting per replica' },
            latencyMs: { type: 'number', exclusiveMinimum: 0, description: 'mean request time per replica, ms' },
            scaleUpAfterMs: { type: 'integer', minimum: 0 },
            scaleDownAfterMs: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    perSite: { type: 'boolean', description: 'the replica count applies to each site of the pool' },
    selector: {
      type: 'object',
      additionalProperties: false,
      description: 'the node pool: nodes meeting every condition given',
      properties: {
        sites: { type: 'array', minItems: 1, items: NAME },
        tier: { enum: [...NODE_TIERS] },
        tags: { type: 'array', items: { type: 'string', minLength: 1 } },
        nodes: { type: 'array', minItems: 1, items: NAME },
      },
    },
    placement: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxPerNode: { type: 'integer', minimum: 1 },
        strategy: { enum: ['spread', 'cost'] },
      },
    },
  },
} as const;

/** `PUT /deployments/{name}`: the same, the name coming from the path (a `name` in the body must match it). */
export const DEPLOYMENT_PUT_SCHEMA = {
  ...DEPLOYMENT_SPEC_SCHEMA,
  required: ['service', 'replicas'],
} as const;

/** What the schema cannot say: bounds in order, a metric to scale on, a real semver range. */
export function deploymentSpecIssues(spec: DeploymentSpec): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const at = spec.service.indexOf('@');
  if (at >= 0 && !semver.validRange(spec.service.slice(at + 1))) {
    issues.push({
      pointer: '/service',
      message: `"${spec.service.slice(at + 1)}" is not a semver version or range (try 1.0.0 or ^1)`,
    });
  }
  const r = spec.replicas as Partial<{ count: number; min: number; max: number; autoscale: object }>;
  const fixed = r.count !== undefined;
  const scaled = r.min !== undefined || r.max !== undefined || r.autoscale !== undefined;
  if (fixed === scaled || (scaled && (r.min === undefined || r.max === undefined || r.autoscale === undefined))) {
    issues.push({
      pointer: '/replicas',
      message: `needs either count (a fixed number) or all of min, max and autoscale (got ${Object.keys(r).join(', ') || 'none'})`,
    });
  } else if ('min' in spec.replicas) {
    const r = spec.replicas;
    if (r.min > r.max)
      issues.push({ pointer: '/replicas/min', message: `must be at most max (${r.max}); got ${r.min}` });
    if (r.autoscale.queueDepth === undefined && r.autoscale.latencyMs === undefined)
      issues.push({ pointer: '/replicas/autoscale', message: 'needs queueDepth or latencyMs (or both) to scale on' });
  }
  return issues;
}

const OWNED: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    nodeId: { type: 'string' },
    site: { type: 'string' },
    version: { type: 'string' },
    status: { enum: ['starting', 'ready', 'draining', 'failed'] },
    nodeStatus: { enum: ['alive', 'suspect', 'dead'] },
    revision: { type: 'number' },
    counted: { type: 'boolean', description: 'counted toward the desired replicas' },
    note: { type: 'string' },
  },
};

export const DEPLOYMENT_ACTION: SchemaObject = {
  type: 'object',
  properties: {
    action: { enum: ['start', 'drain'] },
    deployment: { type: 'string' },
    service: { type: 'string' },
    nodeId: { type: 'string' },
    site: { type: 'string' },
    instanceId: { type: 'string' },
    reason: { type: 'string' },
    error: { type: 'string' },
  },
};

export const DEPLOYMENT_VIEW: SchemaObject = {
  type: 'object',
  properties: {
    spec: DEPLOYMENT_SPEC_SCHEMA as unknown as SchemaObject,
    revision: { type: 'number', description: 'bumped when service, config or resources change' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    status: {
      type: 'object',
      properties: {
        scopes: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              scope: { type: 'string', description: '`pool`, or a site with perSite' },
              desired: { type: 'number' },
              counted: { type: 'number' },
              ready: { type: 'number' },
            },
          },
        },
        desired: { type: 'number' },
        ready: { type: 'number' },
        instances: { type: 'array', items: OWNED },
        lastReconcileAt: { type: 'string', format: 'date-time' },
        problems: { type: 'array', items: { type: 'string' } },
      },
    },
  },
};

export const DEPLOYMENT_CHANGE: SchemaObject = {
  type: 'object',
  properties: {
    deployment: DEPLOYMENT_VIEW,
    dryRun: { type: 'boolean' },
    actions: { type: 'array', items: DEPLOYMENT_ACTION, description: 'every start and drain, done or (dry run) not' },
  },
};
