/**
 * What bounds bench:engine's orchestrator rows on this machine: the same 3-step echo pipeline
 * as the baseline (direct NATS calls), and through a relay process that makes the three calls
 * with NatsTransport and answers (tools/bench/relay.ts) — the messages an engine in its own
 * process must handle, with none of the engine. The relay's CPU per run is the floor of the
 * orchestrator's CPU column; its runs/s at concurrency 64 the ceiling of an orchestrator
 * started over NATS.
 *
 *   npm run bench:engine-floor   # BENCH_SECONDS per figure (default 5), BENCH_CONCURRENCY (64)
 */
import path from 'node:path';
import { envInt, percentile, round, spawnNode, stopChild } from '@yunbian/common';
import { Subjects } from '@yunbian/contracts';
import { directPipeline, startBenchStack } from './bench-stack';
import { processUsage } from './os';
import { RELAY_SUBJECT } from './relay';

const DIST = path.resolve(__dirname, '../..');
const SECONDS = envInt('BENCH_SECONDS', 5);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 64);
const PAYLOAD = { value: 'x'.repeat(180) };

async function measure(pipeline: () => Promise<void>, concurrency: number, cpu: () => number) {
  for (let i = 0; i < 50; i++) await pipeline();
  const before = cpu();
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await pipeline();
        latencies.push(performance.now() - started);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  return {
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50)!,
    cpuMicros: ((cpu() - before) * 1e6) / latencies.length,
  };
}

async function main(): Promise<void> {
  const print = (line = '') => process.stdout.write(line + '\n');
  const stack = await startBenchStack({
    agentEnv: { YUNBIAN_SERVICE_PATH: path.join(DIST, 'test/fixtures/services') },
  });
  const subject = Subjects.service('echo', '1.0.0');
  const relay = spawnNode(path.join(__dirname, 'relay.js'), [], {
    // BENCH_PROFILE_DIR writes a CPU profile of the relay when it stops (as bench:engine does for the orchestrator).
    execArgv: process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
    env: { ...process.env, NATS_URL: stack.transport.connection.getServer(), RELAY_TARGET: subject },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    for (let i = 0; i < 2; i++) await stack.deploy('echo@1.0.0');
    await new Promise<void>((resolve, reject) => {
      relay.once('message', () => resolve());
      relay.once('exit', (code) => reject(new Error(`relay exited (${code})`)));
    });
    // The baseline of bench:engine: three calls over one multiplexed reply subscription.
    const direct = directPipeline(stack.transport.connection, subject, PAYLOAD);
    const viaRelay = async () => {
      const run = await stack.transport.request<{ status: string }>(RELAY_SUBJECT, PAYLOAD, { timeoutMs: 30_000 });
      if (run.status !== 'succeeded') throw new Error(`relay answered ${run.status}`);
    };
    const relayCpu = () => processUsage(relay.pid!).cpuSeconds;
    print(`3-step pipeline of echo, 2 worker instances, ${SECONDS} s per figure`);
    print(
      'mode                              concurrency   runs/s    p50 ms   relay CPU µs/run   vs baseline (p50 | runs/s)',
    );
    for (const concurrency of [1, CONCURRENCY]) {
      const base = await measure(direct, concurrency, relayCpu);
      const hop = await measure(viaRelay, concurrency, relayCpu);
      for (const [name, r] of [
        ['baseline: direct NATS', base],
        ['relay: 3 calls, one process', hop],
      ] as const)
        print(
          `${name.padEnd(34)}${String(concurrency).padStart(11)}${round(r.perSecond, 0).toString().padStart(9)}${round(r.p50, 2).toString().padStart(10)}${round(r.cpuMicros, 0).toString().padStart(19)}   ${round(r.p50 / base.p50, 2)}x | ${round(r.perSecond / base.perSecond, 2)}x`,
        );
    }
  } finally {
    await stopChild(relay);
    await stack.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:engine-floor failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
