/**
 * Workflow engines announce themselves: the cloud orchestrator, a site engine at an edge
 * site, and engines embedded in callers' processes. The cloud uses the announcements to
 * know which sites can execute runs locally, which JetStream domains hold run records to
 * list, and when an engine stopped (its durable runs are taken over).
 */
export const ENGINE_KINDS = ['cloud', 'site', 'embedded'] as const;
export type EngineKindName = (typeof ENGINE_KINDS)[number];

export interface EngineAnnouncement {
  /** Unique among live engines; stable across an engine's restarts where it can be (a site engine: its site). */
  id: string;
  kind: EngineKindName;
  /** The site it executes at (the cloud site for the orchestrator; absent for an embedded engine off-site). */
  site?: string;
  /** JetStream domain of its run store; absent: the hub's (default) domain. */
  domain?: string;
  startedAt: string;
  /** When this announcement was sent. */
  at: string;
  /** Runs it is executing now. */
  running: number;
  /** How often it announces, so a listener knows when silence means it is gone. */
  intervalMs: number;
}

export interface EngineLeaving {
  id: string;
  at: string;
}

export const RUN_CONTROL_ACTIONS = ['cancel', 'retry'] as const;
export type RunControlAction = (typeof RUN_CONTROL_ACTIONS)[number];

/**
 * Cancel or retry a run, sent on `Subjects.engineRunControl(id)` to the engine executing it
 * (the cloud forwards REST calls for runs other engines execute; a site engine forwards the
 * ones for runs it does not hold to the cloud). The reply is `{ record }`, the run as that
 * engine holds it after the change; errors come back as the engine's own (`NOT_FOUND`,
 * `CONFLICT`, …).
 */
export interface RunControlCommand {
  action: RunControlAction;
  runId: string;
  /** Why (a cancel's reason, shown in the run's error). */
  reason?: string;
  /** Engines the command already went through (it is never forwarded back to one of them). */
  via?: string[];
}

/** Where a page of a run listing ends: the last run sent (newest first, by `createdAt`, then id). */
export interface RunsCursor {
  createdAt: string;
  id: string;
}

/** Request on `Subjects.engineRunsList(id)`. */
export interface EngineRunsListRequest {
  workflow?: string;
  status?: string;
  /** Runs in all, over every page (at most 1,000). */
  limit?: number;
  /** The cursor of the previous page: only runs after it (older). */
  after?: RunsCursor;
}

/**
 * Reply on `Subjects.engineRunsList(id)`: run summaries (what `GET /runs` shows — no input,
 * output or steps), as many as fit in one message; `next` when more are left.
 */
export interface EngineRunsListReply<Summary = unknown> {
  runs: Summary[];
  next?: RunsCursor;
}

/** Request on `Subjects.engineRunsGet(id)`. */
export interface EngineRunGetRequest {
  id: string;
}

/** Reply on `Subjects.engineRunsGet(id)`: the run as it may leave the site (`run` absent: not held there). */
export interface EngineRunGetReply<Run = unknown> {
  run?: Run;
}
