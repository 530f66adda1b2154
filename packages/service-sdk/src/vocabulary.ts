/**
 * The words a service and the platform share: what a service declares about itself, and
 * what a failed request answers. Defined here, in the package service authors install;
 * the platform's own contracts re-export them, so both sides compile against one definition.
 */

export const SERVICE_KINDS = ['inference', 'data', 'training'] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

/**
 * Where a service's instances run on their node: `process`, a worker process each (a crash,
 * a busy loop or a leak stays with the instance; its `resources` are its own cgroup);
 * `shared`, beside the node's other shared instances in one worker process (a few MB an
 * instance instead of a whole Node.js process; the process is limited as a whole).
 */
export const SERVICE_ISOLATIONS = ['process', 'shared'] as const;
export type ServiceIsolation = (typeof SERVICE_ISOLATIONS)[number];

/**
 * Where a node sits. `device`: a constrained box beside the sensors, attached to an edge site
 * (its `site` is that edge site's); `edge`: an edge server of a site; `cloud`: a cloud region.
 */
export const NODE_TIERS = ['device', 'edge', 'cloud'] as const;
export type NodeTier = (typeof NODE_TIERS)[number];

export interface ServiceRequirements {
  /** Hardware tags a node must all carry. */
  tags?: string[];
  /** Memory an instance reserves on its node. */
  memoryMb?: number;
  tier?: NodeTier;
}

/** A service type as the catalogue knows it. */
export interface ServiceDescriptor {
  name: string;
  version: string;
  kind: ServiceKind;
  description: string;
  /** JSON Schema of the request body. */
  input: Record<string, unknown>;
  /** JSON Schema of the reply body. */
  output: Record<string, unknown>;
  requirements: ServiceRequirements;
  /** Requests one instance works on at once; more wait in its queue. */
  concurrency: number;
  /** Expected execution time, for placement until real timings are observed. */
  computeProfile?: { defaultMs?: number; byTagMs?: Record<string, number> };
  /** Where instances run on a node (`process` when absent, as agents before this field did). */
  isolation?: ServiceIsolation;
  /**
   * Each finished request's outcome is also kept in the JetStream KV bucket `yb-outcomes`
   * (by idempotency key, for the idempotency window), not only in the instance's memory: a
   * repeated key is answered from it by any instance, after a worker restart too.
   */
  durableResults?: boolean;
}

/** The registered model version an instance serves, as its agent announces it. */
export interface ServedModel {
  name: string;
  /** The registry version (integers from 1). */
  version: number;
  /** Lowercase hex SHA-256 of the bytes the instance loaded (the registry's). */
  sha256: string;
}

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

/**
 * Version of the wire contract (docs/wire-contract.md): subjects, headers and bodies a
 * service speaks on NATS. A change that breaks an existing service raises the major number.
 */
export const WIRE_CONTRACT_VERSION = '1.0';
