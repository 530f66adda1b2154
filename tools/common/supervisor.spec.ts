import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from '@yunbian/common';
import { ProcessSupervisor, type ProcessExit } from './supervisor';

describe('ProcessSupervisor (real child processes)', () => {
  let logDir: string;
  let supervisor: ProcessSupervisor;
  const lines: string[] = [];
  const exits: ProcessExit[] = [];
  const node = (script: string) => ({ command: process.execPath, args: ['-e', script] });
  // Long-lived child: prints its pid, then idles until signalled.
  const idle = node("console.log('up', process.pid); setInterval(() => undefined, 1000)");

  beforeEach(() => {
    logDir = mkdtempSync(path.join(tmpdir(), 'yb-supervisor-'));
    lines.length = 0;
    exits.length = 0;
    supervisor = new ProcessSupervisor({
      logDir,
      say: (line) => lines.push(line),
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      stopGraceMs: 2_000,
      onExit: (exit) => exits.push(exit),
    });
  });
  afterEach(async () => {
    await supervisor.stopAll();
    rmSync(logDir, { recursive: true, force: true });
  });

  it('restarts a process killed with SIGKILL, reports the exit, and keeps its log', async () => {
    const agent = supervisor.start({ name: 'agent', ...idle, echoStderr: false });
    const firstPid = await waitUntil(() => agent.running && agent.pid, 10_000, 'the first child');
    const logged = (pid: number) => readFileSync(supervisor.logFileOf('agent'), 'utf8').includes(`up ${pid}`);
    await waitUntil(() => logged(firstPid), 10_000, 'the first child in the log');
    expect(supervisor.kill('agent')).toBe(true);
    const secondPid = await waitUntil(
      () => agent.running && agent.pid !== firstPid && agent.pid,
      10_000,
      'the restarted child',
    );
    expect(secondPid).not.toBe(firstPid);
    expect(agent.restarts).toBe(1);
    expect(exits[0]).toMatchObject({ name: 'agent', signal: 'SIGKILL' });
    expect(exits[0].restartInMs).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('agent exited (SIGKILL); restarting in'))).toBe(true);
    // One log file across restarts: both children's lines are in it.
    await waitUntil(() => logged(secondPid), 10_000, 'the second child in the log');
    expect(logged(firstPid)).toBe(true);
  });

  it('backs off between quick failures and does not restart a process marked restart: false', async () => {
    const crashing = supervisor.start({ name: 'crashing', ...node('process.exit(3)'), echoStderr: false });
    await waitUntil(() => crashing.restarts >= 2 && exits.length >= 3, 10_000, 'three exits');
    const delays = exits.filter((e) => e.name === 'crashing').map((e) => e.restartInMs!);
    expect(delays[1]).toBeGreaterThan(delays[0]);
    expect(exits[0].code).toBe(3);

    supervisor.start({ name: 'once', ...node('process.exit(0)'), restart: false, echoStderr: false });
    await waitUntil(() => exits.some((e) => e.name === 'once'), 10_000, 'the one-shot exit');
    expect(exits.find((e) => e.name === 'once')!.restartInMs).toBeUndefined();
    expect(supervisor.get('once')!.restarts).toBe(0);
  });

  it('stops for good: no restart after stop, and stopAll goes group by group', async () => {
    const order: string[] = [];
    const a = supervisor.start({ name: 'a', ...idle, echoStderr: false });
    const b = supervisor.start({ name: 'b', ...idle, echoStderr: false });
    await waitUntil(() => a.running && b.running, 10_000, 'both children');
    a.child!.once('exit', () => order.push('a'));
    b.child!.once('exit', () => order.push('b'));
    await supervisor.stopAll([['b'], ['a']]);
    expect(order).toEqual(['b', 'a']);
    await new Promise((r) => setTimeout(r, 300));
    expect(supervisor.list()).toHaveLength(0);
    expect(lines.filter((l) => l.includes('restarting'))).toEqual([]);
  });
});
