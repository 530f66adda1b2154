import {
  Injectable,
  SetMetadata,
  type ArgumentMetadata,
  type CanActivate,
  type ExecutionContext,
  type PipeTransform,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { YunbianError } from '@yunbian/transport';
import { contentTypeProblem, routeParamProblem } from './request-limits';

export const BODY_TYPES = 'yunbian:body-types';
export const JSON_TYPE = 'application/json';
/** The text types the orchestrator's text parser reads (YAML definitions). */
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'] as const;

/** The routes whose body may be YAML (their handlers say `@AcceptsBody(JSON_TYPE, ...YAML_TYPES)`; a spec checks the two agree). */
export const YAML_ROUTES = ['POST /workflows', 'POST /workflows/validate', 'POST /workflows/:name/runs'] as const;

/** The media types a route's body may have (default: application/json only). */
export const AcceptsBody = (...types: string[]) => SetMetadata(BODY_TYPES, types);

/**
 * Refuses (415) a request whose body is not of a type its route reads, before the handler
 * runs. A global guard, so routes cannot forget it; an authentication guard can sit beside it.
 */
@Injectable()
export class ContentTypeGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const accepted = this.reflector.getAllAndOverride<string[] | undefined>(BODY_TYPES, [
      context.getHandler(),
      context.getClass(),
    ]) ?? [JSON_TYPE];
    const request = context.switchToHttp().getRequest<Request>();
    const problem = contentTypeProblem(request.method, request.headers, accepted);
    if (problem) throw new YunbianError('UNSUPPORTED_MEDIA_TYPE', problem, { accepted });
    return true;
  }
}

/** Every path parameter must be an identifier (it becomes a NATS subject token or a KV key): 400 otherwise. */
@Injectable()
export class RouteParamPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'param' || !metadata.data) return value;
    const problem = routeParamProblem(metadata.data, value);
    if (problem) throw new YunbianError('BAD_REQUEST', problem, { parameter: metadata.data });
    return value;
  }
}
