import type { NextFunction, Request, Response } from 'express';
import { httpAuditEntry } from './audit-query';
import type { AuditService } from './audit.service';
import type { AuthedRequest } from './auth.guard';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Express middleware: every mutating call, once answered, becomes an audit entry (refused ones too). */
export function auditRequests(audit: AuditService) {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (!MUTATING.has(request.method)) return next();
    const started = new Date();
    const t0 = performance.now();
    const path = request.path;
    response.once('finish', () => {
      const req = request as AuthedRequest;
      void audit.record(
        httpAuditEntry({
          principal: req.principal,
          method: request.method,
          route: req.auditRoute,
          path,
          params: req.auditParams,
          query: request.query as Record<string, unknown>,
          status: response.statusCode,
          started,
          durationMs: performance.now() - t0,
        }),
      );
    });
    next();
  };
}
