import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { freePort } from '@yunbian/common';
import { DIST, ROOT, TestCluster } from './support/cluster';

jest.setTimeout(180_000);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The built `yb` as a user runs it, against the cluster unless `env` says otherwise. */
describe('yb, the command line, on a real stack', () => {
  let cluster: TestCluster;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-cli-'));
  // No config file or saved stack key of the machine leaks in: only what each test gives.
  const isolated = { XDG_CONFIG_HOME: dir, YUNBIAN_STATE_DIR: dir, YUNBIAN_CONFIG: '' };

  const run = (command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> =>
    new Promise((resolve) => {
      execFile(
        command,
        args,
        {
          cwd: ROOT,
          timeout: 90_000,
          env: {
            ...process.env,
            ...isolated,
            YUNBIAN_URL: cluster.api,
            YUNBIAN_API_KEY: cluster.adminKey,
            ...env,
          },
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const yb = (args: string[], env?: NodeJS.ProcessEnv) =>
    run(process.execPath, [path.join(DIST, 'tools/cli/main.js'), ...args], env);
  const file = (name: string, text: string) => {
    const at = path.join(dir, name);
    writeFileSync(at, text);
    return at;
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await cluster.startAgentAlive({ id: 'edge-a', site: 'site-a', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 });
    await cluster.deploy('math', 'edge-a');
    await cluster.deploy('flaky', 'edge-a');
    // The bundled data services of the edge-report workflow (agents always have them).
    await cluster.deploy('image-resize', 'edge-a');
    await cluster.deploy('json-transform', 'edge-a');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('applies a workflow from YAML, runs it with --watch printing each step, and exits 0', async () => {
    const definition = file(
      'sum.yaml',
      [
        'name: cli-sum',
        'input:',
        '  type: object',
        '  required: [a]',
        '  properties: { a: { type: number } }',
        'steps:',
        '  - id: prepare',
        '    service: math@^1',
        '    input: { op: add, a: "=$input.a", b: 1, delayMs: 300 }',
        '  - id: double',
        '    service: math',
        '    input: { op: mul, a: "=$steps.prepare.output.value", b: 2 }',
        'output:',
        '  value: "=$steps.double.output.value"',
        '',
      ].join('\n'),
    );
    const applied = await yb(['apply', '-f', definition]);
    expect(applied).toMatchObject({ code: 0, stdout: 'workflow cli-sum version 1 stored\n' });
    expect((await yb(['apply', '-f', definition])).stdout).toMatch(/version 1 unchanged/);

    const input = file('input.json', JSON.stringify({ a: 20 }));
    const watched = await yb(['run', 'cli-sum', '--input', `@${input}`, '--watch']);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    const lines = watched.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run \S+ of cli-sum@1 started$/);
    expect(lines[1]).toMatch(/^✓ prepare {2}succeeded {2}on edge-a/);
    expect(lines[2]).toMatch(/^✓ double {2}succeeded {2}on edge-a/);
    expect(lines[3]).toMatch(/^run \S+ succeeded in /);
    expect(lines).toHaveLength(4);

    const id = /^run (\S+) /.exec(lines[0])![1];
    const run = JSON.parse((await yb(['describe', 'run', id, '-o', 'json'])).stdout);
    expect(run).toMatchObject({ status: 'succeeded', output: { value: 42 } });
    const described = await yb(['describe', 'run', id]);
    expect(described.stdout).toMatch(/Status: {4}succeeded/);
    expect(described.stdout).toMatch(/#1 primary math@1\.0\.0 on edge-a/);
    const logs = await yb(['logs', id]);
    expect(logs.stdout).toMatch(/prepare #1 started[\s\S]*double #1 finished[\s\S]*run succeeded/);
    const listed = await yb(['get', 'runs', '--workflow', 'cli-sum']);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+cli-sum@1\\s+succeeded`, 'm'));
  });

  it('runs the repository’s edge-report workflow with its example input: each step, then exit 0', async () => {
    expect((await yb(['apply', '-f', 'workflows/edge-report.yaml'])).code).toBe(0);
    const watched = await yb(['run', 'edge-report', '--input', '@workflows/inputs/edge-report.json', '--watch']);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    const stepLines = watched.stdout.split('\n').filter((l) => /^[✓✗-] /.test(l));
    // Steps print as they finish, so their order is the run's, not the definition's: compare as sets.
    expect(stepLines.map((l) => l.split(/\s+/)[1]).sort()).toEqual(['alert', 'fahrenheit', 'hot', 'thumbnail']);
    expect(stepLines.find((l) => l.includes(' fahrenheit '))).toMatch(/succeeded {2}3 items {2}on edge-a/);
    expect(stepLines.find((l) => l.includes(' alert '))).toMatch(/^✓ alert {2}succeeded/);
    expect(watched.stdout).toMatch(/run \S+ succeeded in /);
  });

  it('exits non-zero on a failing run, printing the failing step and its error', async () => {
    const definition = file(
      'fails.json',
      JSON.stringify({
        name: 'cli-fails',
        steps: [
          { id: 'ok', service: 'math', input: { op: 'add', a: 1, b: 1 } },
          { id: 'unstable', service: 'flaky', after: ['ok'], retry: { maxAttempts: 1 } },
        ],
      }),
    );
    expect((await yb(['apply', '-f', definition])).code).toBe(0);
    const watched = await yb(['run', 'cli-fails', '--watch']);
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(/^✓ ok {2}succeeded/m);
    expect(watched.stdout).toMatch(/^✗ unstable {2}failed[^\n]*\n {4}error: INTERNAL: flaky failure on attempt 1$/m);
    expect(watched.stdout).toMatch(
      /run \S+ failed in [^:]+: step unstable failed: INTERNAL: flaky failure on attempt 1/,
    );
  });

  it('prints a bad definition’s problems with their pointer and YAML line:column', async () => {
    const definition = file(
      'bad.yaml',
      [
        '# a workflow with a mistake',
        'name: cli-bad',
        'steps:',
        '  - id: a',
        '    service: math',
        '    retry:',
        '      maxAttempts: 0',
        '',
      ].join('\n'),
    );
    const applied = await yb(['apply', '-f', definition]);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toMatch(/POST \S+\/workflows: 400 VALIDATION_FAILED: workflow definition is invalid/);
    expect(applied.stderr).toContain(`${definition}:7:7  /steps/0/retry/maxAttempts: must be >= 1 (got 0)`);

    // A run input the workflow's input schema refuses (cli-sum, stored by the first test): at its place in the --input file.
    const input = file('bad-input.json', '{\n  "a": "twenty"\n}\n');
    const started = await yb(['run', 'cli-sum', '--input', `@${input}`]);
    expect(started.code).toBe(1);
    expect(started.stderr).toMatch(/400 VALIDATION_FAILED: run input does not match the input schema of cli-sum@1/);
    expect(started.stderr).toMatch(new RegExp(`${input}:2:3  /a: must be number`));
  });

  it('lists nodes as JSON through npx, as a user runs it', async () => {
    const listed = await run('npx', ['--offline', 'yb', 'get', 'nodes', '-o', 'json']);
    expect(listed.code).toBe(0);
    const nodes = JSON.parse(listed.stdout) as { id: string; status: string }[];
    expect(nodes).toEqual([expect.objectContaining({ id: 'edge-a', status: 'alive' })]);
    const table = await yb(['get', 'instances']);
    expect(table.stdout).toMatch(/^ID\s+SERVICE\s+NODE\s+STATUS/);
    expect(table.stdout).toMatch(/math@1\.0\.0\s+edge-a\s+ready/);
  });

  it('deploys and drains an instance, and pushes a model', async () => {
    const deployed = await yb(['deploy', 'echo', '--node', 'edge-a', '--config', '{"greeting": "hi"}', '--wait']);
    expect(deployed.code).toBe(0);
    const [, id] = /^instance (\S+) \(echo@1\.0\.0\) on edge-a: ready$/m.exec(deployed.stdout) ?? [];
    expect(id).toBeDefined();
    const drained = await yb(['drain', id]);
    expect(drained).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^instance ${id} (draining|stopped)`)),
    });

    const pushed = await yb(['models', 'push', 'models/digits/digits-device.onnx', '--name', 'cli-digits']);
    expect(pushed.stderr).toBe('');
    expect(pushed.stdout).toMatch(
      /^model cli-digits version 1 \(digits-device\.onnx, 10103 bytes, sha256 [0-9a-f]{12}…\)$/m,
    );
    // --version guards the number the upload would get; the registry is at 1, so 1 is refused before uploading.
    const stale = await yb([
      'models',
      'push',
      'models/digits/digits-edge.onnx',
      '--name',
      'cli-digits',
      '--version',
      '1',
    ]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/latest cli-digits is version 1, so this upload would become 2/);
    const models = YAML.parse((await yb(['get', 'models', '-o', 'yaml'])).stdout) as {
      name: string;
      version: number;
    }[];
    expect(models).toEqual([expect.objectContaining({ name: 'cli-digits', version: 1 })]);
  });

  it('takes the server and key from the config file, or the key from npm start’s state directory', async () => {
    const config = file('config.json', JSON.stringify({ server: cluster.api, key: cluster.adminKey }));
    const fromFile = await yb(['get', 'nodes', '-o', 'json'], {
      YUNBIAN_URL: '',
      YUNBIAN_API_KEY: '',
      YUNBIAN_CONFIG: config,
    });
    expect(fromFile.code).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toEqual([expect.objectContaining({ id: 'edge-a' })]);

    const stateDir = mkdtempSync(path.join(dir, 'state-'));
    writeFileSync(path.join(stateDir, 'admin-key'), `${cluster.adminKey}\n`);
    const fromStack = await yb(['get', 'nodes'], { YUNBIAN_API_KEY: '', YUNBIAN_STATE_DIR: stateDir });
    expect(fromStack.code).toBe(0);
    expect(fromStack.stdout).toMatch(/^edge-a\s+site-a\s+edge\s+alive/m);

    const missing = await yb(['get', 'nodes'], { YUNBIAN_CONFIG: path.join(dir, 'nope.json') });
    expect(missing.stderr).toMatch(/YUNBIAN_CONFIG names \S+nope\.json, which does not exist/);
  });

  it('says what to do about an unknown workflow, a refused key and a server that is down', async () => {
    const unknown = await yb(['run', 'no-such-workflow', '--input', '{}']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 NOT_FOUND: .*no-such-workflow/);
    expect(unknown.stderr).toMatch(/yb get workflows lists them/);

    const refused = await yb(['get', 'nodes'], { YUNBIAN_API_KEY: 'yb_not_a_real_key' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/: 401 UNAUTHENTICATED: .* — the key from YUNBIAN_API_KEY was refused/);

    const closed = await freePort();
    const down = await yb(['get', 'nodes', '--server', `http://127.0.0.1:${closed}`]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      `cannot reach the orchestrator at http://127.0.0.1:${closed} (from --server: ECONNREFUSED)`,
    );
    expect(down.stderr).toContain('is `npm start` running?');
  });
});
