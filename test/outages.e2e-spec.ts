import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, LocalNatsServer } from '@yunbian/common';
import type { InstanceRecord } from '@yunbian/contracts';
import { TestCluster } from './support/cluster';
import { countedExecutions, defineCounted } from './support/counted';

jest.setTimeout(240_000);

const RUNS = 100;
// Long enough that 100 starts, answered on a loaded machine, return before the first steps end: the
// kill lands with steps in flight and others not started (what the tests are about).
const STEP_MS = 1_000;

interface RunSummary {
  id: string;
  status: string;
  output?: unknown;
}

/**
 * Outages survived, not waited out: 100 durable runs of two ≈ 300 ms steps are in flight
 * when nats-server is killed (and restarted on its store and port after 2 s, and after 30 s:
 * longer than the steps' 30 s default timeout and than a node's dead-time) or the orchestrator is
 * killed (and restarted). Every run completes, and every step's handler ran exactly once —
 * counted in the service, per run and step, across attempts.
 */
describe('outages: kill -9 of nats-server (2 s, 30 s) and of the orchestrator with 100 durable runs in flight', () => {
  const storeDir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-outage-nats-'));
  let port: number;
  let nats: LocalNatsServer;
  let cluster: TestCluster;
  let countedLog: string;
  let durableInstance: InstanceRecord;

  /** Executions per `run:step` (the key's attempt number dropped). */
  const executions = (): Map<string, number> => countedExecutions(countedLog);

  /** Starts the runs all at once, so they are in flight together. */
  const startRuns = async (workflow: string): Promise<string[]> => {
    const started = await Promise.all(
      Array.from({ length: RUNS }, (_, i) => cluster.call('POST', `/workflows/${workflow}/runs`, { input: { i } })),
    );
    expect(started.map((s) => s.status)).toEqual(started.map(() => 202));
    return started.map((s) => (s.body as unknown as RunSummary).id);
  };

  /** Resolves with the runs once none of `ids` is running (polling the list, not each run). */
  const allEnded = (workflow: string, ids: string[], timeoutMs: number) =>
    cluster.waitFor(
      async () => {
        const { status, body } = await cluster.call('GET', `/runs?workflow=${workflow}&limit=1000`);
        if (status !== 200) return undefined;
        const runs = (body as unknown as RunSummary[]).filter((r) => ids.includes(r.id));
        return runs.length === ids.length && runs.every((r) => r.status !== 'running') ? runs : undefined;
      },
      timeoutMs,
      `${ids.length} runs of ${workflow} to end`,
    );

  const expectEachStepOnce = (ids: string[]) => {
    const counts = executions();
    const repeated = [...counts].filter(([, n]) => n !== 1);
    expect(repeated).toEqual([]);
    for (const id of ids)
      for (const step of ['a', 'b'])
        expect({ step: `${id}:${step}`, n: counts.get(`${id}:${step}`) }).toEqual({
          step: `${id}:${step}`,
          n: 1,
        });
  };

  const define = (name: string, service = 'counted') => defineCounted(cluster, name, STEP_MS, service);

  beforeAll(async () => {
    port = await freePort();
    nats = await LocalNatsServer.start({ storeDir, port });
    // The cluster's NATS is whichever server runs on the port now; `stop` stops that one.
    cluster = TestCluster.on({ url: nats.url, stop: () => nats.stop() });
    countedLog = path.join(cluster.logDir, 'counted.log');
    writeFileSync(countedLog, '');
    await cluster.startOrchestrator();
    cluster.startAgent(
      { id: 'edge-o', site: 'o', tier: 'edge', memoryMb: 4096, costPerHour: 0.1 },
      { COUNTED_LOG: countedLog },
    );
    await cluster.waitFor(async () => (await cluster.node('edge-o'))?.status === 'alive', 30_000, 'agent');
    await cluster.deploy('counted@1.0.0', 'edge-o');
    durableInstance = await cluster.deploy('counted-durable@1.0.0', 'edge-o');
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it.each([2, 30])(
    'kill -9 nats-server for %i s: all 100 complete soon after its return, and no step ran twice',
    async (outageSeconds) => {
      const workflow = `outage-nats-${outageSeconds}`;
      await define(workflow);
      writeFileSync(countedLog, '');
      const ids = await startRuns(workflow);
      await new Promise((r) => setTimeout(r, STEP_MS / 2));
      await nats.kill('SIGKILL');
      const executedAtKill = [...executions().values()].reduce((a, b) => a + b, 0);
      await new Promise((r) => setTimeout(r, outageSeconds * 1_000));
      nats = await LocalNatsServer.start({ storeDir, port });
      const back = Date.now();

      const runs = await allEnded(workflow, ids, 90_000);
      const afterReturnMs = Date.now() - back;
      process.stdout.write(
        `nats-server kill -9 for ${outageSeconds} s: ${runs.length} runs ended ${afterReturnMs} ms after its return; ${executedAtKill} of ${2 * RUNS} steps had started when it died\n`,
      );
      // Some steps were in flight when the server died, and not all of them had started.
      expect(executedAtKill).toBeGreaterThan(0);
      expect(executedAtKill).toBeLessThan(2 * RUNS);
      expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'succeeded'));
      // Generous: the acceptance's 10 s, doubled for a loaded machine.
      expect(afterReturnMs).toBeLessThan(20_000);
      expectEachStepOnce(ids);
    },
  );

  it('kill -9 the orchestrator: all 100 complete after its restart, and no step ran twice', async () => {
    await define('outage-engine');
    writeFileSync(countedLog, '');
    const ids = await startRuns('outage-engine');
    await new Promise((r) => setTimeout(r, STEP_MS / 2));
    const orchestrator = cluster.orchestrator!.child;
    const exited = new Promise((resolve) => orchestrator.once('exit', resolve));
    orchestrator.kill('SIGKILL');
    await exited;
    // Steps in flight finish while no engine listens.
    await new Promise((r) => setTimeout(r, 1_000));
    const executedWhileAway = [...executions().values()].reduce((a, b) => a + b, 0);
    await cluster.startOrchestrator();

    const runs = await allEnded('outage-engine', ids, 90_000);
    process.stdout.write(
      `orchestrator kill -9: ${runs.length} runs ended; ${executedWhileAway} of ${2 * RUNS} steps had started before it came back\n`,
    );
    expect(executedWhileAway).toBeGreaterThan(0);
    expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'succeeded'));
    expectEachStepOnce(ids);
  });

  it('kill -9 the orchestrator and then the worker: steps that finished meanwhile are answered from yb-outcomes', async () => {
    await define('outage-worker', 'counted-durable');
    writeFileSync(countedLog, '');
    const workerPid = durableInstance.pid!;
    expect(workerPid).toBeGreaterThan(0);
    const ids = await startRuns('outage-worker');
    await new Promise((r) => setTimeout(r, STEP_MS / 2));
    const orchestrator = cluster.orchestrator!.child;
    const exited = new Promise((resolve) => orchestrator.once('exit', resolve));
    orchestrator.kill('SIGKILL');
    await exited;
    // The steps in flight finish; then their worker dies, and its memory with it (its agent restarts it).
    await new Promise((r) => setTimeout(r, 1_000));
    const finishedWhileAway = [...executions().values()].reduce((a, b) => a + b, 0);
    process.kill(workerPid, 'SIGKILL');
    await cluster.startOrchestrator();

    const runs = await allEnded('outage-worker', ids, 90_000);
    process.stdout.write(
      `orchestrator and worker kill -9: ${runs.length} runs ended; ${finishedWhileAway} of ${2 * RUNS} steps had run before both were killed\n`,
    );
    expect(finishedWhileAway).toBeGreaterThan(0);
    expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'succeeded'));
    expectEachStepOnce(ids);
    // The worker was restarted (a new process), and answered or ran the rest.
    const instance = await cluster.get<InstanceRecord>(`/instances/${durableInstance.id}`);
    expect(instance.pid).not.toBe(workerPid);
  });
});
