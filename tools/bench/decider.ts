/**
 * The engine's own cost, without NATS: a 3-step run (the bench:engine pipeline) driven
 * (a) through the pure decider alone — decide, apply, place, start, result, as the executor
 * does — and (b) through the executor of libs/engine over in-memory ports that answer at
 * once (no store, no network), ephemeral and with an in-memory store that serialises every
 * write. CPU µs per run (process.cpuUsage) is the steadier figure on a shared machine.
 *
 *   npm run bench:decider       # BENCH_SECONDS per figure (default 3)
 */
import { envInt, round } from '@yunbian/common';
import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import { Executor, type RouteDecision, type RunStore, type StepRouter } from '@yunbian/engine';
import {
  apply,
  applyResult,
  createRun,
  decide,
  placeAttempt,
  startAttempt,
  type DispatchAction,
  type RunRecord,
  type WorkflowDefinition,
} from '@yunbian/workflow';

const SECONDS = envInt('BENCH_SECONDS', 3);
const PAYLOAD = { value: 'x'.repeat(180) };

const definition: WorkflowDefinition & { version: number } = {
  name: 'bench3',
  version: 1,
  steps: [
    { id: 'a', service: 'echo@^1', input: { value: '=$input.value' } },
    { id: 'b', service: 'echo@^1', input: { value: '=$steps.a.output.value' } },
    { id: 'c', service: 'echo@^1', input: { value: '=$steps.b.output.value' } },
  ],
  output: '$steps.c.output.value',
} as WorkflowDefinition & { version: number };

const instance = {
  id: 'echo-1',
  service: 'echo',
  version: '1.0.0',
  nodeId: 'n1',
  subject: 'yb.svc.echo.1_0_0',
  status: 'ready',
} as InstanceRecord;
const node = { id: 'n1', site: 'bench' } as NodeRecord;
/** Placement as the orchestrator records it (two candidates with their estimates). */
const placement = {
  strategy: 'latency',
  reason: 'lowest estimated latency (0.4 ms)',
  candidates: [
    {
      instanceId: 'echo-1',
      nodeId: 'n1',
      latencyMs: 0.41,
      cost: 0,
      bandwidthSource: 'same-node' as const,
      score: 0.41,
    },
    {
      instanceId: 'echo-2',
      nodeId: 'n1',
      latencyMs: 0.52,
      cost: 0,
      bandwidthSource: 'same-node' as const,
      score: 0.52,
    },
  ],
};
const decision: RouteDecision = { instance, node, ...placement };

let ids = 0;

/** The decider's part of one run: every round the executor makes, with nothing in between. */
async function pureRun(): Promise<void> {
  const now = Date.now();
  const run = createRun({ id: `r${++ids}`, definition, input: PAYLOAD, durability: 'none', now: new Date(now) });
  for (;;) {
    const { actions } = await decide(run, now);
    if (actions.length === 0) break;
    for (const action of actions) apply(run, action, now);
    const dispatches = actions.filter((a): a is DispatchAction => a.type === 'dispatch');
    for (const d of dispatches) {
      apply(run, placeAttempt(d, { service: 'echo@1.0.0', instanceId: 'echo-1', nodeId: 'n1', placement }), now);
      apply(run, startAttempt(d), now);
    }
    for (const d of dispatches)
      applyResult(run, { stepId: d.stepId, task: d.task, attempt: d.attempt.n, ok: true, output: d.input }, now);
  }
  if (run.status !== 'succeeded') throw new Error(`run ${run.id} ${run.status}`);
}

const router: StepRouter = {
  route: () => decision,
  sent: () => undefined,
  settled: () => undefined,
  siteOf: () => 'bench',
};

class SerialisingStore implements RunStore {
  bytes = 0;
  async save(run: RunRecord): Promise<void> {
    this.bytes += JSON.stringify(run).length;
  }
  async load(): Promise<RunRecord | undefined> {
    return undefined;
  }
  async loadAll(): Promise<RunRecord[]> {
    return [];
  }
  async compact(): Promise<void> {}
}

function executor(): Executor {
  return new Executor(
    {
      store: new SerialisingStore(),
      payloads: {
        offload: async (value) => value,
        resolve: async (value) => value,
        deleteWithPrefix: async () => undefined,
        deleteOlderThan: async () => undefined,
      },
      dispatcher: {
        call: async ({ input }) => ({ value: input }),
        startWorkflow: () => Promise.reject(new Error('no sub-workflows here')),
      },
      router,
      clock: { now: () => Date.now(), setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: clearTimeout as never },
    },
    { finishedRunsKept: 100 },
  );
}

function engineRun(engine: Executor, durability: 'none' | 'durable'): () => Promise<void> {
  return async () => {
    const started = await engine.start({ definition, input: PAYLOAD, durability });
    const run = await engine.waitFor(started.id, 10_000);
    if (run.status !== 'succeeded') throw new Error(`run ${run.id} ${run.status}: ${run.error?.message}`);
  };
}

async function measure(name: string, once: () => Promise<void>, concurrency: number) {
  for (let i = 0; i < 2_000; i++) await once();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  let runs = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await once();
        runs++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  const elapsed = performance.now() - t0;
  return { name, concurrency, runs, cpuMicros: (used.user + used.system) / runs, wallMicros: (elapsed * 1000) / runs };
}

async function main(): Promise<void> {
  const results = [
    await measure('decider alone (decide/apply)', pureRun, 1),
    await measure('executor, in-memory, none', engineRun(executor(), 'none'), 1),
    await measure('executor, in-memory, none', engineRun(executor(), 'none'), 64),
    await measure('executor, in-memory, durable', engineRun(executor(), 'durable'), 64),
  ];
  process.stdout.write(`3-step run of bench:engine's pipeline, no I/O, ${SECONDS} s per figure\n`);
  process.stdout.write('what                              concurrency      runs   CPU µs/run   wall µs/run\n');
  for (const r of results)
    process.stdout.write(
      `${r.name.padEnd(34)}${String(r.concurrency).padStart(11)}${String(r.runs).padStart(10)}${round(r.cpuMicros, 1).toString().padStart(13)}${round(r.wallMicros, 1).toString().padStart(14)}\n`,
    );
}

main().catch((err: Error) => {
  process.stderr.write(`bench:decider failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
