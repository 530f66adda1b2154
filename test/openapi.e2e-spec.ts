import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAjv } from '@yunbian/common';
import { documentProblems, type OpenApiDocument } from '../apps/orchestrator/src/http/openapi';
import { ROOT, TestCluster } from './support/cluster';

/**
 * The API contract against a running orchestrator: the OpenAPI document it serves (at
 * /docs-json and /docs/openapi.json) names its schemas, has a success schema and a stable
 * operationId on every operation, and what the server answers matches those schemas; a typed
 * client generated from it with openapi-typescript type-checks typed calls (and refuses wrong
 * ones); and the usual curl mistakes get answers that say what to send.
 */

jest.setTimeout(240_000);

const run = promisify(execFile);

/** Runs a Node script of the project's own dependencies (no npx: nothing is downloaded). */
function node(script: string, args: string[], cwd: string) {
  return run(process.execPath, [path.join(ROOT, 'node_modules', script), ...args], {
    cwd,
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

const WORKFLOW = {
  name: 'contract-echo',
  input: { type: 'object', required: ['value'], properties: { value: {} } },
  steps: [{ id: 'echo', service: 'echo@^1', input: { value: '=$input.value' } }],
  output: '$steps.echo.output.value',
};

describe('API contract (OpenAPI document, typed client, answers to curl mistakes)', () => {
  let cluster: TestCluster;
  let doc: OpenApiDocument;
  let runId = '';
  let started: { status: number; body: Record<string, unknown> };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive({ id: 'contract-1', site: 'lab', tier: 'edge', costPerHour: 0.1 });
    await cluster.deploy('echo@1.0.0', 'contract-1');
    const created = await cluster.call('POST', '/workflows', WORKFLOW);
    expect(created.status).toBe(201);
    started = await cluster.call('POST', `/workflows/${WORKFLOW.name}/runs?wait=30000`, { input: { value: 7 } });
    expect(started.body).toMatchObject({ status: 'succeeded', output: 7 });
    runId = started.body.id as string;
    doc = (await (await cluster.fetch('/docs-json', { headers: { authorization: '' } })).json()) as OpenApiDocument;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves one document at /docs-json and /docs/openapi.json, without credentials', async () => {
    const other = await cluster.fetch('/docs/openapi.json', { headers: { authorization: '' } });
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual(doc);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('has an operationId, a success schema, ErrorResponse errors and 401/403/429 on every operation', () => {
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item));
    expect(operations.length).toBeGreaterThan(55);
    expect(documentProblems(doc)).toEqual([]);
    expect(doc.paths['/nodes'].get.operationId).toBe('listNodes');
    expect(doc.paths['/workflows/{name}/runs'].post.operationId).toBe('startRun');
    // Definitions and run bodies may be YAML; the document says so.
    expect(Object.keys(doc.paths['/workflows'].post.requestBody?.content ?? {})).toEqual([
      'application/json',
      'application/yaml',
    ]);
    expect(Object.keys(doc.components?.schemas ?? {})).toEqual(
      expect.arrayContaining([
        'ErrorResponse',
        'Node',
        'Instance',
        'Service',
        'Workflow',
        'Run',
        'RunSummary',
        'Model',
      ]),
    );
  });

  it('answers what its schemas say (success and error answers of live calls)', async () => {
    const ajv = createAjv();
    ajv.addSchema(doc as unknown as object, 'openapi');
    const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');
    const check = (method: string, docPath: string, status: number, body: unknown) => {
      const pointer = `/paths/${escape(docPath)}/${method}/responses/${status}/content/application~1json/schema`;
      const validate = ajv.compile({ $ref: `openapi#${pointer}` });
      return validate(body) ? [] : [{ call: `${method.toUpperCase()} ${docPath} ${status}`, errors: validate.errors }];
    };
    const problems = [check('post', '/workflows/{name}/runs', started.status, started.body)];
    const calls: [string, string][] = [
      ['/nodes', '/nodes'],
      ['/nodes/contract-1', '/nodes/{id}'],
      ['/services', '/services'],
      ['/services/echo', '/services/{name}'],
      ['/instances', '/instances'],
      ['/catalog/stats', '/catalog/stats'],
      ['/network', '/network'],
      ['/engines', '/engines'],
      ['/auth/whoami', '/auth/whoami'],
      ['/auth/keys', '/auth/keys'],
      ['/audit?limit=20', '/audit'],
      ['/workflows', '/workflows'],
      [`/workflows/${WORKFLOW.name}`, '/workflows/{name}'],
      [`/workflows/${WORKFLOW.name}/versions/1`, '/workflows/{name}/versions/{version}'],
      ['/runs', '/runs'],
      [`/runs/${runId}`, '/runs/{id}'],
      ['/schemas/workflow', '/schemas/workflow'],
      ['/health/durability', '/health/durability'],
      ['/deployments', '/deployments'],
      ['/models', '/models'],
      ['/datasets', '/datasets'],
      ['/compressions', '/compressions'],
      ['/runs/no-such-run', '/runs/{id}'],
      ['/nodes/no-such-node', '/nodes/{id}'],
    ];
    for (const [route, docPath] of calls) {
      const response = await cluster.fetch(route);
      problems.push(check('get', docPath, response.status, await response.json()));
    }
    const anonymous = await cluster.fetch('/nodes', { headers: { authorization: '' } });
    expect(anonymous.status).toBe(401);
    problems.push(check('get', '/nodes', 401, await anonymous.json()));
    expect(problems.flat()).toEqual([]);
  });

  it('generates a typed client with openapi-typescript whose typed calls type-check, and wrong ones do not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-client-'));
    await node('openapi-typescript/bin/cli.js', [`${cluster.api}/docs-json`, '-o', path.join(dir, 'api.d.ts')], dir);
    expect(readFileSync(path.join(dir, 'api.d.ts'), 'utf8')).toContain('listNodes');
    writeFileSync(
      path.join(dir, 'calls.ts'),
      `import type { components, operations, paths } from './api';

type Schemas = components['schemas'];
/** The JSON body of an operation's answer with status S. */
type Answer<Op, S extends number> = Op extends { responses: { [K in S]: { content: { 'application/json': infer B } } } }
  ? B
  : never;
type RunBody = NonNullable<operations['startRun']['requestBody']>['content']['application/json'];

async function call<T>(base: string, method: string, route: string, body?: unknown): Promise<T> {
  const response = await fetch(base + route, {
    method,
    headers: { authorization: 'Bearer yb_key', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as T;
}

export async function typedCalls(base: string): Promise<string[]> {
  const nodes = await call<Answer<operations['listNodes'], 200>>(base, 'GET', '/nodes');
  const tier: 'device' | 'edge' | 'cloud' | undefined = nodes[0]?.tier;
  const body: RunBody = { input: { value: 1 }, durability: 'none', engine: 'cloud' };
  const run = await call<Answer<operations['startRun'], 202>>(base, 'POST', '/workflows/contract-echo/runs', body);
  const status: 'running' | 'succeeded' | 'failed' | 'cancelled' = run.status;
  const steps: string[] = run.steps.map((step) => \`\${step.id}: \${step.state} on \${step.node ?? '?'}\`);
  const id: paths['/runs/{id}']['get']['parameters']['path'] = { id: run.id };
  const again = await call<Schemas['Run']>(base, 'GET', \`/runs/\${id.id}\`);
  const error: Schemas['ErrorResponse'] = { statusCode: 404, code: 'NOT_FOUND', message: 'no such run' };
  const instance = await call<Schemas['Instance']>(base, 'POST', '/instances', { service: 'echo@1', nodeId: 'n' });
  const start: Schemas['StartInstanceRequest'] = { service: 'echo@1', nodeId: 'n' };
  const principal = await call<Answer<operations['whoAmI'], 200>>(base, 'GET', '/auth/whoami');
  const role: 'viewer' | 'operator' | 'admin' = principal.role;
  const gone: Answer<operations['getRun'], 404> = error;

  // @ts-expect-error a run's status is one of four words
  const wrongStatus: Schemas['Run']['status'] = 'done';
  // @ts-expect-error durability is durable or none
  const wrongBody: RunBody = { input: {}, durability: 'sometimes' };
  // @ts-expect-error a node has no field "hostname"
  const hostname: string = nodes[0].hostname;
  // @ts-expect-error there is no operation listNode
  type Missing = operations['listNode'];
  // @ts-expect-error an error's message is a string
  const badError: Schemas['ErrorResponse'] = { statusCode: 500, code: 'INTERNAL', message: 5 };

  void [wrongStatus, wrongBody, hostname, badError, gone, start];
  return [String(tier), status, ...steps, again.id, instance.id, role, error.code];
}
`,
    );
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'commonjs',
          lib: ['es2022', 'dom'],
          types: [],
          noUnusedLocals: false,
        },
        files: ['api.d.ts', 'calls.ts'],
      }),
    );
    // An unused @ts-expect-error is itself an error: the wrong calls above must be refused.
    const checked = await node('typescript/bin/tsc', ['-p', dir], dir).then(
      () => ({ ok: true, output: '' }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout}${err.stderr}` }),
    );
    expect(checked).toEqual({ ok: true, output: '' });
  });

  describe('answers to curl mistakes say what to send', () => {
    const raw = (route: string, init: RequestInit) => cluster.fetch(route, { method: 'POST', ...init });
    const answer = async (response: Response) => ({
      status: response.status,
      ...((await response.json()) as { code: string; message: string; details?: Record<string, unknown> }),
    });

    it('no body on a JSON route (curl -XPOST without -d)', async () => {
      const got = await answer(await raw('/instances', {}));
      expect(got).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
      expect(got.message).toContain("had none: send one with -H 'content-type: application/json' -d");
      // Routes whose handlers read the body themselves, too (an empty definition was "/ must be object").
      const definition = await answer(await raw('/workflows', {}));
      expect(definition).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
      expect(definition.message).toContain('JSON or YAML body and the request had none');
    });

    it('curl -d without a content-type header (application/x-www-form-urlencoded)', async () => {
      const got = await answer(
        await raw('/instances', {
          body: JSON.stringify({ service: 'echo@1', nodeId: 'contract-1' }),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      );
      expect(got).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(got.message).toContain(
        "what curl -d sends without a content-type header): send -H 'content-type: application/json'",
      );
    });

    it('YAML sent as application/json', async () => {
      const yaml = 'name: contract-yaml\nsteps:\n  - id: echo\n    service: echo@^1\n';
      const headers = { 'content-type': 'application/json' };
      const workflows = await answer(await raw('/workflows', { body: yaml, headers }));
      expect(workflows).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
      expect(workflows.message).toMatch(
        /^the body is YAML, not JSON \(.+\), but says Content-Type application\/json: send it with -H 'content-type: application\/yaml'/,
      );
      const instances = await answer(
        await raw('/instances', { body: 'service: echo@1\nnodeId: contract-1\n', headers }),
      );
      expect(instances.message).toContain('reads as YAML, which this route does not take: convert it to JSON');
      // Sent as YAML, the same definition is stored.
      const asYaml = await raw('/workflows', { body: yaml, headers: { 'content-type': 'application/yaml' } });
      expect(asYaml.status).toBe(201);
    });

    it('a run input without its { "input": … } wrapper', async () => {
      const bare = await cluster.call('POST', `/workflows/${WORKFLOW.name}/runs`, { value: 7 });
      expect(bare.status).toBe(400);
      expect(bare.body.message).toContain(
        'this one has "value" and no "input": is it the run input? Wrap it: {"input": {"value":7}}',
      );
      const none = await cluster.call('POST', `/workflows/${WORKFLOW.name}/runs`, {});
      expect(none.body.message).toContain(`workflow ${WORKFLOW.name}'s input needs "value"`);
    });

    it('an expression calling a function JSONata does not have', async () => {
      const { status, body } = await cluster.call('POST', '/workflows', {
        name: 'contract-bad-fn',
        steps: [{ id: 'echo', service: 'echo@^1', input: { value: '=$toUpper($input.name)' } }],
      });
      expect(status).toBe(400);
      expect((body.details as { issues: unknown[] }).issues).toEqual([
        {
          pointer: '/steps/0/input/value',
          message: expect.stringContaining(
            'calls $toUpper, which is not a JSONata function (did you mean $uppercase?)',
          ),
        },
      ]);
    });

    it('a step input indented one level too little, so it became the input schema', async () => {
      const yaml = [
        'name: contract-indent',
        'steps:',
        '  - id: echo',
        '    service: echo@^1',
        'input:',
        '  value: =$input.value',
        '',
      ].join('\n');
      const response = await raw('/workflows', { body: yaml, headers: { 'content-type': 'application/yaml' } });
      const got = await answer(response);
      expect(got.status).toBe(400);
      expect(got.details?.issues).toEqual([
        {
          pointer: '/input/value',
          message: expect.stringContaining(
            '"value" is not a JSON Schema keyword: /input is the JSON Schema the run input must match (a step input or mapping indented one level too little lands here)',
          ),
        },
      ]);
    });
  });
});
