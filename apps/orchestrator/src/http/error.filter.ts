import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { JsonLogger } from '@yunbian/common';
import type { ErrorCode } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { YAML_ROUTES } from './request-guards';
import { malformedJsonMessage, routeMatches } from './request-mistakes';

const takesYaml = (method: string, path: string) => YAML_ROUTES.some((route) => routeMatches(route, method, path));

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // What was asked for conflicts with the run's state: it was cancelled (499 is nginx's own).
  CANCELLED: 409,
  UNSATISFIABLE: 422,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  OVERLOADED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  NO_RESPONDERS: 503,
  DRAINING: 503,
  TIMEOUT: 504,
};

/** Every error leaves as `{ statusCode, code, message, details? }`. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new JsonLogger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (exception instanceof YunbianError) {
      const statusCode = HTTP_STATUS[exception.code] ?? 500;
      // A refusal for load says when to come back (details.retryAfterSeconds).
      const retryAfter = (exception.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
      if (typeof retryAfter === 'number' && Number.isFinite(retryAfter))
        response.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
      response.status(statusCode).json({ statusCode, ...exception.toBody() });
      return;
    }
    // Malformed JSON: body-parser's error, which Nest's Express adapter wraps in a BadRequestException.
    const parser = [exception, (exception as { cause?: unknown })?.cause].find(
      (e): e is Error & { body?: unknown } => (e as { type?: unknown } | undefined)?.type === 'entity.parse.failed',
    );
    if (parser) {
      const request = host.switchToHttp().getRequest<Request>();
      const message = malformedJsonMessage(parser.message, parser.body, takesYaml(request.method, request.path));
      response.status(400).json({ statusCode: 400, code: 'BAD_REQUEST', message });
      return;
    }
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      const body = exception.getResponse();
      const message = typeof body === 'string' ? body : ((body as { message?: unknown }).message ?? exception.message);
      const code: ErrorCode =
        statusCode === 404
          ? 'NOT_FOUND'
          : statusCode === 413
            ? 'PAYLOAD_TOO_LARGE'
            : statusCode < 500
              ? 'BAD_REQUEST'
              : 'INTERNAL';
      response
        .status(statusCode)
        .json({ statusCode, code, message: Array.isArray(message) ? message.join('; ') : message });
      return;
    }
    // Body-parser errors (too large, malformed JSON) carry their HTTP status.
    const status = (exception as { status?: unknown })?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code: ErrorCode = status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST';
      response.status(status).json({ statusCode: status, code, message: (exception as Error).message });
      return;
    }
    this.logger.error('unhandled error', { error: (exception as Error)?.stack ?? String(exception) });
    response
      .status(500)
      .json({ statusCode: 500, code: 'INTERNAL', message: (exception as Error)?.message ?? 'internal error' });
  }
}
