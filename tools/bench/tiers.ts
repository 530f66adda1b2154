/**
 * `npm run bench:tiers`: tiered inference device → edge → cloud over the 2,000 held-out digits.
 *
 * 1. Offline: each committed digit model's probabilities (onnxruntime in this process) for the
 *    validation digits — the edge-site pool 6,000–7,999, unshifted, which no committed model
 *    trained on — and for the held-out digits. Every pair of device and edge rule × threshold is
 *    simulated on the validation digits with the decider's own rules (`sweepTiers`). Two ways
 *    to choose, each printed with its held-out figures: the cheapest configuration as accurate
 *    as the cloud model alone on them with ≤ 10 % at the cloud (`cheapestMeeting`), and the
 *    most accurate with ≤ 10 % at the cloud, the cheapest of equals (`mostAccurateWithin`: the
 *    e2e spec's configuration). Thresholds are never picked on the held-out digits.
 * 2. On a local stack (nats-server, orchestrator, three agents: device, edge and cloud nodes
 *    with their costs; the device and edge instances get 0.25 and 1 core, enforced with cgroups
 *    where the agent can): the baselines (every digit on the cloud model, every digit on the
 *    device model) and each configuration of the curve, the held-out set in runs of 40 digits,
 *    four runs at a time. Per configuration: accuracy, share answered per tier, mean and p99
 *    run latency, cost (Σ over nodes of their model-execution seconds × their cost per hour,
 *    from the agents' `yunbian_inference_duration_seconds`).
 * 3. Writes the table (markdown) and a plot (SVG rendered to PNG with sharp) to
 *    docs/bench/tiers.md and docs/bench/tiers.png (the rows as JSON in tiers.json).
 *
 * BENCH_TIERS_TESTBED=1 (root) runs step 2 on the testbed instead: topology
 * tools/testbed/topologies/tiers.yaml (device 0.25 core and edge 1 core at one edge site, the
 * cloud across a 20 Mbit/s, 40 ms uplink), runs started at the edge site's engine; files
 * docs/bench/tiers-testbed.*.
 *
 * BENCH_TIERS_OFFLINE=1 stops after step 1; BENCH_TIERS_PLOT_ONLY=1 redraws table and plot from
 * the measured rows kept in the JSON file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { InstanceRecord } from '@yunbian/contracts';
import { toWire } from '@yunbian/inference';
import { DIGIT_CLASSES, DIGIT_PIXELS, DIGITS_INPUT, DIGITS_OUTPUT, digitsPart, type Digits } from '@yunbian/learning';
import { float32FromBase64, freePort } from '@yunbian/common';
import type { HardExampleRule, HardRule, SampleAnswer, TierDefinition } from '@yunbian/workflow';
import { Testbed } from '../testbed/testbed';
import { startBenchStack, type BenchStack } from './bench-stack';
import { argmax, cheapestMeeting, mostAccurateWithin, simulateTiers, sweepTiers } from './tiers-sweep';
import { apiFetch, toolKey } from '../common/api-key';

const ROOT = path.resolve(__dirname, '../../..');
const MODELS = path.join(ROOT, 'models/digits');
const TIERS = ['device', 'edge', 'cloud'] as const;
type Tier = (typeof TIERS)[number];
const COST_PER_HOUR: Record<Tier, number> = { device: 0.01, edge: 0.08, cloud: 2.4 };
const CPU: Partial<Record<Tier, number>> = { device: 0.25, edge: 1 };
const TESTBED = process.env.BENCH_TIERS_TESTBED === '1';
const TOPOLOGY = path.join(ROOT, 'tools/testbed/topologies/tiers.yaml');

/** Where the bench runs: the REST that starts runs, the REST that controls the stack, the node of each tier. */
interface Where {
  /** Starts runs and shows them (the edge site's engine on the testbed). */
  runs: string;
  /** Registers models, starts instances and workflows (the cloud orchestrator). */
  control: string;
  nodeOf: Record<Tier, string>;
  /** Cost per hour by node id, from GET /nodes. */
  cost: Record<string, number>;
  /** The metrics URL of each tier node's agent (its workers report their inference time there). */
  metrics: Record<Tier, string>;
}

/**
 * Seconds each tier node has spent in model executions so far: the sum of its agent's
 * `yunbian_inference_duration_seconds` (reported by its workers, one batch each).
 */
async function computeSeconds(where: Where): Promise<Record<string, number>> {
  // Workers report their figures to the agent once a second (YUNBIAN_METRICS_REPORT_MS): wait
  // for the last batches' reports, so none falls into the next configuration's window.
  await new Promise((r) => setTimeout(r, 2_500));
  const out: Record<string, number> = {};
  for (const tier of TIERS) {
    const page = await (await fetch(`${where.metrics[tier]}/metrics`)).text();
    let sum = 0;
    for (const m of page.matchAll(/^yunbian_inference_duration_seconds_sum\{[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
    out[where.nodeOf[tier]] = sum;
  }
  return out;
}

async function post<T>(base: string, route: string, body: unknown): Promise<T> {
  const response = await apiFetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  if (response.status >= 400) throw new Error(`POST ${route}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
const BATCH = 40;
const CONCURRENT_RUNS = 4;

interface Config {
  label: string;
  /** Undefined: a baseline on one model. */
  rules?: [HardExampleRule, HardExampleRule];
  only?: Tier;
  /** Chosen on the validation digits (circled in the plot, not part of a rule's curve). */
  marked?: boolean;
}

/** The curve: each rule at a few thresholds, the same on the device and the edge tier. */
const CURVE: Config[] = [
  ...[0.7, 0.8, 0.9, 0.95, 0.99].map((t) => tiered('threshold', t, t)),
  ...[0.5, 0.7, 0.8, 0.9].map((t) => tiered('crossEntropy', t, t)),
  ...[0.5, 0.7, 0.8, 0.9, 0.98].map((t) => tiered('margin', t, t)),
];

function tiered(rule: HardRule, device: number, edge: number): Config {
  return {
    label: `${rule} ${device}${edge === device ? '' : ` / ${edge}`}`,
    rules: [
      { rule, threshold: device },
      { rule, threshold: edge },
    ],
  };
}

const describeRules = ([device, edge]: readonly HardExampleRule[]) =>
  device.rule === edge.rule
    ? `${device.rule} ${device.threshold} / ${edge.threshold}`
    : `${device.rule} ${device.threshold} / ${edge.rule} ${edge.threshold}`;

async function offlineProbabilities(heldOut: Digits): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const tier of TIERS) {
    const session = await ort.InferenceSession.create(path.join(MODELS, `digits-${tier}.onnx`), {
      intraOpNumThreads: 1,
    });
    const result = await session.run({
      [DIGITS_INPUT]: new ort.Tensor('float32', Float32Array.from(heldOut.images), [heldOut.count, 1, 28, 28]),
    });
    out.push(Float32Array.from(result[DIGITS_OUTPUT].data as Float32Array));
    await session.release();
  }
  return out;
}

function accuracyOf(probabilities: Float32Array, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++)
    if (argmax(probabilities.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES)) === labels[i]) correct++;
  return correct / labels.length;
}

interface Measured {
  config: Config;
  accuracy: number;
  answered: number[];
  meanMs: number;
  p99Ms: number;
  /** Cost units per 1,000 digits. */
  costPer1000: number;
  /** The simulated accuracy (offline) for the same configuration. */
  simulated?: number;
}

interface RunView {
  status: string;
  error?: { message: string };
  output?: {
    outputs: Record<string, { dims: number[]; float32: string }>;
    samples?: SampleAnswer[];
  };
  steps: { history: { node?: string }[] }[];
}

async function measure(where: Where, config: Config, heldOut: Digits): Promise<Measured> {
  const name = `tiers-${config.label.replace(/[^A-Za-z0-9]+/g, '-')}`.slice(0, 60);
  const tiers: TierDefinition[] = TIERS.map((tier, i) => ({
    service: 'onnx-inference@^1',
    model: `digits@${i + 1}`,
    placement: { tier },
    ...(i < 2 && config.rules ? { hard: config.rules[i] } : {}),
  }));
  const step = config.only
    ? {
        id: 'classify',
        service: 'onnx-inference@^1',
        model: `digits@${TIERS.indexOf(config.only) + 1}`,
        placement: { tier: config.only },
        input: '$input',
      }
    : { id: 'classify', input: '$input', tiers };
  await post(where.control, '/workflows', {
    name,
    durability: 'none',
    steps: [step],
    output: '$steps.classify.output',
  });
  if (where.runs !== where.control) await waitKnown(where.runs, name);
  const answered = [0, 0, 0];
  let correct = 0;
  let cost = 0;
  const latencies: number[] = [];
  const before = await computeSeconds(where);
  let next = 0;
  const runs = Math.ceil(heldOut.count / BATCH);
  await Promise.all(
    Array.from({ length: CONCURRENT_RUNS }, async () => {
      while (next < runs) {
        const r = next++;
        const from = r * BATCH;
        const n = Math.min(BATCH, heldOut.count - from);
        const image = {
          dims: [n, 1, 28, 28],
          data: heldOut.images.subarray(from * DIGIT_PIXELS, (from + n) * DIGIT_PIXELS),
        };
        const started = performance.now();
        const { id } = await post<{ id: string }>(where.runs, `/workflows/${name}/runs?wait=60000`, {
          input: { inputs: { [DIGITS_INPUT]: toWire(image) } },
        });
        latencies.push(performance.now() - started);
        // A run the site engine forwarded to the cloud (its step places there) is the cloud's to show.
        let found = await apiFetch(`${where.runs}/runs/${id}`);
        if (found.status === 404 && where.runs !== where.control) found = await apiFetch(`${where.control}/runs/${id}`);
        const view = (await found.json()) as RunView;
        if (view.status !== 'succeeded' || !view.output)
          throw new Error(`run ${id} ${view.status}: ${view.error?.message}`);
        const probabilities = float32FromBase64(Object.values(view.output.outputs)[0].float32);
        for (let i = 0; i < n; i++) {
          if (argmax(probabilities.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES)) === heldOut.labels[from + i])
            correct++;
          answered[config.only ? TIERS.indexOf(config.only) : view.output.samples![i].tier]++;
        }
      }
    }),
  );
  // Cost: each node's compute (model execution time) × its cost per hour.
  const after = await computeSeconds(where);
  for (const node of Object.keys(after)) cost += ((after[node] - before[node]) / 3600) * (where.cost[node] ?? NaN);
  latencies.sort((a, b) => a - b);
  return {
    config,
    accuracy: correct / heldOut.count,
    answered: answered.map((a) => a / heldOut.count),
    meanMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    p99Ms: latencies[Math.min(latencies.length - 1, Math.ceil(0.99 * latencies.length) - 1)],
    costPer1000: (cost / heldOut.count) * 1000,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const share = (x: number) => `${(100 * x).toFixed(1)} %`;

/** A markdown table, its columns padded (as prettier writes them). */
function table(rows: Measured[]): string {
  const cells = [
    [
      'configuration',
      'accuracy',
      'device answers',
      'edge answers',
      'cloud answers',
      'mean ms / run of 40',
      'p99 ms',
      'cost / 1,000 digits (10⁻⁶)',
    ],
    ...rows.map((m) => [
      m.config.label,
      pct(m.accuracy),
      share(m.answered[0]),
      share(m.answered[1]),
      share(m.answered[2]),
      m.meanMs.toFixed(0),
      m.p99Ms.toFixed(0),
      (m.costPer1000 * 1e6).toFixed(2),
    ]),
  ];
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => [...r[c]].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v + ' '.repeat(widths[c] - [...v].length)).join(' | ')} |`;
  return (
    [line(cells[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n') +
    '\n'
  );
}

/** Accuracy against the share of digits reaching the cloud, one polyline per rule, the baselines as points. */
function plot(rows: Measured[]): string {
  const W = 760;
  const H = 460;
  const m = { l: 70, r: 180, t: 30, b: 55 };
  const accs = rows.map((r) => r.accuracy);
  const yMin = Math.floor(Math.min(...accs) * 100 - 0.5) / 100;
  const yMax = Math.ceil(Math.max(...accs) * 100 + 0.2) / 100;
  const x = (v: number) => m.l + (v / 1) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - ((v - yMin) / (yMax - yMin)) * (H - m.t - m.b);
  const colours: Record<string, string> = { threshold: '#1f77b4', crossEntropy: '#d62728', margin: '#2ca02c' };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="18" font-size="14">Tiered digits (2,000 held out): accuracy against the share answered by the cloud</text>`,
  ];
  for (let v = 0; v <= 1.0001; v += 0.1) {
    parts.push(`<line x1="${x(v)}" y1="${m.t}" x2="${x(v)}" y2="${H - m.b}" stroke="#eee"/>`);
    parts.push(`<text x="${x(v) - 10}" y="${H - m.b + 16}">${Math.round(v * 100)}%</text>`);
  }
  for (let v = yMin; v <= yMax + 1e-9; v += 0.005) {
    parts.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 48}" y="${y(v) + 4}">${(v * 100).toFixed(1)}%</text>`);
  }
  parts.push(`<text x="${m.l + 120}" y="${H - 12}">share of digits answered by the cloud model</text>`);
  parts.push(`<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})">accuracy</text>`);
  parts.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<line x1="${x(0.1)}" y1="${m.t}" x2="${x(0.1)}" y2="${H - m.b}" stroke="#999" stroke-dasharray="4 3"/>`);
  let legend = 0;
  for (const rule of Object.keys(colours)) {
    const pts = rows
      .filter((r) => r.config.rules?.[0].rule === rule && !r.config.marked)
      .sort((a, b) => a.answered[2] - b.answered[2])
      .map((r) => `${x(r.answered[2]).toFixed(1)},${y(r.accuracy).toFixed(1)}`);
    if (pts.length === 0) continue;
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colours[rule]}" stroke-width="2"/>`);
    for (const p of pts) {
      const [px, py] = p.split(',');
      parts.push(`<circle cx="${px}" cy="${py}" r="3.5" fill="${colours[rule]}"/>`);
    }
    parts.push(`<rect x="${W - m.r + 15}" y="${m.t + 20 * legend}" width="14" height="4" fill="${colours[rule]}"/>`);
    parts.push(`<text x="${W - m.r + 35}" y="${m.t + 20 * legend + 6}">${rule}</text>`);
    legend++;
  }
  for (const r of rows.filter((r) => r.config.only)) {
    parts.push(`<rect x="${x(r.answered[2]) - 4}" y="${y(r.accuracy) - 4}" width="8" height="8" fill="#555"/>`);
    parts.push(
      `<text x="${x(r.answered[2]) + (r.answered[2] > 0.5 ? -150 : 8)}" y="${y(r.accuracy) + 4}">${r.config.label}</text>`,
    );
  }
  for (const r of rows.filter((r) => r.config.marked)) {
    parts.push(`<circle cx="${x(r.answered[2])}" cy="${y(r.accuracy)}" r="6" fill="none" stroke="#000"/>`);
    parts.push(`<text x="${x(r.answered[2]) + 10}" y="${y(r.accuracy) + 22}">${r.config.label}</text>`);
  }
  parts.push(`<text x="${x(0.1) + 4}" y="${m.t + 12}" fill="#666">10 %</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * The rules the e2e spec uses (test/tiers.e2e-spec.ts), measured with the curve: the most
 * accurate configuration on the validation digits with ≤ 10 % at the cloud (see main).
 */
export const E2E_RULES: [HardExampleRule, HardExampleRule] = [
  { rule: 'margin', threshold: 0.995 },
  { rule: 'margin', threshold: 0.64 },
];

async function main(): Promise<void> {
  const validation = digitsPart('edge');
  const heldOut = digitsPart('heldOut');
  const validationProbabilities = await offlineProbabilities(validation);
  const probabilities = await offlineProbabilities(heldOut);
  const aloneValidation = validationProbabilities.map((p) => accuracyOf(p, validation.labels));
  const alone = probabilities.map((p) => accuracyOf(p, heldOut.labels));
  process.stdout.write(
    `offline, alone: validation (${validation.count}, edge pool): ${TIERS.map((t, i) => `${t} ${pct(aloneValidation[i])}`).join(', ')}; ` +
      `held out (${heldOut.count}): ${TIERS.map((t, i) => `${t} ${pct(alone[i])}`).join(', ')}\n`,
  );
  const candidates = sweepTiers(validationProbabilities, DIGIT_CLASSES, validation.labels);
  const within = candidates.filter((c) => c.result.reached[2] <= 0.1);
  const meeting = within.filter((c) => c.result.accuracy >= aloneValidation[2]);
  const shown = (
    c: { rules: [HardExampleRule, HardExampleRule] },
    result: { accuracy: number; answered: number[] },
  ) => {
    const held = simulateTiers(probabilities, DIGIT_CLASSES, heldOut.labels, c.rules);
    return (
      `device ${c.rules[0].rule} ${c.rules[0].threshold}, edge ${c.rules[1].rule} ${c.rules[1].threshold}: ` +
      `validation ${pct(result.accuracy)} (${result.answered.map(share).join(' / ')}), ` +
      `held out ${pct(held.accuracy)} (${held.answered.map(share).join(' / ')})`
    );
  };
  process.stdout.write(
    `simulated on the validation digits: ${candidates.length} configurations, ${within.length} send ≤ 10 % to the cloud, ` +
      `${meeting.length} of them as accurate as the cloud model's ${pct(aloneValidation[2])} there.\n`,
  );
  const cheapest = cheapestMeeting(candidates, aloneValidation[2], 0.1);
  process.stdout.write(
    cheapest
      ? `cheapest as accurate as the cloud alone: ${shown(cheapest, cheapest.result)}\n`
      : 'cheapest as accurate as the cloud alone: none with ≤ 10 % at the cloud\n',
  );
  const chosen = mostAccurateWithin(candidates, 0.1);
  if (chosen) process.stdout.write(`most accurate within 10 % (the e2e's): ${shown(chosen, chosen.result)}\n`);
  process.stdout.write('most accurate on the validation digits with ≤ 10 % at the cloud:\n');
  for (const c of [...within].sort((a, b) => b.result.accuracy - a.result.accuracy).slice(0, 5))
    process.stdout.write(`  ${shown(c, c.result)}\n`);
  if (chosen && describeRules(chosen.rules) !== describeRules(E2E_RULES))
    process.stdout.write(
      `note: test/tiers.e2e-spec.ts and E2E_RULES use ${describeRules(E2E_RULES)}, not the chosen configuration\n`,
    );
  if (process.env.BENCH_TIERS_OFFLINE === '1') return;
  const out = path.join(ROOT, 'docs/bench');
  const file = TESTBED ? 'tiers-testbed' : 'tiers';
  if (process.env.BENCH_TIERS_PLOT_ONLY === '1') {
    const rows = JSON.parse(readFileSync(path.join(out, `${file}.json`), 'utf8')) as Measured[];
    return write(out, file, rows);
  }

  const configs: Config[] = [
    { label: 'all on the cloud model', only: 'cloud' },
    { label: 'all on the device model', only: 'device' },
    { label: `e2e: ${describeRules(E2E_RULES)}`, rules: E2E_RULES, marked: true },
    ...(cheapest ? [{ label: `cheapest: ${describeRules(cheapest.rules)}`, rules: cheapest.rules, marked: true }] : []),
    ...CURVE,
  ];
  const rows: Measured[] = [];
  const stack = TESTBED ? await startTestbed() : await startLocal();
  try {
    const where = stack.where;
    for (const tier of TIERS) {
      const model = await apiFetch(`${where.control}/models?name=digits`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: readFileSync(path.join(MODELS, `digits-${tier}.onnx`)),
      });
      if (model.status !== 201) throw new Error(`registering digits-${tier}: ${model.status} ${await model.text()}`);
    }
    for (const [i, tier] of TIERS.entries()) {
      // On the testbed the nodes' own limits bound the instances (device 0.25 core, edge 1 core).
      const cpu = TESTBED ? undefined : CPU[tier];
      const instance = await post<InstanceRecord>(where.control, '/instances', {
        service: 'onnx-inference',
        nodeId: where.nodeOf[tier],
        config: { model: `digits@${i + 1}`, maxBatch: 64, maxDelayMs: 2 },
        ...(cpu ? { resources: { cpu } } : {}),
      });
      await waitReady(where.runs, instance.id);
    }
    const nodes = (await (await apiFetch(`${where.control}/nodes`)).json()) as {
      id: string;
      costPerHour?: number;
      limits?: unknown;
      limitsEnforcement?: unknown;
    }[];
    for (const node of nodes) {
      where.cost[node.id] = node.costPerHour ?? 0;
      process.stdout.write(
        `node ${node.id}: cost ${node.costPerHour ?? 0}/h, limits ${JSON.stringify(node.limits ?? {})} ${JSON.stringify(node.limitsEnforcement ?? 'not reported')}\n`,
      );
    }
    for (const config of configs) {
      const measured = await measure(where, config, heldOut);
      if (config.rules)
        measured.simulated = simulateTiers(probabilities, DIGIT_CLASSES, heldOut.labels, config.rules).accuracy;
      rows.push(measured);
      process.stdout.write(
        `${config.label}: ${pct(measured.accuracy)}${measured.simulated === undefined ? '' : ` (simulated ${pct(measured.simulated)})`}, answered ${measured.answered.map(share).join(' / ')}, mean ${measured.meanMs.toFixed(0)} ms, p99 ${measured.p99Ms.toFixed(0)} ms, cost/1000 ${(measured.costPer1000 * 1e3).toFixed(3)}e-3\n`,
      );
    }
  } finally {
    await stack.stop();
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, `${file}.json`), `${JSON.stringify(rows, null, 2)}\n`);
  await write(out, file, rows);
}

/** The table and the plot of measured rows. */
async function write(out: string, file: string, rows: Measured[]): Promise<void> {
  const md = table(rows);
  writeFileSync(path.join(out, `${file}.md`), md);
  // sharp is in node_modules (a dependency of a dependency), not a declared dependency: loaded only here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sharp = require('sharp') as (input: Buffer) => { png(): { toFile(file: string): Promise<unknown> } };
  await sharp(Buffer.from(plot(rows)))
    .png()
    .toFile(path.join(out, `${file}.png`));
  process.stdout.write(`\n${md}\nwrote docs/bench/${file}.md and docs/bench/${file}.png\n`);
}

/** A local stack: nats-server, the orchestrator, an agent per tier (`device-1`, `edge-1`, `cloud-1`). */
async function startLocal(): Promise<{ where: Where; stop(): Promise<void> }> {
  const ports = { device: await freePort(), edge: await freePort(), cloud: await freePort() };
  const stack: BenchStack = await startBenchStack({
    agentEnv: { YUNBIAN_NODE_MEMORY_MB: '4096', YUNBIAN_HEARTBEAT_MS: '500' },
    extraAgents: Object.fromEntries(
      TIERS.map((tier) => [
        `${tier}-1`,
        {
          YUNBIAN_NODE_TIER: tier,
          YUNBIAN_NODE_COST_PER_HOUR: String(COST_PER_HOUR[tier]),
          YUNBIAN_METRICS_PORT: String(ports[tier]),
        },
      ]),
    ),
  });
  const nodeOf = { device: 'device-1', edge: 'edge-1', cloud: 'cloud-1' };
  const metrics = {
    device: `http://127.0.0.1:${ports.device}`,
    edge: `http://127.0.0.1:${ports.edge}`,
    cloud: `http://127.0.0.1:${ports.cloud}`,
  };
  return { where: { runs: stack.api, control: stack.api, nodeOf, cost: {}, metrics }, stop: () => stack.stop() };
}

/**
 * The testbed (root): tools/testbed/topologies/tiers.yaml — the device box and the edge server
 * at the factory site, the cloud across the shaped uplink. Runs start at the site's engine,
 * which executes them (tier 0 places at its site); the cloud tier is reached over the uplink.
 */
async function startTestbed(): Promise<{ where: Where; stop(): Promise<void> }> {
  if (process.getuid?.() !== 0)
    throw new Error('BENCH_TIERS_TESTBED=1 needs root (the testbed builds network namespaces)');
  const bed = await Testbed.start(TOPOLOGY, {
    port: 0,
    heartbeatMs: 1000,
    adminKey: toolKey(),
    say: (l) => process.stdout.write(`[testbed] ${l}\n`),
  });
  try {
    const runs = await bed.siteEngineApi('factory-sz');
    const nodeOf = { device: 'device-1', edge: 'edge-box', cloud: 'cloud-1' };
    const metrics = {
      device: await bed.agentHttp(nodeOf.device),
      edge: await bed.agentHttp(nodeOf.edge),
      cloud: await bed.agentHttp(nodeOf.cloud),
    };
    return { where: { runs, control: bed.api, nodeOf, cost: {}, metrics }, stop: () => bed.stop() };
  } catch (err) {
    await bed.stop();
    throw err;
  }
}

/** Waits until the engine at `base` knows the workflow (a site engine gets the cloud's definitions). */
async function waitKnown(base: string, name: string): Promise<void> {
  const until = Date.now() + 60_000;
  while ((await apiFetch(`${base}/workflows/${name}`)).status !== 200) {
    if (Date.now() > until) throw new Error(`the engine at ${base} never learnt workflow ${name}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitReady(base: string, id: string): Promise<void> {
  const until = Date.now() + 120_000;
  for (;;) {
    const response = await apiFetch(`${base}/instances/${id}`);
    const instance = (
      response.ok ? await response.json() : { status: `unknown (${response.status})` }
    ) as InstanceRecord;
    if (instance.status === 'ready') return;
    if (instance.status === 'failed' || Date.now() > until)
      throw new Error(`instance ${id} is ${String(instance.status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:tiers failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
