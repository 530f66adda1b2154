import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  Subjects,
  type InstanceRecord,
  type NodeRecord,
  type ServiceLibraryReloadReply,
  type ServiceRecord,
} from '@yunbian/contracts';
import { RemoteError } from '@yunbian/transport';
import { serviceNewCommand } from '../tools/cli/service-new';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(180_000);

/**
 * The loop a service author follows, outside this repository: scaffold a project, install the
 * SDK from its packed tarball, build with tsc, put the build in a running agent's service path,
 * watch it appear in the catalogue (the agent is not restarted), deploy it, call it from a
 * workflow; then change it, rebuild, and see the new version replace the old one.
 *
 * Offline: the SDK package has no dependencies, so `npm install --offline --omit=dev` installs
 * it from the tarball alone; TypeScript (the project's devDependency) is the repository's.
 */
describe('a service written outside the repository', () => {
  let cluster: TestCluster;
  let work: string;
  let project: string;
  let agentPid: number;
  let tarball: string;
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const run = (cmd: string, args: string[], cwd: string) =>
    execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  const node = () => cluster.get<NodeRecord>('/nodes/outside-1');

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'yb-outside-'));
    project = path.join(work, 'greeter');
    const packed = run('npm', ['pack', path.join(ROOT, 'packages/service-sdk'), '--pack-destination', work], work);
    tarball = path.join(work, packed.trim().split('\n').pop()!);
    expect(await serviceNewCommand(['greeter', '--dir', project, '--sdk', `file:${tarball}`], () => undefined)).toBe(0);
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    // The agent's service path is the project's build directory, empty when the agent starts.
    mkdirSync(path.join(project, 'dist'));
    const agent = await cluster.startAgentAlive(
      { id: 'outside-1', site: 'lab', tier: 'edge', memoryMb: 2048, costPerHour: 0.1 },
      { YUNBIAN_HEARTBEAT_MS: '500', YUNBIAN_SERVICE_PATH: path.join(project, 'dist') },
    );
    agentPid = agent.child.pid!;
  });

  afterAll(async () => {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is installed from the packed SDK, built and tested', async () => {
    expect(JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')).dependencies).toEqual({
      '@yunbian/service-sdk': `file:${tarball}`,
    });
    run('npm', ['install', '--offline', '--omit=dev', '--no-audit', '--no-fund'], project);
    const installed = JSON.parse(
      readFileSync(path.join(project, 'node_modules/@yunbian/service-sdk/package.json'), 'utf8'),
    );
    expect(installed.name).toBe('@yunbian/service-sdk');
    // Nothing of this repository is reachable from the project but the installed package.
    expect(run('node', ['-p', "require.resolve('@yunbian/service-sdk')"], project).trim()).toBe(
      path.join(project, 'node_modules/@yunbian/service-sdk/dist/index.js'),
    );
    run('node', [tsc, '-p', 'tsconfig.json'], project);
    const tested = run('node', ['--test', 'test/'], project);
    expect(tested).toMatch(/# pass 2/);
  });

  it('appears in the catalogue without an agent restart, and a .ts file beside it is refused with how to build it', async () => {
    // A source file dropped into the service path by mistake.
    copyFileSync(path.join(project, 'src/greeter.service.ts'), path.join(project, 'dist/draft.service.ts'));
    const record = await cluster.waitFor(
      async () => {
        const n = await node();
        return n.services.includes('greeter@0.1.0') && n.serviceProblems?.length ? n : undefined;
      },
      30_000,
      'greeter@0.1.0 in the node record',
    );
    expect(record.serviceProblems).toEqual([
      expect.objectContaining({
        kind: 'typescript',
        path: path.join(project, 'dist/draft.service.ts'),
        message: expect.stringContaining('npx tsc'),
      }),
    ]);
    const service = await cluster.get<{ versions: ServiceRecord[] }>('/services/greeter');
    expect(service.versions).toEqual([
      expect.objectContaining({ name: 'greeter', version: '0.1.0', kind: 'data', nodes: ['outside-1'] }),
    ]);
    expect(cluster.procs.find((p) => p.name === 'outside-1')!.child.pid).toBe(agentPid);
    expect(record.agentStartedAt).toBeDefined();
    expect(readFileSync(cluster.procs.find((p) => p.name === 'outside-1')!.log, 'utf8')).toContain(
      'service library changed',
    );
  });

  it('is deployed and serves a workflow step; its ServiceError reaches the caller with its code', async () => {
    const instance: InstanceRecord = await cluster.deploy('greeter@^0.1', 'outside-1');
    const created = await cluster.call('POST', '/workflows', {
      name: 'outside-greeting',
      input: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } },
      steps: [{ id: 'greet', service: 'greeter@^0.1', input: { text: '=$input.text', times: 2 } }],
      output: { said: '=$steps.greet.output.text', by: '=$steps.greet.output.servedBy' },
    });
    expect(created.status).toBe(201);
    const { body } = await cluster.call('POST', '/workflows/outside-greeting/runs?wait=30000', {
      input: { text: 'hi ' },
    });
    const runView = body as unknown as { status: string; output: { said: string; by: string } };
    expect(runView.status).toBe('succeeded');
    expect(runView.output).toEqual({ said: 'hi hi ', by: instance.id });

    const client = await cluster.client();
    const refused = await client.request(instance.subject, { text: '   ' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RemoteError);
    expect((refused as RemoteError).code).toBe('BAD_REQUEST');
    expect((refused as RemoteError).message).toContain('text is blank');
    const invalid = await client.request(instance.subject, { txt: 'x' }).catch((e: unknown) => e);
    expect((invalid as RemoteError).code).toBe('VALIDATION_FAILED');
  });

  it('a changed and rebuilt service replaces the old version in the catalogue, still without a restart', async () => {
    const source = path.join(project, 'src/greeter.service.ts');
    writeFileSync(
      source,
      readFileSync(source, 'utf8')
        .replace("version: '0.1.0'", "version: '0.2.0'")
        .replace('input.text.repeat(input.times ?? 1)', 'input.text.toUpperCase().repeat(input.times ?? 1)'),
    );
    run('node', [tsc, '-p', 'tsconfig.json'], project);
    rmSync(path.join(project, 'dist/draft.service.ts'));
    const record = await cluster.waitFor(
      async () => {
        const n = await node();
        return n.services.includes('greeter@0.2.0') && !n.serviceProblems ? n : undefined;
      },
      30_000,
      'greeter@0.2.0 in the node record, the draft problem gone',
    );
    expect(record.services).not.toContain('greeter@0.1.0');
    // The reload command scans at once and answers with what the node serves now.
    const reloaded = await (
      await cluster.client()
    ).request<ServiceLibraryReloadReply>(Subjects.nodeReloadServices('outside-1'), {}, { timeoutMs: 30_000 });
    expect(reloaded).toMatchObject({ nodeId: 'outside-1', changed: false, problems: [] });
    expect(reloaded.services).toContain('greeter@0.2.0');
    const instance = await cluster.deploy('greeter@0.2.0', 'outside-1');
    const reply = await (await cluster.client()).request<{ text: string }>(instance.subject, { text: 'ok' });
    expect(reply.text).toBe('OK');
    expect(cluster.procs.find((p) => p.name === 'outside-1')!.child.pid).toBe(agentPid);
  });
});
