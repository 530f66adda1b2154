import { JS_REPLICAS_VARIABLE } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';

/** `GET /health/durability` (`DurabilityReport` in libs/contracts). */
export const DURABILITY_REPORT: SchemaObject = {
  type: 'object',
  required: ['replicas', 'server', 'sync', 'buckets', 'summary'],
  properties: {
    replicas: {
      type: 'object',
      properties: {
        setting: { type: 'integer' },
        explicit: { type: 'boolean', description: `whether ${JS_REPLICAS_VARIABLE} was set` },
        variable: { type: 'string', enum: [JS_REPLICAS_VARIABLE] },
      },
    },
    server: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        cluster: { type: 'string' },
        clusterSize: { type: 'integer' },
      },
    },
    sync: { type: 'object', properties: { interval: { type: 'string' }, source: { type: 'string' } } },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['stream'],
        properties: {
          stream: { type: 'string' },
          replicas: { type: 'integer' },
          leader: { type: 'string' },
          current: { type: 'integer' },
          error: { type: 'string' },
        },
      },
    },
    summary: { type: 'string', description: 'what the state survives, in words' },
  },
};
