import type { NodeTier } from '@yunbian/contracts';

/** A workflow definition as users write it (JSON or YAML). */
export interface WorkflowDefinition {
  name: string;
  /** Assigned by the registry when omitted; when given it must be higher than the latest. */
  version?: number;
  description?: string;
  /** JSON Schema the run input must match. */
  input?: Record<string, unknown>;
  steps: StepDefinition[];
  /** Mapping from the run's context to its output; defaults to every step's output by id. */
  output?: Mapping;
  /** `durable` (default): state in JetStream, survives restarts. `none`: in memory, fastest. */
  durability?: Durability;
  /** Placement hints applied to every step unless the step has its own. */
  placement?: PlacementHints;
}

export type Durability = 'durable' | 'none';

/**
 * A mapping is a JSONata expression (a string), or a template: an object/array whose
 * string values starting with `=` are JSONata expressions and everything else literal.
 * Expressions see `$input`, `$steps.<id>.output`, and in forEach steps `$item` and `$index`.
 */
export type Mapping = string | number | boolean | null | Mapping[] | { [key: string]: Mapping };

export interface StepDefinition {
  id: string;
  /** `name@semver-range` of a catalogued service… */
  service?: string;
  /** …or `name` / `name@version` of another workflow (a sub-workflow). */
  workflow?: string;
  input?: Mapping;
  /** Explicit dependencies besides those implied by `$steps.<id>` references. */
  after?: string[];
  /** Expression; when falsy the step is skipped. */
  when?: string;
  forEach?: ForEach;
  retry?: RetryPolicy;
  /** Deadline of each attempt. */
  timeoutMs?: number;
  onError?: OnError;
  placement?: PlacementHints;
  escalate?: Escalation;
}

export interface ForEach {
  /** Expression yielding an array; the step runs once per element. */
  items: string;
  /** Elements in flight at once. */
  concurrency?: number;
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  backoff?: 'fixed' | 'exponential';
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Fraction of the delay randomised (0–1). */
  jitter?: number;
}

/** `fail` (default) fails the run; `continue` records the failure and goes on; a fallback call replaces the output. */
export type OnError = 'fail' | 'continue' | { fallback: { service: string; input?: Mapping } };

export interface PlacementHints {
  tier?: NodeTier;
  tags?: string[];
  anyTags?: string[];
  site?: string;
  objective?: string;
  strategy?: string;
  maxLatencyMs?: number;
  dataTier?: 'public' | 'edge-private' | 'user-private';
}

/** Tiered inference: when `when` holds on the output, call `service` and use its output instead. */
export interface Escalation {
  /** Expression over `$output` (and the usual context). */
  when: string;
  service: string;
  /** Defaults to the same input. */
  input?: Mapping;
}

export const DEFAULT_RETRY: Required<RetryPolicy> = {
  maxAttempts: 3,
  backoff: 'exponential',
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  jitter: 0.2,
};
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_FOREACH_CONCURRENCY = 4;

export const LIMITS = {
  definitionBytes: 256 * 1024,
  steps: 500,
  /** JSON nesting depth of the definition document. */
  depth: 32,
  /** Sub-workflow calls nested inside one another at run time. */
  subWorkflowDepth: 8,
  forEachItems: 10_000,
} as const;
