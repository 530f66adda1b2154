import type { ErrorBody, ErrorCode } from './errors';

/**
 * An error a caller can act on. Service handlers throw it (or any Error, which becomes
 * INTERNAL); the transport turns it into a structured reply and back into a YunbianError
 * on the caller's side, so the code, message and details survive the hop.
 */
export class YunbianError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'YunbianError';
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static from(err: unknown): YunbianError {
    if (err instanceof YunbianError) return err;
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
