import type { SchemaObject } from '../../catalog/catalog.schemas';

/** A trigger in GET /workflows/{name} (`TriggerStatus` in libs/contracts). */
export const TRIGGER_STATUS: SchemaObject = {
  type: 'object',
  required: [
    'id',
    'kind',
    'source',
    'site',
    'state',
    'concurrency',
    'inFlight',
    'runsStarted',
    'duplicates',
    'dropped',
    'failed',
  ],
  properties: {
    id: { type: 'string', example: 'orders' },
    kind: { enum: ['subject', 'stream', 'schedule', 'samples'] },
    source: {
      type: 'string',
      description: 'the subject, the stream (and its filter), or the cron expression (and time zone)',
      example: 'ORDERS (orders.created)',
    },
    site: { type: 'string', description: 'the site whose engine runs it' },
    state: {
      enum: ['active', 'starting', 'not-running'],
      description: 'as the answering engine sees it; not-running says why in reason',
    },
    reason: {
      type: 'string',
      description: 'why it is not running: another site runs it, its stream does not exist, …',
      example: 'stream ORDERS does not exist: create it (…); the trigger starts within 5 s once it does',
    },
    concurrency: { type: 'integer', description: 'runs of this trigger in flight at once, at most' },
    inFlight: { type: 'integer', description: 'runs it started that are still running' },
    runsStarted: { type: 'integer', description: 'runs started since this engine started' },
    duplicates: {
      type: 'integer',
      description: 'messages delivered again whose run existed: acknowledged, no second run',
    },
    dropped: { type: 'integer', description: 'subject messages or schedule fires over the concurrency bound' },
    failed: { type: 'integer', description: 'events that started no run (bad input, store unavailable…)' },
    lastFiredAt: { type: 'string', format: 'date-time' },
    lastRunId: { type: 'string', example: 'ingest.orders.17' },
    lastError: {
      type: 'object',
      properties: { at: { type: 'string', format: 'date-time' }, message: { type: 'string' } },
    },
    nextFireAt: { type: 'string', format: 'date-time', description: 'schedule triggers' },
    consumer: { type: 'string', description: 'stream triggers: the durable JetStream consumer' },
    pending: {
      type: 'object',
      description: 'samples triggers: samples counted towards the next fire, labelled ones and their accuracy',
      properties: { samples: { type: 'integer' }, labelled: { type: 'integer' }, accuracy: { type: 'number' } },
    },
  },
};

/** GET /workflows/{name}. */
export const WORKFLOW_VIEW: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'integer' },
    hash: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    definition: { type: 'object', description: 'the stored definition; see GET /schemas/workflow' },
    versions: { type: 'array', items: { type: 'integer' } },
    triggers: { type: 'array', items: TRIGGER_STATUS, description: "the latest version's triggers and their state" },
  },
};
