import type { NextFunction, Request, Response } from 'express';
import { httpAuditEntry } from './audit-query';
import type { AuditService } from './audit.service';
import type { AuthedRequest } from './auth.guard';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * POST routes that change nothing (checks): recorded only when refused (401, 403, 429…), so
 * an editor validating on every change does not fill the audit log with reads.
 */
const READ_ONLY_POSTS = new Set(['/workflows/validate']);

/** Whether an answered request becomes an audit entry. */
export function isAudited(method: string, route: string | undefined, status: number): boolean {
  if (!MUTATING.has(method)) return false;
  if (method === 'POST' && route !== undefined && READ_ONLY_POSTS.has(route)) return status >= 400;
  return true;
}

/** Express middleware: every mutating call, once answered, becomes an audit entry (refused ones too). */
export function auditRequests(audit: AuditService) {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (!MUTATING.has(request.method)) return next();
    const started = new Date();
    const t0 = performance.now();
    const path = request.path;
    response.once('finish', () => {
      const req = request as AuthedRequest;
      if (!isAudited(request.method, req.auditRoute, response.statusCode)) return;
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
