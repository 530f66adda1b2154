import type { RunRecord, RunStatus } from '@yunbian/workflow';

export interface RunFilter {
  workflow?: string;
  status?: RunStatus;
  limit?: number;
}

/**
 * GET /runs: this engine's runs and those other engines hold, each run once — the record of
 * the engine that holds it wins (after a takeover the cloud holds the run while the shared
 * store still has the lost engine's record, and a store listing may lag the memory one) —
 * filtered, newest first, at most `limit` (default 100, at most 1,000).
 */
export function mergeRunLists(local: RunRecord[], remote: RunRecord[], filter: RunFilter): RunRecord[] {
  const byId = new Map<string, RunRecord>();
  for (const run of local) byId.set(run.id, run);
  for (const run of remote) {
    if (byId.has(run.id)) continue;
    if (filter.workflow && run.workflow.name !== filter.workflow) continue;
    if (filter.status && run.status !== filter.status) continue;
    byId.set(run.id, run);
  }
  return [...byId.values()]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, Math.min(filter.limit ?? 100, 1_000));
}
