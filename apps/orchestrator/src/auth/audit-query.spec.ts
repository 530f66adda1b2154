import type { AuditEntry } from '@yunbian/contracts';
import { AUDIT_MAX_LIMIT, httpAuditEntry, parseAuditQuery, selectAudit } from './audit-query';

const entry = (time: string, actor: string): AuditEntry => ({ time, kind: 'http', actor, action: 'POST /x' });

describe('audit queries', () => {
  it('parses since, actor and limit, and names what is wrong', () => {
    expect(parseAuditQuery({})).toEqual({ limit: 100 });
    expect(parseAuditQuery({ since: '2026-01-01T00:00:00Z', actor: 'k1', limit: '5' })).toEqual({
      since: new Date('2026-01-01T00:00:00Z'),
      actor: 'k1',
      limit: 5,
    });
    expect(parseAuditQuery({ since: 'yesterday' })).toContain('ISO 8601');
    expect(parseAuditQuery({ limit: '0' })).toContain(`from 1 to ${AUDIT_MAX_LIMIT}`);
    expect(parseAuditQuery({ limit: ['1', '2'] })).toContain('must be an integer');
  });

  it('answers the newest without since and the first after since, filtered by actor', () => {
    const all = [
      entry('2026-01-01T00:00:01Z', 'a'),
      entry('2026-01-01T00:00:02Z', 'b'),
      entry('2026-01-01T00:00:03Z', 'a'),
    ];
    expect(selectAudit(all, { limit: 1 }).map((e) => e.time)).toEqual(['2026-01-01T00:00:03Z']);
    expect(selectAudit(all, { limit: 1, since: new Date('2026-01-01T00:00:02Z') }).map((e) => e.time)).toEqual([
      '2026-01-01T00:00:02Z',
    ]);
    expect(selectAudit(all, { limit: 10, actor: 'a' })).toHaveLength(2);
  });

  it('records who, what, params, status and duration of a call', () => {
    const e = httpAuditEntry({
      principal: { kind: 'key', id: 'k1', name: 'ci', role: 'operator' },
      method: 'DELETE',
      route: '/instances/:id',
      path: '/instances/i-1',
      params: { id: 'i-1' },
      query: { drainTimeoutMs: '0' },
      status: 202,
      started: new Date('2026-01-01T00:00:00Z'),
      durationMs: 12.4,
    });
    expect(e).toEqual({
      time: '2026-01-01T00:00:00.000Z',
      kind: 'http',
      actor: 'k1',
      actorName: 'ci',
      role: 'operator',
      action: 'DELETE /instances/:id',
      method: 'DELETE',
      route: '/instances/:id',
      path: '/instances/i-1',
      params: { id: 'i-1', drainTimeoutMs: '0' },
      status: 202,
      durationMs: 12,
    });
    expect(httpAuditEntry({ method: 'POST', path: '/x', status: 401, started: new Date(), durationMs: 1 }).actor).toBe(
      'anonymous',
    );
  });
});
