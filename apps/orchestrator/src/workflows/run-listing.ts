import type { RunsCursor } from '@yunbian/contracts';
import type { RunStatus } from '@yunbian/workflow';
import type { RunSummary } from './run-view';

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
export function mergeRunLists<R extends RunSummary>(local: R[], remote: R[], filter: RunFilter): R[] {
  const byId = new Map<string, R>();
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

/** Newest first: by `createdAt`, then by id (so a cursor names one place in the order). */
export function compareNewestFirst(a: RunsCursor, b: RunsCursor): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

/**
 * One page of a site engine's listing: of `runs`, those after `after` in newest-first order,
 * at most `limit`, as many as fit in `budgetBytes` of JSON (always at least one, so a page
 * moves on); `next` is the cursor of the last one when more are left. Pure.
 */
export function pageOfRuns<R extends RunSummary>(
  runs: readonly R[],
  options: { after?: RunsCursor; limit: number; budgetBytes: number },
): { runs: R[]; next?: RunsCursor } {
  const after = options.after;
  const ordered = [...runs]
    .sort(compareNewestFirst)
    .filter((r) => !after || compareNewestFirst(after, r) < 0)
    .slice(0, Math.max(0, options.limit));
  const page: R[] = [];
  let bytes = 2;
  for (const run of ordered) {
    const size = Buffer.byteLength(JSON.stringify(run)) + 1;
    if (page.length > 0 && bytes + size > options.budgetBytes) break;
    page.push(run);
    bytes += size;
  }
  const last = page.at(-1);
  return page.length < ordered.length && last
    ? { runs: page, next: { createdAt: last.createdAt, id: last.id } }
    : { runs: page };
}
