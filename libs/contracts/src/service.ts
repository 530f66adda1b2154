import type { ErrorBody } from './errors';
import type { NodeTier } from './node';

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

/** The KV bucket of outcomes kept by idempotency key (services that declare `durableResults`). */
export const OUTCOME_BUCKET = 'yb-outcomes';

/** One request's outcome as a worker keeps it: the reply's value, or its error. */
export type StoredOutcome = { ok: true; output: unknown } | { ok: false; error: ErrorBody };

export const serviceRef = (s: { name: string; version: string }) => `${s.name}@${s.version}`;
