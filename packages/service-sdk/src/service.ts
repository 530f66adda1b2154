import {
  ErrorCodes,
  type ErrorBody,
  type ErrorCode,
  type ServedModel,
  type ServiceDescriptor,
  type ServiceIsolation,
  type ServiceKind,
  type ServiceRequirements,
} from './vocabulary';

/**
 * Where a service class keeps its descriptor. `Symbol.for`, so the agent's workers read it
 * from a class built against any copy of this package (the service's own node_modules).
 */
export const SERVICE_METADATA = Symbol.for('yunbian.service');
/** Injection token of the settings an instance was started with (`POST /instances` `config`), for Nest DI. */
export const INSTANCE_CONFIG = Symbol.for('yunbian.instance-config');

/** What a service declares about itself; everything but name, version and kind has a default. */
export interface ServiceDefinition {
  /** Letters, digits, `-` and `_` (it becomes a NATS subject token). */
  name: string;
  /** Semver, e.g. `1.0.0`. */
  version: string;
  kind: ServiceKind;
  description?: string;
  /** JSON Schema every request is checked against before `handle` runs. */
  input?: Record<string, unknown>;
  /** JSON Schema of the reply (documentation and workflow validation). */
  output?: Record<string, unknown>;
  requirements?: ServiceRequirements;
  /** Requests one instance handles at once (default 4); more wait in its queue. */
  concurrency?: number;
  /** Expected execution time in ms, overall and per hardware tag (e.g. `{ gpu: 20 }`), for placement. */
  computeProfile?: { defaultMs?: number; byTagMs?: Record<string, number> };
  /**
   * `process` (default): each instance in its own worker process. `shared`: instances join
   * their node's shared worker process, a few MB each instead of a Node.js process each; for
   * light, well-behaved services only, since a crash, a blocked event loop or a leak in one
   * of them hits every instance in that process.
   */
  isolation?: ServiceIsolation;
  /**
   * Keep each request's outcome in the JetStream bucket `yb-outcomes` too (for the
   * idempotency window), so a repeated key is answered from it after a worker restart or by
   * another instance. Costs one KV write per request; for steps that must not run twice.
   */
  durableResults?: boolean;
}

/** The request headers a handler can read (NATS message headers). */
export interface ServiceHeaders {
  get(name: string): string;
  has(name: string): boolean;
  keys(): string[];
}

/** Passed to every call: who is serving it and how to make it idempotent. */
export interface CallContext {
  instanceId: string;
  nodeId: string;
  /** `run:step:attempt` when the workflow engine calls; undefined for direct calls. */
  idempotencyKey?: string;
  headers?: ServiceHeaders;
  /** Settings given to this instance when it was started. */
  config: Record<string, unknown>;
}

/** The one method a service implements; `reconfigure` is for services that take new settings live. */
export interface ServiceHandler<I = unknown, O = unknown> {
  handle(input: I, context: CallContext): Promise<O> | O;
  /** Applies new instance settings without dropping requests (e.g. swaps to another model version). */
  reconfigure?(config: Record<string, unknown>): Promise<unknown>;
  /**
   * The registered model version the instance serves (model-serving services): announced
   * with the instance, so steps naming a model are routed only to instances serving it.
   */
  servedModel?(): ServedModel | undefined;
}

export type ServiceClass = (new (...args: never[]) => ServiceHandler) & { [SERVICE_METADATA]?: ServiceDescriptor };

/** The descriptor the catalogue lists for a definition: every default filled in. */
export function describeService(definition: ServiceDefinition): ServiceDescriptor {
  return {
    name: definition.name,
    version: definition.version,
    kind: definition.kind,
    description: definition.description ?? '',
    input: definition.input ?? {},
    output: definition.output ?? {},
    requirements: definition.requirements ?? {},
    concurrency: definition.concurrency ?? 4,
    // Own process unless the author says otherwise: sharing trades isolation for memory, and
    // only the author knows whether the service can be trusted beside others.
    isolation: definition.isolation ?? 'process',
    ...(definition.computeProfile ? { computeProfile: definition.computeProfile } : {}),
    ...(definition.durableResults ? { durableResults: true } : {}),
  };
}

/**
 * Marks a class as a Yunbian service. A `<something>.service.js` file in a service
 * directory exporting such a class is all a new service needs: agents list it, workers
 * host it (as a NestJS provider, so in-repo services may use constructor injection).
 */
export function YunbianService(definition: ServiceDefinition): <T extends abstract new (...args: never[]) => unknown>(
  target: T,
  // Standard (TC39) decorators pass a context; legacy ones do not. Either works.
  context?: unknown,
) => void {
  const descriptor = describeService(definition);
  return (target) => {
    Object.defineProperty(target, SERVICE_METADATA, { value: descriptor, enumerable: false });
  };
}

/** A service in one call, without classes or decorators: the definition plus its `handle`. */
export interface ServiceSpec<I, O> extends ServiceDefinition {
  handle(input: I, context: CallContext): Promise<O> | O;
  reconfigure?(config: Record<string, unknown>): Promise<unknown>;
}

/**
 * Defines a service from a plain object. Export the result from a `*.service.js` file
 * (`export default defineService({...})` or a named export).
 */
export function defineService<I = unknown, O = unknown>(spec: ServiceSpec<I, O>): ServiceClass {
  const { handle, reconfigure, ...definition } = spec;
  class DefinedService implements ServiceHandler<I, O> {
    handle(input: I, context: CallContext): Promise<O> | O {
      return handle.call(spec, input, context);
    }
  }
  if (reconfigure) {
    Object.defineProperty(DefinedService.prototype, 'reconfigure', {
      value: (config: Record<string, unknown>) => reconfigure.call(spec, config),
    });
  }
  Object.defineProperty(DefinedService, 'name', { value: `${definition.name}Service` });
  YunbianService(definition)(DefinedService);
  return DefinedService as ServiceClass;
}

/** The descriptor a class was marked with, if it is a service class. */
export function serviceDescriptorOf(target: unknown): ServiceDescriptor | undefined {
  if (typeof target !== 'function') return undefined;
  return (target as ServiceClass)[SERVICE_METADATA];
}

const SERVICE_ERROR = Symbol.for('yunbian.service-error');

/**
 * An error the caller can act on: throw it from `handle` and the caller gets its code,
 * message and details (any other thrown Error arrives as `INTERNAL` with its message).
 */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ServiceError';
    // Not enumerable: the mark is for isServiceError, not for serialisation or comparisons.
    Object.defineProperty(this, SERVICE_ERROR, { value: true });
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Whether `err` is a ServiceError (from any copy of this package) with a known code. */
export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    (err as unknown as Record<symbol, unknown>)[SERVICE_ERROR] === true &&
    (ErrorCodes as readonly string[]).includes((err as ServiceError).code)
  );
}
