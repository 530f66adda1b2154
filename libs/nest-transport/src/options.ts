import os from 'node:os';
import semver from 'semver';
import {
  SERVICE_KINDS,
  type NodeDescriptor,
  type ServiceDescriptor,
  type ServiceKind,
  type ServiceRequirements,
} from '@yunbian/contracts';
import { parseNodeDescriptor } from '@yunbian/node-config';
import type { TransportOptions } from '@yunbian/transport';

/**
 * How to reach NATS: every field of the project's own transport options except what the
 * adapter sets itself (trace propagation). One object, so whatever the transport learns to
 * take (credentials, TLS) passes through unchanged.
 */
export type YunbianConnectionOptions = Omit<TransportOptions, 'propagator' | 'name'> & {
  /** Connection name in the NATS server's monitoring (default: one naming the app). */
  name?: string;
};

/** What the catalogue should know of one `@MessagePattern` handler. */
export interface OperationOptions {
  /** JSON Schema of the request body (checked before the handler runs; default: anything). */
  input?: Record<string, unknown>;
  /** JSON Schema of the reply body (announced; default: anything). */
  output?: Record<string, unknown>;
  /** The catalogue's service name (default `<service>-<pattern>`). */
  service?: string;
  kind?: ServiceKind;
  description?: string;
  /** Requests this handler works on at once (default 4); more wait in its queue. */
  concurrency?: number;
  requirements?: ServiceRequirements;
  computeProfile?: { defaultMs?: number; byTagMs?: Record<string, number> };
}

export interface YunbianServerOptions {
  connection: YunbianConnectionOptions;
  /** The app's name: the prefix of its operations' service names, one NATS subject token. */
  service: string;
  /** Semver of every operation the app serves. */
  version: string;
  /** Per `@MessagePattern` name; a handler without an entry serves with the defaults. */
  operations?: Record<string, OperationOptions>;
  /** The node the app appears as in the catalogue (default `nest-<service>-<host>-<pid>`). */
  nodeId?: string;
  site?: string;
  /** The rest of the node's descriptor (tier, tags, costPerHour, labels…), as an agent's node file has it. */
  node?: Partial<Omit<NodeDescriptor, 'id' | 'site'>>;
  /** How often the app heartbeats its load (ms, default 2,000). */
  heartbeatMs?: number;
  /** Running requests get this long to finish when the app closes (ms, default 10,000). */
  drainTimeoutMs?: number;
}

/** One operation as the server runs it: the Nest pattern and the catalogue's service. */
export interface PlannedOperation {
  pattern: string;
  descriptor: ServiceDescriptor;
  instanceId: string;
}

export interface ServerPlan {
  node: NodeDescriptor;
  operations: PlannedOperation[];
  heartbeatMs: number;
  drainTimeoutMs: number;
}

/** The catalogue's service name of pattern `pattern` of the app `service` (`thumbs` + `resize` → `thumbs-resize`). */
export function operationServiceName(service: string, pattern: string): string {
  return `${service}-${pattern}`;
}

export class NestTransportConfigError extends Error {
  constructor(problems: string[]) {
    super(`YunbianServer options: ${problems.join('; ')}`);
    this.name = 'NestTransportConfigError';
  }
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * Checks the options against the app's request handlers (`patterns`, as Nest normalised
 * them) and works out what the server announces: its node, and one service with one
 * instance per pattern. Every problem is reported at once, each saying where and what is accepted.
 */
export function planServer(
  options: YunbianServerOptions,
  patterns: string[],
  host: { hostname: string; pid: number } = { hostname: os.hostname(), pid: process.pid },
): ServerPlan {
  const problems: string[] = [];
  const { service, version } = options;
  if (typeof service !== 'string' || !TOKEN.test(service))
    problems.push(
      `service "${String(service)}" must be letters, digits, "-" and "_" (it becomes a NATS subject token)`,
    );
  if (typeof version !== 'string' || !semver.valid(version))
    problems.push(`version "${String(version)}" is not semver (for example "1.0.0")`);
  if (!options.connection || options.connection.servers === undefined)
    problems.push('connection.servers is required (for example { servers: "nats://127.0.0.1:4222" })');
  const heartbeatMs = options.heartbeatMs ?? 2_000;
  if (!(Number.isFinite(heartbeatMs) && heartbeatMs >= 50))
    problems.push(`heartbeatMs must be a number of at least 50 ms (got ${String(options.heartbeatMs)})`);
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  if (!(Number.isFinite(drainTimeoutMs) && drainTimeoutMs >= 0))
    problems.push(`drainTimeoutMs must be a number of ms, 0 or more (got ${String(options.drainTimeoutMs)})`);

  const configured = options.operations ?? {};
  if (patterns.length === 0)
    problems.push('the app has no @MessagePattern handlers: nothing to serve (event handlers are not served)');
  for (const pattern of Object.keys(configured)) {
    if (!patterns.includes(pattern)) {
      problems.push(
        `operations["${pattern}"] names no @MessagePattern handler of the app (its handlers: ${patterns.map((p) => `"${p}"`).join(', ') || 'none'})`,
      );
    }
  }
  for (const pattern of patterns) {
    if (!TOKEN.test(pattern)) {
      problems.push(
        `@MessagePattern(${pattern}) cannot be served: patterns must be strings of letters, digits, "-" and "_" (they name services)`,
      );
    }
  }

  // Node ids are at most 64 characters: a long host name is cut, the pid kept.
  const nodeId =
    options.nodeId ??
    `nest-${String(service).slice(0, 20)}-${host.hostname.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 24)}-${host.pid}`;
  let node: NodeDescriptor | undefined;
  try {
    node = parseNodeDescriptor(
      {
        tier: 'edge',
        tags: [],
        costPerHour: 0,
        labels: { runtime: 'nestjs' },
        ...options.node,
        id: nodeId,
        site: options.site ?? 'default',
      },
      `YunbianServer node ${nodeId}`,
    );
  } catch (err) {
    problems.push((err as Error).message);
  }

  const operations: PlannedOperation[] = [];
  for (const pattern of patterns) {
    if (!TOKEN.test(pattern)) continue;
    const o = configured[pattern] ?? {};
    const where = `operations["${pattern}"]`;
    const name = o.service ?? operationServiceName(service, pattern);
    if (!TOKEN.test(name)) problems.push(`${where}.service "${name}" must be letters, digits, "-" and "_"`);
    const kind = o.kind ?? 'data';
    if (!SERVICE_KINDS.includes(kind))
      problems.push(`${where}.kind "${kind}" is not one of ${SERVICE_KINDS.join(', ')}`);
    const concurrency = o.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      problems.push(`${where}.concurrency must be a positive integer (got ${String(o.concurrency)})`);
    for (const field of ['input', 'output'] as const) {
      const schema = o[field];
      if (schema !== undefined && (schema === null || typeof schema !== 'object' || Array.isArray(schema)))
        problems.push(`${where}.${field} must be a JSON Schema object`);
    }
    operations.push({
      pattern,
      instanceId: `${nodeId}-${pattern}`.slice(0, 128),
      descriptor: {
        name,
        version,
        kind,
        description: o.description ?? `@MessagePattern('${pattern}') of the NestJS app ${service}`,
        input: o.input ?? {},
        output: o.output ?? {},
        requirements: o.requirements ?? {},
        concurrency,
        // One Nest process serves every operation: they share it as shared instances do a worker.
        isolation: 'shared',
        ...(o.computeProfile ? { computeProfile: o.computeProfile } : {}),
      },
    });
  }
  const names = operations.map((o) => o.descriptor.name);
  for (const name of new Set(names.filter((n, i) => names.indexOf(n) !== i)))
    problems.push(`two patterns map to the service name "${name}": give one of them another operations[…].service`);
  if (problems.length) throw new NestTransportConfigError(problems);
  return { node: node!, operations, heartbeatMs, drainTimeoutMs };
}
