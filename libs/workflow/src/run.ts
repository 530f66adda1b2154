import type { ErrorBody } from '@yunbian/contracts';
import type { Durability, WorkflowDefinition } from './definition';
import type { TierProgress } from './tiers';
import { isoTime } from './time';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
/**
 * skipped: its `when` was false; cancelled: the run ended (failed elsewhere, or was
 * cancelled) before the step finished — never started, or in flight — and `reason` says which.
 * A finished run has no step left pending or running.
 */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
/**
 * pending: ready to dispatch `next`; dispatched: an attempt is out; waiting: a retry is due
 * at `retryAt`; checking: the primary answered and the escalation condition must be
 * evaluated (a tiered step: a tier answered, or could not be reached, and its answer is judged); succeeded/failed: done; cancelled: the run ended first.
 */
export type TaskStatus = 'pending' | 'dispatched' | 'waiting' | 'checking' | 'succeeded' | 'failed' | 'cancelled';
export type AttemptPurpose = 'primary' | 'escalation' | 'fallback';

export interface Attempt {
  n: number;
  purpose: AttemptPurpose;
  /** Service reference as written (`name@range`) or the sub-workflow's. */
  target: string;
  /** What placement chose, filled by the executor. */
  service?: string;
  instanceId?: string;
  nodeId?: string;
  placement?: unknown;
  /** `name@version` of the model that answered, when the step named one (`model`). */
  model?: string;
  /** Tiered steps: the tier this attempt asked (0 = the primary). */
  tier?: number;
  childRunId?: string;
  idempotencyKey: string;
  queuedAt: string;
  startedAt?: string;
  finishedAt?: string;
  error?: ErrorBody;
  /** Set when the run ended while this attempt was out: its reply, if one comes, is ignored. */
  abandoned?: { at: string; reason: string };
}

export interface TaskState {
  /** forEach element index; null for a plain step. */
  index: number | null;
  status: TaskStatus;
  next: AttemptPurpose;
  attempts: Attempt[];
  /** Attempts before the last manual retry do not count against the retry policy. */
  attemptBase: number;
  input?: unknown;
  output?: unknown;
  /** The primary's output when an escalation replaced it; in a tiered step, the reply being judged. */
  primaryOutput?: unknown;
  /** Tiered steps: which tier answered which sample so far, and the merged answers. */
  tiers?: TierProgress;
  error?: ErrorBody;
  retryAt?: number;
}

export interface StepState {
  status: StepStatus;
  tasks: TaskState[];
  output?: unknown;
  error?: ErrorBody;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface RunRecord {
  id: string;
  workflow: { name: string; version: number };
  /** The definition version the run started with, kept whole. */
  definition: WorkflowDefinition;
  durability: Durability;
  status: RunStatus;
  input: unknown;
  output?: unknown;
  error?: ErrorBody;
  steps: Record<string, StepState>;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  parent?: { runId: string; stepId: string; taskIndex: number | null; attempt: number };
  /** Where the run's input comes from (a node and its site); placement keeps private data there. */
  origin?: { nodeId?: string; site: string };
  /** Tier of the run's input data when steps do not say. */
  dataTier?: 'public' | 'edge-private' | 'user-private';
  /** Sub-workflow nesting level (0 for a top-level run). */
  depth: number;
  /**
   * The engine executing the run: the cloud orchestrator, a site engine at an edge site, or
   * an engine embedded in the caller's process; `reason` says why it runs there. A run taken
   * over by another engine (its own engine died) names the new one and says so.
   */
  executedBy?: RunEngine;
  traceId?: string;
  /** W3C trace context of the run's span, so steps (even after a restart) join its trace. */
  traceContext?: Record<string, string>;
}

export type EngineKind = 'cloud' | 'site' | 'embedded';

export interface RunEngine {
  kind: EngineKind;
  /** The engine's own id (unique among live engines). */
  id: string;
  /** The site it runs at (a site engine's site; the cloud's site for the orchestrator). */
  site?: string;
  reason: string;
}

export function createRun(options: {
  id: string;
  definition: WorkflowDefinition & { version: number };
  input: unknown;
  durability?: Durability;
  now: Date;
  parent?: RunRecord['parent'];
  depth?: number;
  origin?: RunRecord['origin'];
  dataTier?: RunRecord['dataTier'];
  executedBy?: RunEngine;
}): RunRecord {
  const at = isoTime(options.now.getTime());
  const steps: Record<string, StepState> = {};
  for (const step of options.definition.steps) steps[step.id] = { status: 'pending', tasks: [] };
  return {
    id: options.id,
    workflow: { name: options.definition.name, version: options.definition.version },
    definition: options.definition,
    durability: options.durability ?? options.definition.durability ?? 'durable',
    status: 'running',
    input: options.input,
    steps,
    createdAt: at,
    updatedAt: at,
    parent: options.parent,
    depth: options.depth ?? 0,
    ...(options.origin ? { origin: options.origin } : {}),
    ...(options.dataTier ? { dataTier: options.dataTier } : {}),
    ...(options.executedBy ? { executedBy: options.executedBy } : {}),
  };
}

export const isTerminalStep = (s: StepStatus) =>
  s === 'succeeded' || s === 'failed' || s === 'skipped' || s === 'cancelled';
export const isTerminalTask = (s: TaskStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';
export const isTerminalRun = (s: RunStatus) => s !== 'running';

export function idempotencyKey(runId: string, stepId: string, index: number | null, attempt: number): string {
  return index === null ? `${runId}:${stepId}:${attempt}` : `${runId}:${stepId}[${index}]:${attempt}`;
}
