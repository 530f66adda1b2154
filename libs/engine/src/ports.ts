/**
 * The ports the executor runs over. Everything outside the run loop — where runs are
 * stored, how a step attempt reaches a service, where large values go, where an attempt
 * is placed, what time it is, who wants to know — comes in through one of these, so the
 * same loop runs in the cloud orchestrator (NATS, JetStream), at an edge site, or in the
 * caller's own process, and under test with in-memory ports and a fake clock.
 */
import type { ErrorBody, ErrorCode, InstanceRecord, NodeRecord, PayloadRef } from '@yunbian/contracts';
import type { TimedExchange } from '@yunbian/common';
import type { PlacementHints, RunRecord, TaskState, Attempt, Durability, SplitStep } from '@yunbian/workflow';

/** Durable run state. The executor awaits `save` before anything of that round is sent. */
export interface RunStore {
  /** Resolves once the record is stored; writes for one run land in the order made. */
  save(run: RunRecord): Promise<void>;
  /** One run's latest record, or undefined. */
  load(id: string): Promise<RunRecord | undefined>;
  /** Every stored run (running and finished within retention), newest record of each. */
  loadAll(): Promise<RunRecord[]>;
  /** Housekeeping after a retention sweep (may do nothing). */
  compact(): Promise<void>;
}

/** Where values too large for a message (or a run record) go, replaced by a `PayloadRef`. */
export interface PayloadStore {
  /** The value itself when small; otherwise stored under `name` and a reference. `json` saves serialising it again. */
  offload(value: unknown, name: string, json?: string): Promise<unknown>;
  /** The value a reference stands for (anything else as it is). */
  resolve(value: unknown): Promise<unknown>;
  deleteWithPrefix(prefix: string): Promise<unknown>;
  /** Drops values stored before `cutoff` (epoch ms) whose name `select` picks. */
  deleteOlderThan(cutoff: number, select: (name: string) => boolean): Promise<unknown>;
}

/** The timing of one request/reply exchange, for the link's passive bandwidth. */
export type ExchangeTiming = TimedExchange;

/** A service call the executor makes for one attempt. */
export interface ServiceCall {
  instance: InstanceRecord;
  input: unknown;
  timeoutMs: number;
  /** The attempt's idempotency key: a resend after a restart carries the same one. */
  idempotencyKey: string;
  /** `input` serialised already (`JSON.stringify(input)`), when the executor did so for its size check. */
  inputJson?: string;
}

/** A sub-workflow run the executor asks for, on behalf of one attempt. */
export interface WorkflowStart {
  /** The sub-workflow reference as the step wrote it (`name@range`). */
  target: string;
  input: unknown;
  durability: Durability;
  parent: NonNullable<RunRecord['parent']>;
  depth: number;
}

/** Carries attempts out: service calls, and sub-workflow starts. */
export interface StepDispatcher {
  /** Resolves with the reply's value (and its timing when known); rejects with the error. */
  call(request: ServiceCall): Promise<{ value: unknown; exchange?: ExchangeTiming }>;
  /**
   * Starts a sub-workflow run and resolves with its id once it is accepted. The child's
   * outcome comes back to the parent through `Executor.report` (an executor that holds both
   * runs does this itself when the child ends).
   */
  startWorkflow(request: WorkflowStart): Promise<{ id: string }>;
}

/** What routing needs to know about one step attempt. */
export interface RouteRequest {
  /** `name@range`. */
  service: string;
  /** The step's `model` (`digits@3`, `digits@^3`, `digits@stable`, `digits@canary`): only instances serving it. */
  model?: string;
  /**
   * Identifies the request for a canary split (the run, step and element: every attempt of a
   * task draws the same side). Absent: the split is drawn on the service name alone.
   */
  splitKey?: string;
  hints?: PlacementHints;
  /** Instances that already failed this task: avoided while others exist. */
  avoid?: string[];
  inputBytes?: number;
  /** Where the step's input is (the node that produced it, or the run's origin). */
  origin?: { nodeId?: string; site: string };
  dataTier?: 'public' | 'edge-private' | 'user-private';
}

export interface RouteCandidate {
  instanceId?: string;
  nodeId: string;
  /** Estimated latency (ms) and cost of running the step there. */
  latencyMs?: number;
  cost?: number;
  /** The execution time within that latency (ms) and where it came from: observed, declared-tag, declared-service or default. */
  computeMs?: number;
  computeSource?: string;
  /** The link bandwidth the estimate used (absent on the same node: nothing moves), Mbit/s… */
  bandwidthMbps?: number;
  /** …where that figure came from: measured, declared, default, lan or same-node… */
  bandwidthSource?: 'measured' | 'declared' | 'default' | 'lan' | 'same-node';
  /** …and how old a measured figure was, ms. */
  bandwidthAgeMs?: number;
  score?: number;
  rejected?: string;
}

export interface RouteDecision {
  instance: InstanceRecord;
  node: NodeRecord;
  strategy: string;
  reason: string;
  candidates: RouteCandidate[];
  /** `name@version` of the model the chosen instance serves, when the request named a model. */
  model?: string;
}

/**
 * Placement. The router keeps the one count of attempts in flight per instance: the
 * executor tells it when it sends to an instance and when it hears back.
 */
export interface StepRouter {
  /** Chooses an instance, or throws a YunbianError saying why none fits. */
  route(request: RouteRequest): RouteDecision;
  sent(instanceId: string): void;
  /** With the request's duration and timing when it succeeded (for profiles and passive bandwidth). */
  settled(instanceId: string, durationMs?: number, exchange?: ExchangeTiming): void;
  /** The site of a node, or undefined when it is not known (any more). */
  siteOf(nodeId: string): string | undefined;
  /**
   * The instance while it is there to answer (known and not failed), else undefined: an
   * attempt whose reply did not come is asked again on it only while it is. Without this
   * method the executor takes every instance to be there (the step's timeout still bounds it).
   */
  instance?(instanceId: string): InstanceRecord | undefined;
}

export type TimerHandle = unknown;

/** Wall-clock time (epoch ms) and timers: real ones in production, a fake one under test. */
export interface Clock {
  now(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** One attempt the executor sent to an instance. */
export interface SentAttempt {
  run: RunRecord;
  stepId: string;
  task: TaskState;
  attempt: Attempt;
  /** `name@version` of the instance. */
  service: string;
  instance: InstanceRecord;
  placement: { strategy: string; reason: string };
}

/** Something a listener keeps open while an attempt is out (a tracing span, say). */
export interface AttemptScope {
  /** Runs the call inside the scope (so trace context reaches the request). */
  around?<T>(call: () => Promise<T>): Promise<T>;
  end(error?: unknown): void;
}

/**
 * Observers of runs: metrics, tracing spans, waiters. They change no run state except what
 * `runCreating` returns, which becomes part of the record the run starts with. Every hook
 * is optional; the executor calls them in order, synchronously, and never awaits them.
 */
export interface RunListener {
  /** Before a run is first stored; may give it trace identifiers. */
  runCreating?(run: RunRecord, parent: RunRecord | undefined): Pick<RunRecord, 'traceId' | 'traceContext'> | void;
  /** A placement decision: placed, or no instance fits. */
  placement?(strategy: string, outcome: 'placed' | 'unsatisfiable'): void;
  attemptSent?(sent: SentAttempt): AttemptScope | undefined;
  /** `outcome` is 'ok' or the error's code; `durationMs` from send to reply. */
  attemptSettled?(sent: SentAttempt, outcome: 'ok' | ErrorCode, durationMs: number): void;
  /** A run ended (once per ending: a retried run that ends again is announced again). */
  runFinished?(run: RunRecord): void;
  /** Something went wrong that no caller awaits (a run could not advance, cleanup failed). */
  problem?(message: string, fields: Record<string, unknown>, level: 'warn' | 'error'): void;
}

/**
 * Outcomes workers kept by idempotency key (`OutcomeStore`, the `yb-outcomes` bucket): an
 * engine that restarts reads those of its outstanding attempts before sending them again,
 * so a step that finished while it was down is not run again.
 */
export interface OutcomeSource {
  /** The kept outcome of the attempt with this key, or undefined. */
  get(idempotencyKey: string): Promise<{ ok: true; output: unknown } | { ok: false; error: ErrorBody } | undefined>;
}

/** The ports an executor runs over. */
/** One attempt of a split step (see `SplitStep` in @yunbian/workflow), for the split port to carry out. */
export interface SplitStepCall {
  runId: string;
  stepId: string;
  idempotencyKey: string;
  split: SplitStep;
  /** The step's evaluated input: `{ inputs: { <name>: { dims, float32 } } }`. */
  input: unknown;
  timeoutMs: number;
  /** Calls an instance as the executor does; resolves with the reply's value (a payload reference when large). */
  call(request: ServiceCall): Promise<unknown>;
  /** A value as a payload reference when it is too large for a message (the payload store's rule). */
  offload(value: unknown, name: string): Promise<unknown>;
  /** A payload reference's value (anything else as is). */
  resolve(value: unknown): Promise<unknown>;
}

/** Runs split steps: plans the cut, runs head and tail where they go; resolves with the step's output. */
export interface SplitRunner {
  run(call: SplitStepCall): Promise<unknown>;
}

export interface ExecutorPorts {
  store: RunStore;
  /** Optional: without it, split steps fail saying this engine cannot run them. */
  split?: SplitRunner;
  /** Optional: without it, a resend after a restart relies on the worker's own result cache. */
  outcomes?: OutcomeSource;
  dispatcher: StepDispatcher;
  payloads: PayloadStore;
  router: StepRouter;
  clock: Clock;
  listeners?: RunListener[];
}

export type { ErrorBody, PayloadRef };
