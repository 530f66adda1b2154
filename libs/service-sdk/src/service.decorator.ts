import { Injectable } from '@nestjs/common';
import type {
  ServedModel,
  ServiceDescriptor,
  ServiceIsolation,
  ServiceKind,
  ServiceRequirements,
} from '@yunbian/contracts';
import type { MsgHdrs } from '@nats-io/transport-node';

export const SERVICE_METADATA = Symbol.for('yunbian.service');
/** Injection token of the settings an instance was started with (`POST /instances` `config`). */
export const INSTANCE_CONFIG = Symbol.for('yunbian.instance-config');

/** What a service declares about itself; everything but name, version and kind has a default. */
export interface ServiceDefinition {
  name: string;
  version: string;
  kind: ServiceKind;
  description?: string;
  input?: Record<string, unknown>;
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

/** Passed to every call: who is serving it and how to make it idempotent. */
export interface CallContext {
  instanceId: string;
  nodeId: string;
  /** `run:step:attempt` when the workflow engine calls; undefined for direct calls. */
  idempotencyKey?: string;
  headers?: MsgHdrs;
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

/**
 * Marks a class as a Yunbian service and a NestJS provider. A file named
 * `<something>.service.ts` in a service directory holding such a class is all a new
 * service needs: agents list it, workers host it.
 */
export function YunbianService(definition: ServiceDefinition): ClassDecorator {
  const descriptor: ServiceDescriptor = {
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
  return (target) => {
    Injectable()(target);
    Object.defineProperty(target, SERVICE_METADATA, { value: descriptor, enumerable: false });
  };
}

export function serviceDescriptorOf(target: unknown): ServiceDescriptor | undefined {
  if (typeof target !== 'function') return undefined;
  return (target as ServiceClass)[SERVICE_METADATA];
}
