import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitUntil } from '@yunbian/common';
import type { NodeRecord } from '@yunbian/contracts';
import { DIST, ROOT } from './support/cluster';
import { restFetch } from './support/rest-client';

/** `count` consecutive free loopback ports (the stack gives its agents metrics ports base, base+1, …). */
async function freePortRange(count: number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const base = await freePort();
    let all = true;
    for (let i = 1; i < count && all; i++) all = await free(base + i);
    if (all) return base;
  }
}

/** `npm start` as a user runs it (the built stack entry), its output collected. */
class Stack {
  output = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(env: NodeJS.ProcessEnv): Stack {
    return new Stack(
      spawn(process.execPath, [path.join(DIST, 'tools/stack/main.js')], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }

  async up(timeoutMs: number): Promise<void> {
    await waitUntil(
      () => this.output.includes('The stack is up') || this.child.exitCode !== null,
      timeoutMs,
      'the stack to come up',
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- stack output ---\n${this.output}`);
    });
    if (this.child.exitCode !== null) throw new Error(`the stack exited early:\n${this.output}`);
  }

  /** The admin key the stack prints (`admin key     yb_…`). */
  get adminKey(): string {
    const match = /^admin key +(yb_\S+)/m.exec(this.output);
    if (!match) throw new Error(`no admin key in the stack's output:\n${this.output}`);
    return match[1]!;
  }

  agentPid(nodeId: string): number {
    const match = new RegExp(`^node +${nodeId} .* agent pid (\\d+)$`, 'm').exec(this.output);
    if (!match) throw new Error(`no agent pid for ${nodeId} in the stack's output:\n${this.output}`);
    return Number(match[1]);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    return this.exited;
  }
}

describe('npm start (the local stack, real processes)', () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-stack-'));
  let env: NodeJS.ProcessEnv;
  let api: string;
  let stack: Stack | undefined;

  beforeAll(async () => {
    const port = await freePort();
    api = `http://localhost:${port}`;
    env = {
      PORT: String(port),
      YUNBIAN_NATS_PORT: String(await freePort()),
      YUNBIAN_NATS_MONITOR_PORT: String(await freePort()),
      YUNBIAN_AGENT_METRICS_PORT: String(await freePortRange(3)),
      YUNBIAN_STATE_DIR: stateDir,
      NATS_URL: '',
      // The stack makes its own key (and keeps it in the state directory).
      YUNBIAN_ADMIN_KEY: '',
      YUNBIAN_API_KEY: '',
    };
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const node = async (id: string) =>
    (await (await restFetch(api, `/nodes/${id}`, stack!.adminKey)).json()) as NodeRecord;

  it('keeps serving when an agent is killed with SIGKILL: the node goes dead, the agent comes back, the node is alive again', async () => {
    stack = Stack.start({ ...env, YUNBIAN_DEMO: '0' });
    await expectAgentDeathAndReturn(stack);
    expect(await stack.stop()).toBe(0);
    stack = undefined;
  }, 240_000);

  async function expectAgentDeathAndReturn(stack: Stack): Promise<void> {
    await stack.up(120_000);
    // The stack prints the admin key it uses; REST without it is refused.
    expect((await restFetch(api, '/nodes', '')).status).toBe(401);
    const before = await node('edge-b');
    expect(before.status).toBe('alive');

    process.kill(stack.agentPid('edge-b'), 'SIGKILL');
    const dead = await waitUntil(
      async () => {
        const record = await node('edge-b');
        return record.status === 'dead' && record;
      },
      30_000,
      'edge-b to be dead',
      100,
    );
    expect(dead.statusReason).toBeDefined();
    // The rest of the stack keeps serving meanwhile.
    expect(stack.child.exitCode).toBeNull();
    expect((await restFetch(api, '/health/ready', '')).ok).toBe(true);
    expect((await node('cloud-1')).status).toBe('alive');

    const back = await waitUntil(
      async () => {
        const record = await node('edge-b');
        return record.status === 'alive' && record.agentStartedAt !== before.agentStartedAt && record;
      },
      60_000,
      'edge-b to come back alive',
      200,
    );
    expect(Date.parse(back.agentStartedAt)).toBeGreaterThan(Date.parse(before.agentStartedAt));
    expect(stack.output).toMatch(/edge-b exited \(SIGKILL\); restarting in [\d.]+ s/);
    expect(stack.output).toContain('edge-b restarting (restart 1)');
  }

  it('starts again over the state the first run left, waiting for its own agents, and runs the demo', async () => {
    await stack?.stop(); // the first test's stack, had it failed midway
    const firstKey = readFileSync(path.join(stateDir, 'admin-key'), 'utf8').trim();
    stack = Stack.start(env);
    await stack.up(240_000);
    // Same state, same key: the one the first start saved.
    expect(stack.adminKey).toBe(firstKey);
    expect(stack.output).not.toContain('demo failed');
    expect(stack.output).toMatch(/demo: workflow edge-report run \S+ succeeded/);
    expect(stack.output).toMatch(/demo: workflow ocr run \S+ succeeded/);
    expect(stack.output).toContain('model         ocr-det (registered)');
    expect(await stack.stop()).toBe(0);
    stack = undefined;
  }, 300_000);
});
