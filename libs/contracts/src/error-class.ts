import { isServiceError, ServiceError } from '../../../packages/service-sdk/src/service';
import type { ErrorBody, ErrorCode } from './errors';

/**
 * An error a caller can act on. Service handlers throw it, or the SDK's ServiceError (any
 * other Error becomes INTERNAL); the transport turns it into a structured reply and back into a YunbianError
 * on the caller's side, so the code, message and details survive the hop.
 */
export class YunbianError extends ServiceError {
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(code, message, details);
    this.name = 'YunbianError';
  }

  static from(err: unknown): YunbianError {
    if (err instanceof YunbianError) return err;
    // Thrown by a service built against its own copy of the SDK package.
    if (isServiceError(err)) return new YunbianError(err.code, err.message, err.details);
    const message = err instanceof Error ? err.message : String(err);
    return new YunbianError('INTERNAL', message);
  }
}

/** A structured error that came back over NATS from another process. */
export class RemoteError extends YunbianError {
  constructor(
    body: ErrorBody,
    readonly subject: string,
  ) {
    super(body.code, body.message, body.details);
    this.name = 'RemoteError';
  }
}
