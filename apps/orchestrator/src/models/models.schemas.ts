import type { SchemaObject } from '../catalog/catalog.schemas';

/** Response shapes of the model registry API (OpenAPI). */
const VALUE_INFO: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string', example: 'x' },
    isTensor: { type: 'boolean' },
    type: { type: 'string', example: 'float32', description: 'element type; absent for non-tensor values' },
    shape: {
      type: 'array',
      items: { oneOf: [{ type: 'number' }, { type: 'string' }] },
      example: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
      description: 'a number per fixed dimension, the symbolic name of a dynamic one',
    },
  },
};

export const MODEL_META: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string', example: 'ocr-det' },
    version: { type: 'integer', example: 1 },
    sha256: { type: 'string', description: 'lowercase hex SHA-256 of the bytes' },
    size: { type: 'integer', description: 'bytes' },
    inputs: { type: 'array', items: VALUE_INFO },
    outputs: { type: 'array', items: VALUE_INFO },
    object: {
      type: 'object',
      description: 'where the bytes are in JetStream',
      properties: { bucket: { type: 'string', example: 'yb-models' }, name: { type: 'string', example: 'ocr-det/1' } },
    },
    createdAt: { type: 'string', format: 'date-time' },
    training: {
      type: 'object',
      description:
        'set on versions a training service registered: parent version, datasets, hyper-parameters, metrics (TrainingLineage)',
    },
  },
};

const CANARY: SchemaObject = {
  type: 'object',
  required: ['version', 'share'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', minimum: 1, example: 4, description: "a registered version, not the alias's own" },
    share: { type: 'number', minimum: 0, maximum: 1, example: 0.2, description: 'share of the requests sent to it' },
  },
};

/** Body of PUT /models/{name}/aliases/{alias}. */
/** `GET /models/{name}`: every version of one model, oldest first. */
export const MODEL_VERSIONS: SchemaObject = {
  type: 'object',
  required: ['name', 'versions'],
  properties: { name: { type: 'string' }, versions: { type: 'array', items: MODEL_META } },
};

/** `DELETE /models/{name}`: the versions deleted. */
export const MODEL_DELETED: SchemaObject = {
  type: 'object',
  required: ['name', 'deleted'],
  properties: { name: { type: 'string' }, deleted: { type: 'array', items: MODEL_META } },
};

export const MODEL_ALIAS_SPEC: SchemaObject = {
  type: 'object',
  required: ['version'],
  additionalProperties: false,
  properties: {
    version: { type: 'integer', minimum: 1, example: 3, description: 'a registered version' },
    canary: CANARY,
  },
};

export const MODEL_ALIAS: SchemaObject = {
  type: 'object',
  properties: {
    model: { type: 'string', example: 'digits' },
    alias: { type: 'string', example: 'stable' },
    version: { type: 'integer', example: 3 },
    canary: CANARY,
    setBy: {
      type: 'string',
      example: 'anonymous',
      description: 'the X-Yunbian-Actor header of the request that set it',
    },
    setAt: { type: 'string', format: 'date-time' },
  },
};
