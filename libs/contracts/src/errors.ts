/** Error codes carried in structured error replies over NATS and in REST error bodies. */
export const ErrorCodes = [
  'BAD_REQUEST',
  'VALIDATION_FAILED',
  'NOT_FOUND',
  'CONFLICT',
  /** The run (or the run a step belonged to) was cancelled. */
  'CANCELLED',
  'UNSATISFIABLE',
  'PAYLOAD_TOO_LARGE',
  /** A request body of a content type the route does not read (REST 415). */
  'UNSUPPORTED_MEDIA_TYPE',
  /** No credential, or one that is unknown, revoked, expired or badly signed (REST 401). */
  'UNAUTHENTICATED',
  /** A valid credential whose role or sites do not cover the request (REST 403). */
  'FORBIDDEN',
  'TIMEOUT',
  'NO_RESPONDERS',
  'UNAVAILABLE',
  'OVERLOADED',
  'DRAINING',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/** What a failed request answers: a code to branch on, a sentence to read, details to act on. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}
