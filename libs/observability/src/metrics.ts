import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsOptions {
  /** Labels added to every series, e.g. `{ app: 'yunbian-agent' }`. */
  defaultLabels?: Record<string, string>;
  /** Node.js process metrics: CPU, memory, event-loop lag, GC, handles (default on). */
  processMetrics?: boolean;
}

/** Latencies of calls over NATS, from a millisecond on a LAN to a minute for a big model. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
const HEARTBEAT_LAG_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Yunbian's Prometheus metrics in their own registry. Creating an instance registers the
 * metrics (and, unless turned off, starts collecting process metrics); importing this
 * module does nothing. Record with the prom-client API:
 * `metrics.workflowRuns.inc({ workflow: 'inspect', status: 'succeeded' })`.
 */
export class YunbianMetrics {
  readonly registry = new Registry();

  /** Runs that reached a final status. */
  readonly workflowRuns: Counter<'workflow' | 'status'>;
  /** One step attempt, from dispatch to its reply, error or timeout. */
  readonly stepDuration: Histogram<'service' | 'node' | 'outcome'>;
  /** Placement decisions; outcome `placed` or `unsatisfiable`. */
  readonly placementDecisions: Counter<'strategy' | 'outcome'>;
  /** Requests waiting beyond an instance's concurrency, as last reported. */
  readonly instanceQueueDepth: Gauge<'service' | 'node' | 'instance'>;
  /** One model execution (one batch). */
  readonly inferenceDuration: Histogram<'model' | 'node'>;
  /** Inputs per model execution. */
  readonly inferenceBatchSize: Histogram<'model' | 'node'>;
  /** From an agent sending a heartbeat to the orchestrator receiving it. */
  readonly heartbeatLag: Histogram<'node'>;
  /** Events of workflow triggers; outcome `started`, `duplicate`, `dropped` or `failed`. */
  readonly triggerFires: Counter<'workflow' | 'trigger' | 'kind' | 'outcome'>;
  /** Runs site engines started, as the cloud learnt from their facts (once each, also after an uplink cut). */
  readonly siteRunsStarted: Counter<'site' | 'workflow'>;
  /** Runs site engines finished, likewise. */
  readonly siteRuns: Counter<'site' | 'workflow' | 'status'>;
  /** Step attempts of runs site engines finished, likewise. */
  readonly siteStepDuration: Histogram<'site' | 'service' | 'node' | 'outcome'>;
  /** Tiered inference: samples each tier answered (Sedna's inferenceNumber). */
  readonly tierInferences: Counter<'workflow' | 'step' | 'tier'>;
  /** Tiered inference: samples each tier's rule found hard and sent up (Sedna's hardExampleNumber). */
  readonly tierHardExamples: Counter<'workflow' | 'step' | 'tier'>;
  /** Tiered inference: samples sent up that the tier answered after all (the tier above unreachable). */
  readonly tierFallbacks: Counter<'workflow' | 'step' | 'tier'>;
  /** Tiered inference: hard examples / inferences of each tier so far (Sedna's uploadCloudRatio). */
  readonly tierUploadRatio: Gauge<'workflow' | 'step' | 'tier'>;

  /** Training epochs finished, by model (the name registered) and node. */
  readonly trainingEpochs: Counter<'model' | 'node'>;
  /** Mean loss of the last training epoch. */
  readonly trainingLoss: Gauge<'model' | 'node'>;
  /** Accuracy of the last epoch (`set` training) or of the result on its validation set (`set` validation). */
  readonly trainingAccuracy: Gauge<'model' | 'node' | 'set'>;
  /** Trainings that went on from a checkpoint. */
  readonly trainingResumes: Counter<'model' | 'node'>;
  /** Duration of one training epoch. */
  readonly trainingEpochDuration: Histogram<'model' | 'node'>;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.defaultLabels) this.registry.setDefaultLabels(options.defaultLabels);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    this.workflowRuns = new Counter({
      name: 'yunbian_workflow_runs_total',
      help: 'Workflow runs that reached a final status, by workflow and status.',
      labelNames: ['workflow', 'status'],
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'yunbian_step_duration_seconds',
      help: 'Duration of one step attempt from dispatch to reply, error or timeout, by service, node and outcome (ok or the error code).',
      labelNames: ['service', 'node', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.placementDecisions = new Counter({
      name: 'yunbian_placement_decisions_total',
      help: 'Placement decisions, by strategy and outcome (placed or unsatisfiable).',
      labelNames: ['strategy', 'outcome'],
      registers,
    });
    this.instanceQueueDepth = new Gauge({
      name: 'yunbian_instance_queue_depth',
      help: "Requests waiting beyond an instance's concurrency, as last reported by its agent.",
      labelNames: ['service', 'node', 'instance'],
      registers,
    });
    this.inferenceDuration = new Histogram({
      name: 'yunbian_inference_duration_seconds',
      help: 'Duration of one model execution (one batch), by model (name@version) and node.',
      labelNames: ['model', 'node'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.inferenceBatchSize = new Histogram({
      name: 'yunbian_inference_batch_size',
      help: 'Inputs per model execution, by model (name@version) and node.',
      labelNames: ['model', 'node'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.heartbeatLag = new Histogram({
      name: 'yunbian_heartbeat_lag_seconds',
      help: 'Time from an agent sending a heartbeat to the orchestrator receiving it, by node (includes clock skew).',
      labelNames: ['node'],
      buckets: HEARTBEAT_LAG_BUCKETS_SECONDS,
      registers,
    });
    this.triggerFires = new Counter({
      name: 'yunbian_workflow_trigger_fires_total',
      help: 'Events of workflow triggers (messages, schedule fires), by workflow, trigger, kind and outcome: started (a run), duplicate (its run existed: a redelivery), dropped (concurrency bound reached) or failed.',
      labelNames: ['workflow', 'trigger', 'kind', 'outcome'],
      registers,
    });
    this.siteRunsStarted = new Counter({
      name: 'yunbian_site_workflow_runs_started_total',
      help: "Workflow runs site engines started, by site and workflow (from the sites' run facts, each counted once).",
      labelNames: ['site', 'workflow'],
      registers,
    });
    this.siteRuns = new Counter({
      name: 'yunbian_site_workflow_runs_total',
      help: "Workflow runs site engines finished, by site, workflow and status (from the sites' run facts, each counted once).",
      labelNames: ['site', 'workflow', 'status'],
      registers,
    });
    this.siteStepDuration = new Histogram({
      name: 'yunbian_site_step_duration_seconds',
      help: "Step attempts of runs site engines finished, by site, service, node and outcome (from the sites' run facts).",
      labelNames: ['site', 'service', 'node', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    const tierLabels = ['workflow', 'step', 'tier'];
    this.tierInferences = new Counter({
      name: 'yunbian_tier_inferences_total',
      help: "Samples a tier of a tiered step answered (Sedna's inferenceNumber), by workflow, step and tier (0 first).",
      labelNames: tierLabels,
      registers,
    });
    this.tierHardExamples = new Counter({
      name: 'yunbian_tier_hard_examples_total',
      help: "Samples a tier's hard-example rule sent on to the next tier (Sedna's hardExampleNumber), by workflow, step and tier.",
      labelNames: tierLabels,
      registers,
    });
    this.tierFallbacks = new Counter({
      name: 'yunbian_tier_fallbacks_total',
      help: 'Hard samples a tier answered after all because the tier above was unreachable, by workflow, step and tier.',
      labelNames: tierLabels,
      registers,
    });
    this.tierUploadRatio = new Gauge({
      name: 'yunbian_tier_upload_ratio',
      help: "Share of a tier's samples sent on to the next tier so far, hard examples / inferences (Sedna's uploadCloudRatio), by workflow, step and tier.",
      labelNames: tierLabels,
      registers,
    });
    this.trainingEpochs = new Counter({
      name: 'yunbian_training_epochs_total',
      help: 'Training epochs finished, by model (the name it registers) and node.',
      labelNames: ['model', 'node'],
      registers,
    });
    this.trainingLoss = new Gauge({
      name: 'yunbian_training_loss',
      help: 'Mean cross-entropy of the last training epoch, by model and node.',
      labelNames: ['model', 'node'],
      registers,
    });
    this.trainingAccuracy = new Gauge({
      name: 'yunbian_training_accuracy',
      help: 'Accuracy of the last epoch on its training samples (set="training") or of the result on its validation set (set="validation").',
      labelNames: ['model', 'node', 'set'],
      registers,
    });
    this.trainingResumes = new Counter({
      name: 'yunbian_training_resumes_total',
      help: 'Trainings that went on from a checkpoint (a worker was lost mid-training), by model and node.',
      labelNames: ['model', 'node'],
      registers,
    });
    this.trainingEpochDuration = new Histogram({
      name: 'yunbian_training_epoch_duration_seconds',
      help: 'Wall time of one training epoch, by model and node.',
      labelNames: ['model', 'node'],
      buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
  }

  /** The Content-Type of `render()`'s text (Prometheus exposition format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The `/metrics` page. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

let shared: YunbianMetrics | undefined;

/**
 * The process's metrics, created on first call (with these options; later calls ignore
 * theirs). The engine, placement and inference code record here; `/metrics` renders it.
 */
export function yunbianMetrics(options?: MetricsOptions): YunbianMetrics {
  shared ??= new YunbianMetrics(options);
  return shared;
}

/** A node:http / Express handler answering GET /metrics (mount it on that path). */
export function metricsRequestListener(
  metrics: YunbianMetrics,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET /metrics\n');
      return;
    }
    metrics.render().then(
      (body) => {
        response.writeHead(200, { 'content-type': metrics.contentType });
        response.end(request.method === 'HEAD' ? undefined : body);
      },
      (err: Error) => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${err.message}\n`);
      },
    );
  };
}

export interface MetricsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on its own port, for processes without an HTTP server of their own
 * (the agent). Port 0 picks a free one.
 */
export async function startMetricsServer(
  metrics: YunbianMetrics,
  options: { port: number; host?: string },
): Promise<MetricsServer> {
  const handle = metricsRequestListener(metrics);
  const server = http.createServer((request, response) => {
    if (new URL(request.url ?? '/', 'http://metrics').pathname === '/metrics') return handle(request, response);
    response.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
  });
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) =>
      reject(new Error(`cannot serve metrics on ${host}:${options.port}: ${err.message}`)),
    );
    server.listen(options.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/metrics`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
