import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitUntil } from '@yunbian/common';
import type { CompressionJob, CompressionReport, LatencyFigure } from '@yunbian/contracts';
import { startBenchStack } from './bench-stack';
import { apiFetch } from '../common/api-key';

/**
 * `npm run bench:compression`: the int8 recipe on the three digits tier models through the
 * real API — nats-server, the orchestrator and three agents, `bench-device` (0.25 core),
 * `bench-edge` (1 core) and `bench-node` (cloud, unlimited), limits enforced by cgroups where
 * the machine allows it (root, cgroup v1). Each compression registers the model, calibrates on
 * 500 public digits, measures accuracy on the 2,000 held-out digits and latency on every node
 * class at batch 1 and 64, parent and int8 taking turns run by run. Prints a Markdown table.
 *
 *   npm run bench:compression                  # all three tiers
 *   npm run bench:compression -- cloud         # some of them
 */
const TIERS = ['device', 'edge', 'cloud'];
const RUNS = Number(process.env.BENCH_RUNS ?? 1_000);

async function main(): Promise<void> {
  const tiers = process.argv.slice(2).length ? process.argv.slice(2) : TIERS;
  const stack = await startBenchStack({
    agentEnv: { YUNBIAN_NODE_TIER: 'cloud', YUNBIAN_HEARTBEAT_MS: '1000' },
    extraAgents: {
      'bench-device': { YUNBIAN_NODE_TIER: 'device', YUNBIAN_NODE_LIMIT_CPU: '0.25' },
      'bench-edge': { YUNBIAN_NODE_TIER: 'edge', YUNBIAN_NODE_LIMIT_CPU: '1' },
    },
  });
  try {
    await stack.post('/datasets', { source: 'digits', part: 'heldOut' });
    await stack.post('/datasets', { source: 'digits', part: 'public', to: 500 });
    const rows: string[] = [];
    for (const tier of tiers) {
      const name = `digits-${tier}`;
      const file = path.resolve(__dirname, `../../../models/digits/${name}.onnx`);
      await stack.post('/models?name=' + name, readFileSync(file), 'application/octet-stream');
      const job = await stack.post<CompressionJob>(`/models/${name}/versions/1/compress`, {
        recipe: 'int8',
        datasets: { validation: 'digits-heldOut', calibration: 'digits-public-0-500' },
        options: { batchSize: 64, runs: RUNS },
      });
      const done = await waitUntil(
        async () => {
          const j = (await (await apiFetch(`${stack.api}/compressions/${job.id}`)).json()) as CompressionJob;
          return j.status === 'running' ? undefined : j;
        },
        600_000,
        `${name} compression`,
        500,
      );
      if (done.status !== 'succeeded') throw new Error(`${name}: ${done.error?.message}`);
      rows.push(...table(name, done.report!));
      process.stderr.write(`${name}: done in ${done.report!.seconds} s\n`);
    }
    process.stdout.write(
      [
        `int8 (static QDQ, minmax on 500 public digits), accuracy on 2,000 held-out digits; latency median (mean) ms per call, ${RUNS} runs at batch 1, ${Math.round(RUNS / 10)} at 64`,
        '',
        '| model | bytes (gzip) | accuracy | node (cpu) | batch 1: float → int8 | batch 64: float → int8 |',
        '| --- | --- | --- | --- | --- | --- |',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    await stack.stop();
  }
}

function table(name: string, r: CompressionReport): string[] {
  const fig = (f: LatencyFigure | undefined) => (f ? `${f.medianMs} (${f.meanMs})` : '—');
  return r.latency.map((l, i) => {
    const head =
      i === 0
        ? `| ${name} | ${r.parent.bytes} (${r.parent.gzipBytes}) → ${r.compressed.bytes} (${r.compressed.gzipBytes}), ${r.sizeRatio}× | ${(100 * r.parent.accuracy).toFixed(2)} → ${(100 * r.compressed.accuracy).toFixed(2)} %`
        : '| | |';
    if (!l.measured) return `${head} | ${l.nodeClass}: ${l.reason} | | |`;
    const at = (b: number) =>
      `${fig(l.parent.find((f) => f.batch === b))} → ${fig(l.compressed.find((f) => f.batch === b))} (${l.speedup[String(b)]}×)`;
    return `${head} | ${l.nodeClass} ${l.nodeId} (${l.cpu}${l.cpuEnforced ? ', cgroup' : ', not enforced'}) | ${at(1)} | ${at(64)} |`;
  });
}

main().catch((err: Error) => {
  process.stderr.write(`bench:compression failed: ${err.message}\n`);
  process.exit(1);
});
