import { freePort, waitUntil } from '@yunbian/common';
import type { ApiKeyCreated, ApiKeyView, AuditEntry } from '@yunbian/contracts';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { orchestratorAuthEnv, TestCluster } from './support/cluster';
import { RestClient } from './support/rest-client';

jest.setTimeout(90_000);

const SITE = 'site-a';
const NODE = 'auth-node';
/** Requests per minute per credential on the second replica (the first keeps the tests' generous one). */
const SMALL_LIMIT = 5;

/**
 * REST authentication against a real nats-server, two orchestrator replicas and an agent:
 * credentials (API keys from POST /auth/keys, JWTs signed by a key pair made here), roles,
 * site scope, revocation on the same and on another replica, the per-credential rate limit
 * and the audit log.
 */
describe('REST authentication, roles, keys, rate limits, audit log', () => {
  let cluster: TestCluster;
  let pair: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  /** The second replica, with YUNBIAN_RATE_LIMIT_PER_MIN=5. */
  const replicaB = new RestClient();

  const as = (key: string, method: string, route: string, body?: unknown) =>
    cluster.call(method, route, body, { authorization: key ? `Bearer ${key}` : '' });
  const createKey = async (name: string, role: string, sites?: string[]): Promise<ApiKeyCreated> => {
    const { status, body } = await cluster.call('POST', '/auth/keys', { name, role, ...(sites ? { sites } : {}) });
    expect(status).toBe(201);
    return body as unknown as ApiKeyCreated;
  };
  const token = (key: CryptoKey, claims: Record<string, unknown>, exp = '5m') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('jwt-user')
      .setIssuer('https://idp.test')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(key);

  beforeAll(async () => {
    [pair, other] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('RS256')]);
    const jwtEnv = { YUNBIAN_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey), YUNBIAN_JWT_ISSUER: 'https://idp.test' };
    cluster = await TestCluster.start();
    await cluster.startOrchestrator(jwtEnv);
    const port = await freePort();
    replicaB.api = `http://127.0.0.1:${port}`;
    cluster.spawn('orchestrator-b', 'apps/orchestrator/src/main.js', [], {
      PORT: String(port),
      YUNBIAN_ENGINE_ID: 'cloud-b',
      ...orchestratorAuthEnv(cluster.adminKey),
      YUNBIAN_RATE_LIMIT_PER_MIN: String(SMALL_LIMIT),
      ...jwtEnv,
    });
    await cluster.startAgentAlive({ id: NODE, site: SITE, tier: 'edge', memoryMb: 4096, costPerHour: 0.1 });
    await cluster.deploy('echo', NODE);
    const workflow = await cluster.call('POST', '/workflows', {
      name: 'auth-echo',
      steps: [{ id: 'e', service: 'echo', input: { value: '=$input' } }],
      output: '=$steps.e.output',
    });
    expect(workflow.status).toBe(201);
    await waitUntil(async () => (await replicaB.fetch('/health/ready')).ok, 30_000, 'replica b ready');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers 401 with WWW-Authenticate to calls without a valid credential, and leaves health open', async () => {
    for (const [method, route] of [
      ['GET', '/nodes'],
      ['GET', '/runs'],
      ['POST', '/instances'],
      ['POST', '/workflows/auth-echo/runs'],
      ['POST', '/auth/keys'],
      ['GET', '/audit'],
    ] as const) {
      const response = await cluster.fetch(route, {
        method,
        headers: { authorization: '', 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      expect({ route, status: response.status }).toEqual({ route, status: 401 });
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="yunbian"');
      const body = (await response.json()) as { code: string; message: string };
      expect(body.code).toBe('UNAUTHENTICATED');
      expect(body.message).toContain('Authorization: Bearer');
    }
    const forged = await as('yb_abcdef012345_notarealsecretnotarealsecret', 'GET', '/nodes');
    expect(forged.status).toBe(401);
    expect(forged.body.message).toContain('unknown or revoked API key');
    expect((await as('', 'GET', '/health/ready')).status).toBe(200);
  });

  it('lets a viewer read but not deploy (403 naming the role needed and the one held)', async () => {
    const viewer = await createKey('reader', 'viewer');
    expect(viewer.key).toMatch(/^yb_[0-9a-f]{12}_/);
    expect((await as(viewer.key, 'GET', '/nodes')).status).toBe(200);
    const deploy = await as(viewer.key, 'POST', '/instances', { service: 'echo', nodeId: NODE });
    expect(deploy.status).toBe(403);
    expect(deploy.body.code).toBe('FORBIDDEN');
    expect(deploy.body.message).toBe(
      `POST /instances needs role operator; your API key ${viewer.id} ("reader") has role viewer`,
    );
    // The listing never shows a key or its hash.
    const listed = (await cluster.get<ApiKeyView[]>('/auth/keys')).find((k) => k.id === viewer.id);
    expect(listed).toMatchObject({ name: 'reader', role: 'viewer' });
    expect(JSON.stringify(listed)).not.toContain(viewer.key.split('_')[2]);
    expect(listed).not.toHaveProperty('hash');
  });

  it('lets an operator start a run (202) but not change definitions; a site-scoped one only its sites', async () => {
    const operator = await createKey('runner', 'operator');
    const run = await as(operator.key, 'POST', '/workflows/auth-echo/runs', { input: 7 });
    expect(run.status).toBe(202);
    expect((await as(operator.key, 'DELETE', '/workflows/auth-echo')).status).toBe(403);

    const elsewhere = await createKey('other-site', 'operator', ['site-b']);
    const deploy = await as(elsewhere.key, 'POST', '/instances', { service: 'echo', nodeId: NODE });
    expect(deploy.status).toBe(403);
    expect(deploy.body.message).toBe(`node ${NODE} is at site ${SITE}; your credential is limited to sites site-b`);
    // Listings show a site-scoped credential its sites' nodes only.
    expect(((await as(elsewhere.key, 'GET', '/nodes')).body as unknown as unknown[]).length).toBe(0);
    const here = await createKey('this-site', 'viewer', [SITE]);
    expect((await as(here.key, 'GET', `/nodes/${NODE}`)).status).toBe(200);
  });

  it('refuses a revoked key at once on the same replica, and within 1 s on another', async () => {
    const key = await createKey('short-lived', 'viewer');
    expect((await as(key.key, 'GET', '/nodes')).status).toBe(200);
    expect((await replicaB.fetch('/nodes', { headers: { authorization: `Bearer ${key.key}` } })).status).toBe(200);
    const revoked = await cluster.call('DELETE', `/auth/keys/${key.id}`);
    expect(revoked).toEqual({ status: 200, body: { id: key.id, revoked: true } });
    const refused = await as(key.key, 'GET', '/nodes');
    expect(refused.status).toBe(401);
    expect(refused.body.message).toContain('unknown or revoked API key');
    // The other replica trusts a looked-up key for 1 s; allow a wide margin on a loaded machine.
    await waitUntil(
      async () => (await replicaB.fetch('/nodes', { headers: { authorization: `Bearer ${key.key}` } })).status === 401,
      10_000,
      'replica b to refuse the revoked key',
      200,
    );
    expect((await cluster.call('DELETE', `/auth/keys/${key.id}`)).status).toBe(404);
  });

  it('accepts a JWT with a role claim and refuses a wrong signature or an expired token (401)', async () => {
    const viewer = await token(pair.privateKey, { yunbian_role: 'viewer' });
    expect((await as(viewer, 'GET', '/nodes')).status).toBe(200);
    expect(
      await (await cluster.fetch('/auth/whoami', { headers: { authorization: `Bearer ${viewer}` } })).json(),
    ).toEqual({
      kind: 'jwt',
      id: 'jwt-user',
      role: 'viewer',
    });
    expect((await as(viewer, 'POST', '/workflows/auth-echo/runs', { input: 1 })).status).toBe(403);
    const operator = await token(pair.privateKey, { role: 'operator' });
    expect((await as(operator, 'POST', '/workflows/auth-echo/runs', { input: 2 })).status).toBe(202);

    const forged = await as(await token(other.privateKey, { yunbian_role: 'admin' }), 'GET', '/nodes');
    expect(forged.status).toBe(401);
    expect(forged.body.message).toContain('signature does not verify');
    const expired = await as(await token(pair.privateKey, { yunbian_role: 'admin' }, '-1m'), 'GET', '/nodes');
    expect(expired.status).toBe(401);
    expect(expired.body.message).toContain('expired');
  });

  it('answers 429 with Retry-After past the per-credential limit, and other credentials keep their own budget', async () => {
    const key = await createKey('busy', 'viewer');
    const auth = { authorization: `Bearer ${key.key}` };
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < SMALL_LIMIT + 2; i++) {
      const response = await replicaB.fetch('/nodes', { headers: auth });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.text();
    }
    // A one-minute window: the first SMALL_LIMIT pass (unless the window turned over mid-loop, which only adds 200s).
    expect(statuses.slice(0, SMALL_LIMIT).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(SMALL_LIMIT)).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    const admin = await replicaB.fetch('/nodes', { headers: { authorization: `Bearer ${cluster.adminKey}` } });
    expect(admin.status).toBe(200);
  });

  it('keeps every mutating call in the audit log, readable by admins only', async () => {
    const operator = await createKey('audited', 'operator');
    const started = await as(operator.key, 'POST', '/workflows/auth-echo/runs', { input: 3 });
    expect(started.status).toBe(202);
    await as(operator.key, 'POST', '/workflows', { name: 'nope', steps: [] });
    await as('', 'DELETE', `/instances/none`);
    const entries = await waitUntil(
      async () => {
        const list = await cluster.get<AuditEntry[]>(`/audit?actor=${operator.id}`);
        return list.length >= 2 ? list : undefined;
      },
      10_000,
      'the audit entries of the operator',
      200,
    );
    expect(entries.map((e) => [e.action, e.status, e.role, e.actorName])).toEqual([
      ['POST /workflows/:name/runs', 202, 'operator', 'audited'],
      ['POST /workflows', 403, 'operator', 'audited'],
    ]);
    expect(entries[0]!.params).toEqual({ name: 'auth-echo' });
    expect(entries[0]!.durationMs).toBeGreaterThanOrEqual(0);
    const anonymous = await waitUntil(
      async () => (await cluster.get<AuditEntry[]>('/audit?actor=anonymous')).find((e) => e.path === '/instances/none'),
      10_000,
      'the refused anonymous call in the audit log',
      200,
    );
    expect(anonymous).toMatchObject({ method: 'DELETE', route: '/instances/:id', status: 401 });
    // The key creations by the admin are there too.
    const byAdmin = await cluster.get<AuditEntry[]>(`/audit?limit=1000`);
    expect(byAdmin.some((e) => e.action === 'POST /auth/keys' && e.status === 201 && e.role === 'admin')).toBe(true);
    expect((await as(operator.key, 'GET', '/audit')).status).toBe(403);
    expect((await cluster.call('GET', '/audit?limit=0')).status).toBe(400);
  });
});
