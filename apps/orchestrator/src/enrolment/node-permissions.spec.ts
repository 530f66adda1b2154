import { Subjects } from '@yunbian/contracts';
import { enrolmentRequestProblem } from './enrolment.service';
import { nodePermissions } from './node-permissions';

/** NATS subject matching (`*` one token, `>` the rest), as the server applies permissions. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allows = (list: string[], subject: string) => list.some((p) => matches(p, subject));

describe('nodePermissions', () => {
  const perms = nodePermissions('edge-a', 'factory', ['ocr-det', 'echo']);

  it("lets a node publish its own events and receive its own commands, never another node's", () => {
    for (const event of [
      Subjects.nodeAnnounce,
      Subjects.nodeHeartbeat,
      Subjects.instanceStatus,
      Subjects.nodeLeaving,
    ]) {
      expect(allows(perms.pub.allow, event('edge-a'))).toBe(true);
      expect(allows(perms.pub.allow, event('edge-b'))).toBe(false);
    }
    for (const command of [Subjects.nodeStartInstance, Subjects.nodeStopInstance, Subjects.nodeProfileModels]) {
      expect(allows(perms.sub.allow, command('edge-a'))).toBe(true);
      expect(allows(perms.sub.allow, command('edge-b'))).toBe(false);
      expect(allows(perms.pub.allow, command('edge-b'))).toBe(false);
    }
  });

  it('receives the calls of its library services only, and replies on its own inbox prefix', () => {
    expect(allows(perms.sub.allow, Subjects.service('echo', '1.0.0'))).toBe(true);
    expect(allows(perms.sub.allow, Subjects.service('ocr-det', '2.1.0'))).toBe(true);
    expect(allows(perms.sub.allow, Subjects.service('json-transform', '1.0.0'))).toBe(false);
    expect(perms.sub.allow).not.toContain('yb.svc.>');
    expect(allows(perms.sub.allow, '_INBOX_factory.edge-a.abc')).toBe(true);
    expect(allows(perms.sub.allow, '_INBOX_factory.edge-b.abc')).toBe(false);
    expect(allows(perms.sub.allow, '_INBOX.abc')).toBe(false);
    expect(allows(perms.pub.allow, '_INBOX.abc')).toBe(false);
  });

  it("reaches the registry's and its site's stores, never the orchestrator's buckets or stream deletion", () => {
    expect(allows(perms.pub.allow, '$JS.API.STREAM.INFO.OBJ_yb-models')).toBe(true);
    expect(allows(perms.pub.allow, '$JS.hub.API.DIRECT.GET.KV_yb-model-meta.$KV.yb-model-meta.x')).toBe(true);
    expect(allows(perms.pub.allow, '$O.yb-payloads-factory.C.abc')).toBe(true);
    expect(allows(perms.pub.allow, '$JS.hub.API.CONSUMER.CREATE.OBJ_yb-compression-staging')).toBe(true);
    expect(allows(perms.pub.allow, '$KV.yb-outcomes.run-1')).toBe(true);
    for (const forbidden of [
      '$JS.API.STREAM.INFO.KV_yb-runs',
      '$JS.API.DIRECT.GET.KV_yb-api-keys.$KV.yb-api-keys.key',
      '$JS.API.STREAM.DELETE.KV_yb-catalog',
      '$JS.API.STREAM.DELETE.OBJ_yb-models',
      '$JS.API.STREAM.PURGE.OBJ_yb-models',
      '$KV.yb-runs.run.x',
      '$KV.yb-catalog.node.x',
      '$O.yb-models.C.x',
      '$O.yb-payloads-other-site.C.x',
      '$JS.API.SERVER.REMOVE',
      '$JS.API.ACCOUNT.PURGE.x',
    ]) {
      expect({ forbidden, allowed: allows(perms.pub.allow, forbidden) }).toEqual({ forbidden, allowed: false });
    }
  });

  it("keeps its own site's telemetry: publishes and reads its site's streams, never another site's", () => {
    const pub = perms.pub.allow;
    expect(allows(pub, 'yb.telemetry.factory.raw.edge-private.temp')).toBe(true);
    expect(allows(pub, 'yb.telemetry-agg.factory.temp')).toBe(true);
    expect(allows(pub, '$JS.factory.API.STREAM.CREATE.yb-telemetry-factory')).toBe(true);
    expect(allows(pub, '$JS.factory.API.CONSUMER.CREATE.yb-telemetry-agg-factory')).toBe(true);
    expect(allows(pub, '$JS.factory.API.STREAM.PURGE.yb-telemetry-factory')).toBe(true);
    // Another site's readings, summaries and streams, the cloud's copy, and message deletion: no.
    expect(allows(pub, 'yb.telemetry.store.raw.edge-private.temp')).toBe(false);
    expect(allows(pub, 'yb.telemetry-agg.store.temp')).toBe(false);
    expect(allows(pub, '$JS.store.API.STREAM.INFO.yb-telemetry-store')).toBe(false);
    expect(allows(pub, '$JS.hub.API.CONSUMER.CREATE.yb-telemetry-agg')).toBe(false);
    expect(allows(pub, '$JS.factory.API.STREAM.MSG.DELETE.yb-telemetry-factory')).toBe(false);
  });

  it('refuses ids that are not subject tokens', () => {
    expect(() => nodePermissions('a.b', 'factory', [])).toThrow(/node id/);
    expect(() => nodePermissions('a', 'f*', [])).toThrow(/site name/);
    expect(() => nodePermissions('a', 'f', ['x>'])).toThrow(/service name/);
  });
});

describe('enrolmentRequestProblem', () => {
  it('accepts a node id and site, and names what is wrong otherwise', () => {
    expect(enrolmentRequestProblem({ nodeId: 'edge-a', site: 'factory' })).toBeUndefined();
    expect(enrolmentRequestProblem({ nodeId: 'edge a', site: 'factory' })).toMatch(/nodeId/);
    expect(enrolmentRequestProblem({ nodeId: 'edge-a', site: '' })).toMatch(/site/);
    expect(enrolmentRequestProblem({ nodeId: 'e', site: 's', services: ['ok', 'no.t'] })).toMatch(/"no.t"/);
    expect(enrolmentRequestProblem({ nodeId: 'e', site: 's', expiresInS: 0 })).toMatch(/expiresInS/);
    expect(enrolmentRequestProblem(null as never)).toMatch(/object/);
  });
});
