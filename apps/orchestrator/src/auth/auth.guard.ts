import { createParamDecorator, Inject, Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { Request } from 'express';
import type { Principal } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { roleIncludes } from './api-key';
import { AuthService } from './auth.service';
import { accessFor } from './route-roles';

/** What the guard leaves on a request for the handler and the audit log. */
export interface AuthedRequest extends Request {
  principal?: Principal;
  /** The route's pattern (`/runs/:id`) and parameters, kept for the audit entry. */
  auditRoute?: string;
  auditParams?: Record<string, unknown>;
}

/** The verified caller of the request (undefined on open routes). */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal | undefined =>
    context.switchToHttp().getRequest<AuthedRequest>().principal,
);

const credentialText = (p: Principal) =>
  p.kind === 'key' ? `API key ${p.id}${p.name ? ` ("${p.name}")` : ''}` : `token of ${p.id}`;

/**
 * Authentication, rate limit and role check of every route, before any other guard: the
 * route's access comes from ROUTE_ACCESS (undeclared: admin); open routes pass untouched.
 * The credential is verified first so the rate limit counts per credential (key id or token
 * subject) and per IP for callers without a valid one; then 401 (no or bad credential,
 * `WWW-Authenticate: Bearer`) or 403 (the role needed and the role held).
 */
@Injectable()
export class AuthGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @Inject(AuthService) private readonly auth: AuthService,
  ) {
    super(options, storage, reflector);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const pattern = (request.route as { path?: string } | undefined)?.path;
    request.auditRoute = pattern;
    request.auditParams = { ...(request.params ?? {}) };
    const access = accessFor(request.method, pattern);
    if (access === 'open') return true;
    const result = await this.auth.authenticate(request.headers.authorization);
    if ('principal' in result) request.principal = result.principal;
    await super.canActivate(context);
    const route = `${request.method} ${pattern ?? request.path}`;
    if (!('principal' in result)) {
      const response = context.switchToHttp().getResponse<{ setHeader(name: string, value: string): void }>();
      response.setHeader(
        'WWW-Authenticate',
        result.presented ? 'Bearer realm="yunbian", error="invalid_token"' : 'Bearer realm="yunbian"',
      );
      throw new YunbianError('UNAUTHENTICATED', `${route} needs a credential (role ${access}): ${result.problem}`, {
        needs: access,
      });
    }
    const principal = result.principal;
    if (!roleIncludes(principal.role, access))
      throw new YunbianError(
        'FORBIDDEN',
        `${route} needs role ${access}; your ${credentialText(principal)} has role ${principal.role}`,
        { needs: access, held: principal.role },
      );
    return true;
  }

  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    const principal = (request as { principal?: Principal }).principal;
    return principal ? `${principal.kind}:${principal.id}` : `ip:${await super.getTracker(request)}`;
  }

  /** One budget per credential over every route (the default is one per route). */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const who = detail.tracker.startsWith('ip:') ? `address ${detail.tracker.slice(3)}` : detail.tracker;
    throw new YunbianError(
      'OVERLOADED',
      `more than ${detail.limit} requests per minute from ${who}: retry in ${detail.timeToBlockExpire} s (the limit is YUNBIAN_RATE_LIMIT_PER_MIN)`,
      { retryAfterSeconds: detail.timeToBlockExpire, limitPerMinute: detail.limit },
    );
  }
}
