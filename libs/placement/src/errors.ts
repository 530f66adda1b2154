import type { ErrorCode } from '@yunbian/contracts';

/**
 * Thrown for inputs placement cannot work with (a bad weight, an unknown strategy, private data
 * without an origin). The message says what was wrong and what is accepted; a caller maps the
 * code to its HTTP status the same way as every other `ErrorCode`.
 */
export class PlacementInputError extends Error {
  readonly code: ErrorCode = 'BAD_REQUEST';

  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'PlacementInputError';
  }
}
