import type { AuditEntry, Principal } from '@yunbian/contracts';

export interface AuditQuery {
  since?: Date;
  actor?: string;
  limit: number;
}

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1_000;
/** At most this many entries are read per query (the newest, or the first after `since`). */
export const AUDIT_SCAN_LIMIT = 20_000;

/** `GET /audit`'s query; a string naming what is wrong and what is accepted otherwise. */
export function parseAuditQuery(query: Record<string, unknown>): AuditQuery | string {
  const out: AuditQuery = { limit: AUDIT_DEFAULT_LIMIT };
  if (query.since !== undefined) {
    const since = typeof query.since === 'string' ? new Date(query.since) : undefined;
    if (!since || Number.isNaN(since.getTime()))
      return `since=${JSON.stringify(query.since)} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`;
    out.since = since;
  }
  if (query.actor !== undefined) {
    if (typeof query.actor !== 'string' || !query.actor || query.actor.length > 200)
      return 'actor must be a key id or token subject (1–200 characters)';
    out.actor = query.actor;
  }
  if (query.limit !== undefined) {
    const limit = Number(query.limit);
    if (typeof query.limit !== 'string' || !Number.isInteger(limit) || limit < 1 || limit > AUDIT_MAX_LIMIT)
      return `limit=${JSON.stringify(query.limit)} must be an integer from 1 to ${AUDIT_MAX_LIMIT}`;
    out.limit = limit;
  }
  return out;
}

/** The entries a query answers, oldest first: the first `limit` after `since`, else the last `limit`. */
export function selectAudit(entries: AuditEntry[], query: AuditQuery): AuditEntry[] {
  const since = query.since?.getTime();
  const matching = entries.filter(
    (e) => (!query.actor || e.actor === query.actor) && (since === undefined || Date.parse(e.time) >= since),
  );
  return since === undefined ? matching.slice(-query.limit) : matching.slice(0, query.limit);
}

/** Who an entry names for a principal (or an anonymous caller). */
export function actorOf(principal: Principal | undefined): Pick<AuditEntry, 'actor' | 'actorName' | 'role'> {
  if (!principal) return { actor: 'anonymous' };
  return { actor: principal.id, ...(principal.name ? { actorName: principal.name } : {}), role: principal.role };
}

/** An entry for a finished REST call. */
export function httpAuditEntry(call: {
  principal?: Principal;
  method: string;
  route?: string;
  path: string;
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  status: number;
  started: Date;
  durationMs: number;
}): AuditEntry {
  const params = { ...(call.params ?? {}), ...(call.query ?? {}) };
  return {
    time: call.started.toISOString(),
    kind: 'http',
    ...actorOf(call.principal),
    action: `${call.method} ${call.route ?? call.path}`,
    method: call.method,
    ...(call.route ? { route: call.route } : {}),
    // The path as asked, bounded (hostile callers send long ones).
    path: call.path.slice(0, 500),
    ...(Object.keys(params).length ? { params: boundParams(params) } : {}),
    status: call.status,
    durationMs: Math.round(call.durationMs),
  };
}

function boundParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params).slice(0, 20))
    out[k.slice(0, 100)] = typeof v === 'string' ? v.slice(0, 200) : JSON.stringify(v)?.slice(0, 200);
  return out;
}
