/**
 * Site engine vs cloud engine on the testbed (root): the factory topology (an edge site on
 * a 40 ms RTT uplink), json-transform deployed on the edge node, and a 3-step workflow whose
 * steps are all placed at the edge, started at the edge (the site engine's REST), executed
 *   - by the site engine (engine "auto": every step places at the edge),
 *   - by the cloud engine (engine "cloud": the start crosses the uplink, then each step),
 * first on the 40 ms link and then on a LAN (the same link set to 0 ms with `setLink`).
 * Runs are sequential (concurrency 1) and durable (the default). The four modes take turns
 * in BENCH_ROUNDS rounds (the link's delay switched between them), so a machine whose load
 * drifts weighs on each alike. Prints p50/p99 per mode and the ratios the acceptance names
 * (site at 40 ms / site on a LAN; cloud / site).
 *
 *   npm run bench:site          # BENCH_RUNS per mode (default 100), BENCH_ROUNDS (default 5),
 *                               # BENCH_TOPOLOGY (factory.yaml), BENCH_DURABILITY (durable | none)
 */
import path from 'node:path';
import { envInt, percentile, round, waitUntil } from '@yunbian/common';
import type { InstanceRecord } from '@yunbian/contracts';
import { Testbed } from '../testbed/testbed';
import { apiFetch, toolKey } from '../common/api-key';

const ROOT = path.resolve(__dirname, '../../..');
const RUNS = envInt('BENCH_RUNS', 100);
const ROUNDS = envInt('BENCH_ROUNDS', 5);
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? path.join(ROOT, 'tools/testbed/topologies/factory.yaml');
const DURABILITY = process.env.BENCH_DURABILITY === 'none' ? 'none' : 'durable';
const EDGE_SITE = 'factory-sz';
const EDGE_NODE = 'edge-box';
const WORKFLOW = 'bench-site-pipeline';

const say = (line = '') => process.stdout.write(line + '\n');

async function call<T>(
  base: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await apiFetch(`${base}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface Row {
  mode: string;
  rttMs: number;
  runs: number;
  p50: number;
  p99: number;
  mean: number;
}

/** One run started at the edge and waited for; its latency as the client sees it, ms. */
async function runOnce(edge: string, engine: 'auto' | 'cloud', expectKind: string): Promise<number> {
  const started = performance.now();
  const { status, body } = await call<{ status: string; executedBy?: { kind: string }; error?: unknown }>(
    edge,
    'POST',
    `/workflows/${WORKFLOW}/runs?wait=30000`,
    { input: { n: 1 }, engine, durability: DURABILITY },
  );
  const ms = performance.now() - started;
  if (status !== 200 || body.status !== 'succeeded' || body.executedBy?.kind !== expectKind) {
    throw new Error(`run failed or ran elsewhere (${status}): ${JSON.stringify(body).slice(0, 500)}`);
  }
  return ms;
}

function row(mode: string, rttMs: number, latencies: number[]): Row {
  return {
    mode,
    rttMs,
    runs: latencies.length,
    p50: percentile(latencies, 50)!,
    p99: percentile(latencies, 99)!,
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:site needs root (the testbed builds network namespaces)');
  say(
    `bench:site — ${path.relative(ROOT, TOPOLOGY)}, ${RUNS} runs per mode in ${ROUNDS} rounds, durability ${DURABILITY}`,
  );
  const bed = await Testbed.start(TOPOLOGY, {
    port: 0,
    heartbeatMs: 1000,
    adminKey: toolKey(),
    say: (l) => say(`[testbed] ${l}`),
  });
  try {
    const edge = await bed.siteEngineApi(EDGE_SITE);
    const deployed = await call<InstanceRecord>(bed.api, 'POST', '/instances', {
      service: 'json-transform@^1',
      nodeId: EDGE_NODE,
    });
    if (deployed.status !== 201) throw new Error(`deploying json-transform failed: ${JSON.stringify(deployed.body)}`);
    const step = (id: string, from: string | undefined) => ({
      id,
      service: 'json-transform@^1',
      input: { expression: '$ + 1', data: from ? `=$steps.${from}.output.result` : '=$input.n' },
    });
    const created = await call(bed.api, 'POST', '/workflows', {
      name: WORKFLOW,
      placement: { site: EDGE_SITE },
      steps: [step('a', undefined), step('b', 'a'), step('c', 'b')],
    });
    if (created.status >= 300) throw new Error(`creating the workflow failed: ${JSON.stringify(created.body)}`);
    await waitUntil(
      async () => {
        const [wf, instances] = await Promise.all([
          call(edge, 'GET', `/workflows/${WORKFLOW}`),
          call<InstanceRecord[]>(edge, 'GET', '/instances'),
        ]);
        return wf.status === 200 && instances.body.some((i) => i.id === deployed.body.id && i.status === 'ready');
      },
      60_000,
      'the site engine to know the workflow and a ready instance',
      250,
    );
    const rtt = bed.linkStates().find((l) => l.site === EDGE_SITE)!.rttMs;
    const modes = [
      { mode: 'site engine', engine: 'auto', kind: 'site', rttMs: rtt },
      { mode: 'cloud engine', engine: 'cloud', kind: 'cloud', rttMs: rtt },
      { mode: 'site engine', engine: 'auto', kind: 'site', rttMs: 0 },
      { mode: 'cloud engine', engine: 'cloud', kind: 'cloud', rttMs: 0 },
    ] as const;
    const latencies: number[][] = modes.map(() => []);
    const perRound = Math.max(1, Math.ceil(RUNS / ROUNDS));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, m] of modes.entries()) {
        if (bed.linkStates().find((l) => l.site === EDGE_SITE)!.rttMs !== m.rttMs) {
          await bed.setLink(EDGE_SITE, { rttMs: m.rttMs });
        }
        // A few warm-up runs after each switch (connections, JIT), not counted.
        for (let i = 0; i < 3; i++) await runOnce(edge, m.engine, m.kind);
        for (let i = 0; i < perRound; i++) latencies[k].push(await runOnce(edge, m.engine, m.kind));
      }
    }
    await bed.setLink(EDGE_SITE, { rttMs: rtt });
    const rows = modes.map((m, k) => row(m.mode, m.rttMs, latencies[k]));

    say('');
    say('| engine | edge↔cloud RTT | runs | p50 ms | p99 ms | mean ms |');
    say('| --- | --: | --: | --: | --: | --: |');
    for (const r of rows) {
      say(`| ${r.mode} | ${r.rttMs} ms | ${r.runs} | ${round(r.p50, 1)} | ${round(r.p99, 1)} | ${round(r.mean, 1)} |`);
    }
    const [siteWan, cloudWan, siteLan] = rows;
    say('');
    say(
      `site engine at ${rtt} ms / same on a LAN (0 ms): p50 ${round(siteWan.p50 / siteLan.p50, 2)}× (target ≤ 1.2×), p99 ${round(siteWan.p99 / siteLan.p99, 2)}×`,
    );
    say(
      `cloud engine / site engine at ${rtt} ms: p50 ${round(cloudWan.p50 / siteWan.p50, 2)}× (cloud p50 − site p50 = ${round(cloudWan.p50 - siteWan.p50, 1)} ms ≈ ${round((cloudWan.p50 - siteWan.p50) / rtt, 2)} × RTT)`,
    );
  } finally {
    await bed.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:site: ${err.message}\n`);
  process.exit(1);
});
