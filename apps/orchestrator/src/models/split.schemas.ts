import { SPLIT_LOSSY_MODES, SPLIT_OBJECTIVES } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';

const INPUT_SHAPE = {
  type: 'object',
  description:
    'dimensions per input name, e.g. { "x": [1, 3, 640, 640] }; needed for dynamic dimensions past the batch',
  additionalProperties: {
    type: 'array',
    minItems: 1,
    maxItems: 8,
    items: { type: 'integer', minimum: 1, maximum: 1_000_000 },
  },
} as const;

/** JSON Schema of `POST /models/{name}/versions/{v}/split-plan`. */
export const SPLIT_PLAN_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['between'],
  properties: {
    between: {
      type: 'array',
      minItems: 2,
      maxItems: 2,
      items: { type: 'string', minLength: 1, maxLength: 128 },
      description:
        'where the head runs (the data is there), then where the tail runs: node ids or classes (device, edge, cloud)',
      example: ['device', 'edge'],
    },
    link: {
      type: 'object',
      additionalProperties: false,
      required: ['rttMs', 'mbps'],
      properties: {
        rttMs: { type: 'number', minimum: 0, maximum: 600_000 },
        mbps: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
      },
      description: 'default: as placement measures it now between the two nodes',
    },
    inputShape: INPUT_SHAPE,
    objective: { enum: [...SPLIT_OBJECTIVES], default: 'latency' },
    lossy: { enum: [false, ...SPLIT_LOSSY_MODES], default: false },
  },
} as const;

/** JSON Schema of `POST /models/{name}/versions/{v}/split`. */
export const SPLIT_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['cut'],
  properties: {
    cut: { type: 'string', minLength: 1, maxLength: 100_000, description: 'a cut id from a split plan' },
    inputShape: INPUT_SHAPE,
  },
} as const;

const ESTIMATE: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', example: 'relu_5.tmp_0' },
    kind: { enum: ['all-first', 'all-second', 'single', 'multi'] },
    tensors: { type: 'array', items: { type: 'string' } },
    headNodes: { type: 'integer' },
    tailNodes: { type: 'integer' },
    headMs: { type: 'number' },
    transferBytes: { type: 'number' },
    transferMs: { type: 'number' },
    rttMs: { type: 'number' },
    tailMs: { type: 'number' },
    totalMs: { type: 'number', description: 'head + transfer + RTT + tail' },
    periodMs: { type: 'number', description: 'max(head, transfer, tail), pipelined' },
    dominatedBy: {
      type: 'string',
      description:
        'a cut no worse in head + tail + RTT and in bytes sent (throughput: head, tail, bytes) and better in one: this one is never the best at any bandwidth',
    },
  },
};

export const SPLIT_PLAN: SchemaObject = {
  type: 'object',
  properties: {
    model: { type: 'object' },
    between: { type: 'array', items: { type: 'string' } },
    link: { type: 'object', description: 'rttMs, mbps and where they came from' },
    inputShape: { type: 'object' },
    objective: { enum: [...SPLIT_OBJECTIVES] },
    lossy: { enum: [false, ...SPLIT_LOSSY_MODES] },
    profiles: {
      type: 'array',
      description: 'per side: stored for the class, or estimated on the orchestrator and scaled',
    },
    graph: { type: 'object' },
    candidates: { type: 'array', items: ESTIMATE },
    chosen: ESTIMATE,
    reason: { type: 'string' },
    lossyCost: { type: 'object' },
    notes: { type: 'array', items: { type: 'string' } },
  },
};

/** JSON Schema of `POST /models/{name}/versions/{v}/profile`. */
export const SPLIT_PROFILE_BODY = {
  type: 'object',
  additionalProperties: false,
  oneOf: [{ required: ['nodeClass'] }, { required: ['nodeId'] }],
  properties: {
    nodeClass: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description:
        'a tier (device, edge, cloud: its most constrained alive node measures) or a class key arch|tags|cpu',
    },
    nodeId: { type: 'string', minLength: 1, maxLength: 128 },
    inputShape: INPUT_SHAPE,
    runs: { type: 'integer', minimum: 1, maximum: 100 },
  },
} as const;
