import { ErrorCodes, RUN_ENGINE_CHOICES } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';

/** Response shapes of the workflow and run routes (`RunRecord` and `runView` in code), for the OpenAPI document. */

/** How a run, a step or an attempt failed (`ErrorBody` in libs/contracts; an HTTP error adds `statusCode`). */
export const FAILURE: SchemaObject = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', description: `${ErrorCodes.join(', ')}, or a code a service chose` },
    message: { type: 'string' },
    details: {},
  },
};

const RUN_STATUS: SchemaObject = { enum: ['running', 'succeeded', 'failed', 'cancelled'] };
const TIME: SchemaObject = { type: 'string', format: 'date-time' };

const RUN_ENGINE: SchemaObject = {
  type: 'object',
  required: ['kind', 'id', 'reason'],
  properties: {
    kind: { enum: ['cloud', 'site', 'embedded'] },
    id: { type: 'string', description: "the engine's own id" },
    site: { type: 'string' },
    reason: { type: 'string', description: 'why the run executes there' },
  },
};

/** One run in `GET /runs`: no input, output or steps. */
export const RUN_SUMMARY: SchemaObject = {
  type: 'object',
  required: ['id', 'workflow', 'status', 'durability', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'string', example: 'edge-report.3f2a…' },
    workflow: {
      type: 'object',
      required: ['name', 'version'],
      properties: { name: { type: 'string' }, version: { type: 'integer' } },
    },
    status: RUN_STATUS,
    durability: { enum: ['durable', 'none'] },
    createdAt: TIME,
    updatedAt: TIME,
    finishedAt: TIME,
    traceId: { type: 'string', description: 'the trace in Jaeger, when tracing is on' },
    parent: {
      type: 'object',
      description: 'the run and step that started this one (sub-workflows)',
      properties: {
        runId: { type: 'string' },
        stepId: { type: 'string' },
        taskIndex: { type: ['integer', 'null'] },
        attempt: { type: 'integer' },
      },
    },
    executedBy: RUN_ENGINE,
    error: FAILURE,
  },
};

const ATTEMPT: SchemaObject = {
  type: 'object',
  properties: {
    item: { type: 'integer', description: 'forEach steps: the item it served' },
    attempt: { type: 'integer' },
    purpose: { enum: ['primary', 'escalation', 'fallback'] },
    tier: { type: 'integer', description: 'tiered steps: the tier it ran at' },
    service: { type: 'string', description: '`name@version` it called' },
    node: { type: 'string' },
    instance: { type: 'string' },
    model: { type: 'string' },
    childRun: { type: 'string', description: 'sub-workflow steps: the run it started' },
    idempotencyKey: { type: 'string' },
    queuedAt: TIME,
    startedAt: TIME,
    finishedAt: TIME,
    error: FAILURE,
    abandoned: { type: 'object', properties: { at: TIME, reason: { type: 'string' } } },
    placement: { type: 'object', description: 'strategy, reason and every candidate with its estimates or rejection' },
  },
};

const STEP_VIEW: SchemaObject = {
  type: 'object',
  required: ['id', 'state', 'attempts', 'history'],
  properties: {
    id: { type: 'string' },
    state: { enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'] },
    reason: { type: 'string', description: 'why it was skipped' },
    attempts: { type: 'integer' },
    items: { type: 'integer', description: 'forEach steps: the number of items' },
    node: { type: 'string', description: 'node of the latest attempt' },
    instance: { type: 'string' },
    queuedAt: TIME,
    startedAt: TIME,
    finishedAt: TIME,
    error: FAILURE,
    output: {},
    tiers: {
      type: 'array',
      description: 'tiered steps, per item: which tier answered each sample and what each tier did',
      items: { type: 'object', properties: { item: { type: 'integer' }, samples: {}, tiers: {} } },
    },
    history: { type: 'array', items: ATTEMPT },
  },
};

/** `GET /runs/{id}`, and the answer of a start, cancel or retry. */
export const RUN_DETAIL: SchemaObject = {
  ...RUN_SUMMARY,
  required: [...(RUN_SUMMARY.required as string[]), 'steps'],
  properties: {
    ...RUN_SUMMARY.properties,
    input: { description: 'the run input' },
    output: { description: "the workflow's output, once it succeeded" },
    steps: { type: 'array', items: STEP_VIEW, description: 'in definition order' },
  },
};

/** One stored version of a workflow (`StoredWorkflow`). */
export const WORKFLOW_RECORD: SchemaObject = {
  type: 'object',
  required: ['name', 'version', 'hash', 'createdAt', 'definition'],
  properties: {
    name: { type: 'string' },
    version: { type: 'integer' },
    hash: { type: 'string', description: 'of the definition: an identical one is not stored again' },
    createdAt: TIME,
    definition: { type: 'object', description: 'the stored definition; see GET /schemas/workflow' },
  },
};

export const WORKFLOW_SUMMARY: SchemaObject = {
  type: 'object',
  required: ['name', 'version', 'createdAt'],
  properties: {
    name: { type: 'string' },
    version: { type: 'integer', description: 'the latest' },
    description: { type: 'string' },
    createdAt: TIME,
  },
};

export const WORKFLOW_DELETED: SchemaObject = {
  type: 'object',
  required: ['name', 'deletedVersions'],
  properties: { name: { type: 'string' }, deletedVersions: { type: 'integer' } },
};

/** The body of `POST /workflows/{name}/runs`; its keys are the only ones the route reads. */
export const RUN_BODY: SchemaObject = {
  type: 'object',
  properties: {
    input: { description: 'the run input (checked against the workflow input schema)' },
    version: { type: 'integer' },
    durability: { enum: ['durable', 'none'] },
    origin: {
      type: 'object',
      properties: { nodeId: { type: 'string' } },
      description: 'the node the input comes from',
    },
    dataTier: { enum: ['public', 'edge-private', 'user-private'], description: 'tier of the input data' },
    engine: {
      enum: [...RUN_ENGINE_CHOICES],
      description:
        'auto (default): a site engine when every step places at one site, else the cloud; cloud: the cloud engine; site: the site engine of the origin’s site (422 when a step cannot place there)',
    },
  },
};
