import { accessFor, expressPattern } from '../apps/orchestrator/src/auth/route-roles';
import { TestCluster } from './support/cluster';

/**
 * Hostile input over every route of the orchestrator's OpenAPI document (read from the
 * running server, so a new route is fuzzed without editing this file): for each operation a
 * bounded, seeded set of requests with wildcards and other non-identifiers in path
 * parameters, deep JSON, huge strings, wrong types, unicode, empty and null bodies, arrays
 * for objects, negative and huge numbers, and bodies of the wrong content type. Every answer
 * must be below 500, none may hang, and the server must be healthy afterwards. The requests
 * carry the admin key, so bodies reach the handlers; a second pass without any credential
 * must get 401 from every route except the open ones (health).
 */

jest.setTimeout(180_000);

const SEED = Number(process.env.YUNBIAN_FUZZ_SEED ?? 16);
/** Requests per operation (besides the path-parameter ones). */
const CASES_PER_OPERATION = 14;
/** The whole run stops issuing requests after this long; it prints how far it got. */
const BUDGET_MS = 60_000;
/** A request not answered within this is a hang. */
const REQUEST_TIMEOUT_MS = 15_000;

/** mulberry32: a small seeded generator, so a failing case can be replayed with its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const deepJson = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const deepObject = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
const HOSTILE_PARAMS = [
  'a*b',
  '>',
  'a.b',
  'a b',
  '%2A',
  '..',
  'ü名',
  'x'.repeat(300),
  '0',
  '-1',
  'null',
  "'; DROP",
  '%00',
];
const HOSTILE_VALUES: unknown[] = [
  null,
  '',
  'x'.repeat(100_000),
  '名前🙂\u0000\u202e',
  -1,
  -1e308,
  1e308,
  2 ** 31,
  Number.MAX_SAFE_INTEGER + 2,
  0.5,
  true,
  [],
  [1, 'a', null],
  {},
  { $ref: '#' },
  'a*.>',
  '../../../../etc/passwd',
];
const WRONG_TYPES = [
  'application/xml',
  'multipart/form-data; boundary=x',
  'text/html',
  'application/x-www-form-urlencoded',
];

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: unknown[];
  required?: string[];
}

interface Operation {
  method: string;
  path: string;
  params: { name: string; in: string }[];
  bodySchema?: Schema;
  bodyTypes: string[];
}

/** Names the fuzz gives path parameters and name fields when not hostile: resources that exist (see beforeAll). */
const EXISTING = 'fuzz';
const PLAUSIBLE_NUMBERS = [1, 0, -1, 1e15, 1e308, 2 ** 31, 0.001];

/**
 * A value shaped like `schema` (objects with their properties, arrays of their items) whose
 * leaves are plausible or, with probability `hostility`, hostile: bodies that pass the outer
 * validation and reach handlers, solvers and stores.
 */
function sample(schema: Schema | undefined, random: () => number, hostility: number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  if (!schema || depth > 6 || random() < hostility) return pick(HOSTILE_VALUES);
  if (schema.enum) return pick(schema.enum);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object' || schema.properties) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(schema.properties ?? {}))
      if (schema.required?.includes(key) || random() < 0.5) out[key] = sample(child, random, hostility, depth + 1);
    return out;
  }
  if (type === 'array') return [sample(schema.items, random, hostility, depth + 1)];
  if (type === 'number' || type === 'integer') return pick(PLAUSIBLE_NUMBERS);
  if (type === 'boolean') return random() < 0.5;
  return EXISTING;
}

interface Case {
  path: string;
  query: string;
  body?: string | Uint8Array;
  contentType?: string;
  label: string;
}

/** `schema` with every `$ref` to a component replaced by the component (the document's schemas are acyclic). */
function dereference(schema: unknown, components: Record<string, unknown>, depth = 0): unknown {
  if (schema === null || typeof schema !== 'object' || depth > 20) return schema;
  if (Array.isArray(schema)) return schema.map((s) => dereference(s, components, depth + 1));
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') return dereference(components[ref.split('/').pop()!], components, depth + 1);
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [key, dereference(value, components, depth + 1)]),
  );
}

function operations(doc: {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, unknown> };
}): Operation[] {
  const components = doc.components?.schemas ?? {};
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const content = (op.requestBody as { content?: Record<string, { schema?: Operation['bodySchema'] }> })?.content;
      ops.push({
        method: method.toUpperCase(),
        path,
        params: (op.parameters as Operation['params']) ?? [],
        bodySchema: dereference(content?.['application/json']?.schema, components) as Operation['bodySchema'],
        bodyTypes: Object.keys(content ?? {}),
      });
    }
  }
  return ops;
}

function cases(op: Operation, random: () => number): Case[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const pathWith = (hostile?: string) =>
    op.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
      encodeURIComponent(hostile ?? (name === 'version' ? '1' : EXISTING)),
    );
  const queryWith = (value: () => unknown) =>
    op.params
      .filter((p) => p.in === 'query')
      .map((p) => `${encodeURIComponent(p.name)}=${encodeURIComponent(String(value()))}`)
      .join('&');
  const out: Case[] = [];
  // Every path parameter with a hostile value (all at once: the first one checked refuses).
  if (op.path.includes('{')) {
    for (const hostile of HOSTILE_PARAMS)
      out.push({ path: pathWith(hostile), query: '', label: `param ${hostile.slice(0, 12)}` });
  }
  const json = (value: unknown): Pick<Case, 'body' | 'contentType'> => ({
    body: JSON.stringify(value),
    contentType: 'application/json',
  });
  const generators: (() => Case)[] = [
    () => ({
      path: pathWith(),
      query: '',
      body: deepJson(12_000),
      contentType: 'application/json',
      label: 'deep array',
    }),
    () => ({
      path: pathWith(),
      query: '',
      body: deepObject(12_000),
      contentType: 'application/json',
      label: 'deep object',
    }),
    () => ({ path: pathWith(), query: '', ...json('x'.repeat(2_000_000)), label: 'huge string' }),
    () => ({ path: pathWith(), query: '', ...json(pick(HOSTILE_VALUES)), label: 'wrong type' }),
    () => ({ path: pathWith(), query: '', body: '', contentType: 'application/json', label: 'empty' }),
    () => ({ path: pathWith(), query: '', body: '{"a":', contentType: 'application/json', label: 'truncated' }),
    () => ({
      path: pathWith(),
      query: '',
      body: '<a>1</a>',
      contentType: pick(WRONG_TYPES),
      label: 'wrong content type',
    }),
    () => ({ path: pathWith(), query: '', body: '{"input":1}', label: 'no content type' }),
    () => ({ path: pathWith(), query: queryWith(() => pick(HOSTILE_VALUES)), label: 'hostile query' }),
    // The schema's own shape with hostile leaves: gets past "must be object" into handlers.
    () => ({
      path: pathWith(),
      query: queryWith(() => pick(['1', '-5', '1e400', 'true'])),
      ...json(sample(op.bodySchema, random, 0.3)),
      label: 'shaped, some leaves hostile',
    }),
    () => ({ path: pathWith(), query: '', ...json(sample(op.bodySchema, random, 0.05)), label: 'shaped' }),
  ];
  for (let i = 0; i < CASES_PER_OPERATION; i++) out.push(pick(generators)());
  return out;
}

describe('route fuzz (real nats-server, orchestrator and agent; every route of the OpenAPI document)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator({ LOG_LEVEL: 'error' });
    await cluster.startAgentAlive({ id: EXISTING, site: EXISTING, tier: 'edge', memoryMb: 4096, costPerHour: 0.1 });
    // Resources named like the fuzz's plausible path parameters, so requests reach past "not found".
    const echo = await cluster.deploy('echo', EXISTING);
    expect(echo.status).toBe('ready');
    const workflow = await cluster.call('POST', '/workflows', {
      name: EXISTING,
      steps: [{ id: 'e', service: 'echo', input: { value: '=$input' } }],
      output: '=$steps.e.output',
    });
    expect(workflow.status).toBe(201);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers every hostile request below 500, none hangs, and the server stays healthy', async () => {
    const doc = (await (await cluster.fetch(`/docs/openapi.json`)).json()) as Parameters<typeof operations>[0];
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(40);
    const random = rng(SEED);
    const byStatus = new Map<string, number>();
    const failures: string[] = [];
    const started = Date.now();
    let sent = 0;
    let planned = 0;
    for (const op of ops) {
      for (const c of cases(op, random)) {
        planned++;
        if (Date.now() - started > BUDGET_MS) continue;
        sent++;
        const route = `${c.path}${c.query ? `?${c.query}` : ''}`;
        const headers: Record<string, string> = {};
        if (c.contentType) headers['content-type'] = c.contentType;
        const hasBody = c.body !== undefined && op.method !== 'GET';
        let status: string;
        try {
          const response = await cluster.fetch(route, {
            method: op.method,
            headers,
            body: hasBody ? (c.body as string) : undefined,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          status = String(response.status);
          // An event stream (GET /events) stays open by design: its answer is its status and headers.
          const streaming = response.headers.get('content-type')?.startsWith('text/event-stream');
          const text = streaming ? (await response.body?.cancel(), '') : await response.text();
          if (response.status >= 500)
            failures.push(`${op.method} ${c.path.slice(0, 80)} [${c.label}] → ${status} ${text.slice(0, 200)}`);
        } catch (err) {
          status = (err as Error).name === 'TimeoutError' ? 'hang' : 'error';
          failures.push(`${op.method} ${c.path.slice(0, 80)} [${c.label}] → ${status}: ${(err as Error).message}`);
        }
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      }
    }
    const counts = Object.fromEntries([...byStatus.entries()].sort());
    process.stdout.write(
      `route fuzz (seed ${SEED}): ${ops.length} operations, ${sent} of ${planned} requests in ${Date.now() - started} ms; by status ${JSON.stringify(counts)}\n`,
    );
    expect(failures).toEqual([]);
    // Most of what is planned is sent: a slow server cannot pass by running out of budget early.
    expect(sent).toBeGreaterThan(planned / 2);
    expect((await cluster.fetch(`/health/ready`)).status).toBe(200);
    expect(cluster.orchestrator!.child.exitCode).toBeNull();
  });

  it('answers 401 with WWW-Authenticate to a request without a credential on every route but the open ones', async () => {
    const doc = (await (
      await cluster.fetch(`/docs/openapi.json`, { headers: { authorization: '' } })
    ).json()) as Parameters<typeof operations>[0];
    const ops = operations(doc);
    const wrong: string[] = [];
    let refused = 0;
    let open = 0;
    for (const op of ops) {
      const path = op.path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'version' ? '1' : EXISTING));
      const isOpen = accessFor(op.method, expressPattern(op.path)) === 'open';
      const response = await cluster.fetch(path, {
        method: op.method,
        headers: { authorization: '', 'content-type': 'application/json' },
        body: op.method === 'GET' ? undefined : '{}',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (response.headers.get('content-type')?.startsWith('text/event-stream')) await response.body?.cancel();
      else await response.text();
      if (isOpen) {
        open++;
        if (response.status === 401) wrong.push(`${op.method} ${op.path} is open but answered 401`);
      } else if (response.status === 401 && response.headers.get('www-authenticate')?.startsWith('Bearer')) refused++;
      else wrong.push(`${op.method} ${op.path} → ${response.status} without a credential`);
    }
    process.stdout.write(`no-credential pass: ${ops.length} operations, ${refused} answered 401, ${open} open\n`);
    expect(wrong).toEqual([]);
    expect(refused).toBe(ops.length - open);
    // The health routes, and POST /nodes/enrol (its credential is the enrolment token in the body).
    expect(open).toBe(4);
    // The OpenAPI document itself is open.
    expect((await cluster.fetch('/docs/openapi.json', { headers: { authorization: '' } })).status).toBe(200);
  });
});
