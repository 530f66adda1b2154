import { evaluateExpression, ExpressionError } from '@yunbian/common';
import { YunbianService, type ServiceHandler } from '@yunbian/service-sdk';
import { YunbianError } from '@yunbian/transport';

export interface JsonTransformInput {
  /** A JSONata expression applied to `data`. */
  expression: string;
  data: unknown;
  /** Extra `$name` variables visible to the expression. */
  bindings?: Record<string, unknown>;
}

/** Reshapes JSON with a JSONata expression: filter, project, aggregate, rename. */
@YunbianService({
  name: 'json-transform',
  version: '1.0.0',
  kind: 'data',
  description: 'Applies a JSONata expression to JSON data and returns the result.',
  input: {
    type: 'object',
    required: ['expression', 'data'],
    additionalProperties: false,
    properties: {
      expression: { type: 'string', minLength: 1, maxLength: 16_384 },
      data: {},
      bindings: { type: 'object' },
    },
  },
  output: { type: 'object', required: ['result'], properties: { result: {} } },
  requirements: { memoryMb: 64 },
  concurrency: 8,
  // Bounded JSONata (2 s deadline, no I/O): light and well-behaved, so it shares a process.
  isolation: 'shared',
})
export class JsonTransformService implements ServiceHandler<JsonTransformInput, { result: unknown }> {
  async handle(input: JsonTransformInput): Promise<{ result: unknown }> {
    try {
      const result = await evaluateExpression({ text: input.expression }, input.data, input.bindings ?? {}, {
        timeoutMs: 2_000,
      });
      // JSONata returns undefined for "no match"; JSON has no undefined, so answer null.
      return { result: result === undefined ? null : result };
    } catch (err) {
      if (err instanceof ExpressionError) {
        throw new YunbianError('BAD_REQUEST', `expression failed: ${err.message}`, {
          pointer: '/expression',
          position: err.position,
        });
      }
      throw err;
    }
  }
}
