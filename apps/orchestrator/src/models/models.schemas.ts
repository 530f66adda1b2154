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
  },
};
