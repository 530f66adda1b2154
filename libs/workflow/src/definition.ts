import type { NodeTier } from '@yunbian/contracts';
import type { HardExampleRule } from './hard-examples';
import type { SplitStep } from './split-step';

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
  /** Events that start runs: NATS subject messages, JetStream stream messages, a schedule. */
  triggers?: TriggerDefinition[];
}

/**
 * What a trigger shares whatever its kind. Exactly one of `subject`, `stream` and
 * `schedule` says the kind.
 */
export interface TriggerBase {
  /** Names the trigger (its durable consumer, its runs' ids); default `<kind>-<position>`. */
  id?: string;
  /** The site whose engine runs the trigger; omitted: the cloud engine. */
  site?: string;
  /** Mapping from the event (`$trigger`) to the run input; default `$trigger.data` (schedules: `{ firedAt, scheduledAt }`). */
  input?: Mapping;
  /** Runs of this trigger in flight at once (default: subject 64, stream 16, schedule 1). */
  concurrency?: number;
  /** Durability of the runs it starts; default the workflow's. */
  durability?: Durability;
}

/** Core NATS: at most once; the site's engines share a queue group, so one of them takes each message. */
export interface SubjectTrigger extends TriggerBase {
  subject: string;
}

/** A JetStream stream: each message starts exactly one run, acknowledged once that run is stored. */
export interface StreamTrigger extends TriggerBase {
  stream: string;
  /** Only messages on this subject (wildcards allowed) of the stream. */
  filter?: string;
  /** `new` (default): messages published after the trigger first started; `all`: the stream from its start. */
  from?: 'new' | 'all';
}

/** A cron schedule (croner syntax; 6 fields for seconds). Fires missed while no engine ran are skipped. */
export interface ScheduleTrigger extends TriggerBase {
  schedule: string;
  /** IANA time zone the schedule is read in (default UTC). */
  timezone?: string;
}

/**
 * Sedna-style training trigger on a collection (`collect`): fires when `count` new samples
 * arrived within `windowSeconds`, or when the step's answers on the labelled ones among them
 * are right less often than `accuracyBelow`. Run by the engine of the site owning the
 * collection (`site`; without it the cloud's, for public collections).
 */
export interface SamplesTrigger extends TriggerBase {
  samples: {
    dataset: string;
    /** New samples (since the last fire) that fire it; default 100. */
    count?: number;
    /** Only samples that arrived within this many seconds count; default: all since the last fire. */
    windowSeconds?: number;
    /** Fire when the accuracy of the answers on the labelled samples in the window is below this (0..1)… */
    accuracyBelow?: number;
    /** …once at least this many labelled samples are there (default 20). */
    minLabelled?: number;
  };
}

export type TriggerDefinition = SubjectTrigger | StreamTrigger | ScheduleTrigger | SamplesTrigger;
export type TriggerKind = 'subject' | 'stream' | 'schedule' | 'samples';

export const DEFAULT_TRIGGER_CONCURRENCY: Record<TriggerKind, number> = {
  subject: 64,
  stream: 16,
  schedule: 1,
  samples: 1,
};

export function triggerKind(trigger: TriggerDefinition): TriggerKind {
  return 'stream' in trigger
    ? 'stream'
    : 'schedule' in trigger
      ? 'schedule'
      : 'samples' in trigger
        ? 'samples'
        : 'subject';
}

/** A trigger's id: the one it declares, else `<kind>-<position>`. */
export function triggerId(trigger: TriggerDefinition, index: number): string {
  return trigger.id ?? `${triggerKind(trigger)}-${index}`;
}

export type Durability = 'durable' | 'none';

/**
 * A mapping is a JSONata expression (a string), or a template: an object/array whose
 * string values starting with `=` are JSONata expressions and everything else literal.
 * Expressions see `$input`, `$steps.<id>.output`, and in forEach steps `$item` and `$index`;
 * a trigger's input mapping sees `$trigger` (the message or the fire).
 */
export type Mapping = string | number | boolean | null | Mapping[] | { [key: string]: Mapping };

export interface StepDefinition {
  id: string;
  /** `name@semver-range` of a catalogued service… */
  service?: string;
  /** …or `name` / `name@version` of another workflow (a sub-workflow)… */
  workflow?: string;
  /**
   * …or one inference of a model split between two nodes (see `SplitStep`). The input maps to
   * `{ inputs: { <name>: { dims, float32 } } }` as for onnx-inference; the output is the tail's
   * `outputs` and `split`: the cut, the tensors' sizes, the estimate and what was measured.
   */
  split?: SplitStep;
  /**
   * With `service`: the model that must answer — `name`, `name@<version or semver range>`
   * (`digits@3`, `digits@^3`) or `name@<alias>` (`digits@stable`, `digits@canary`). Only
   * instances serving a matching version are candidates. Applies to the step's own calls,
   * not to `escalate` or an `onError` fallback.
   */
  model?: string;
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
  /**
   * Tiered inference, instead of `service`: tier 0 gets the whole batch (the first dimension
   * of the input tensors), each tier's hard samples go on to the next, answers merged back in
   * sample order (docs/workflows.md, "Tiered inference").
   */
  tiers?: TierDefinition[];
  /**
   * A tiered step's hard examples (the samples a tier's rule sent on) appended to a collection,
   * kept where their privacy tier allows (docs/learning.md, "Hard examples by tier").
   */
  collect?: CollectDefinition;
}

/** Where a tiered step's hard examples go: a collection (`yb-samples` in the domain their tier allows). */
export interface CollectDefinition {
  /** The collection's name (1-128 letters, digits, `_`, `-`). */
  dataset: string;
  /**
   * The samples' privacy tier, when more private than the step's data tier (the step's
   * `placement.dataTier`, else the workflow's, else the run's, else `public`): the higher wins.
   */
  privacy?: 'public' | 'edge-private' | 'user-private';
}

/** One tier of a tiered step. */
export interface TierDefinition {
  /** `name@semver-range` of a service speaking the onnx-inference format. */
  service: string;
  /** The model that answers at this tier (as a step's `model`). */
  model?: string;
  /** Where this tier runs (e.g. `{ tier: device }`); default the step's, else the workflow's. */
  placement?: PlacementHints;
  /** Which samples go on to the next tier; every tier but the last has one (default `{ rule: threshold }`). */
  hard?: HardExampleRule;
  /** Name of the probabilities/detections output tensor; default the reply's first. */
  output?: string;
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
  triggers: 16,
  triggerConcurrency: 1_024,
} as const;
