import { Inject } from '@nestjs/common';
import { JsonLogger } from '@yunbian/common';
import type { RecipeResult } from '@yunbian/compression';
import {
  Subjects,
  type CanaryOp,
  type CanaryStarted,
  type CompressOp,
  type CompressionReport,
  type DatasetPrivacy,
  type LatencyProfileOptions,
  type CompressResult,
  type ConcludeOp,
  type Concluded,
  type EvaluateOp,
  type EvaluationData,
  type EvaluationReport,
  type ModelOpsRequest,
  type PromotionDecision,
  type PromotionRules,
  type RetireInstancesCommand,
  type RetireInstancesReply,
  type VersionFigures,
  type ServeModelCommand,
  type ServeModelReply,
  type ServeOp,
  type SetAliasCommand,
  type SetAliasReply,
  type WatchOp,
} from '@yunbian/contracts';
import {
  compressionDeltas,
  decidePromotion,
  earlyRollback,
  fetchDataset,
  fetchModel,
  openLiveFigures,
  promotionRules,
  readLiveFigures,
  registerOverNats,
  windowFigures,
  type ModelMeta,
} from '@yunbian/models';
import { YunbianService, type CallContext, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { actorOf, classificationReport, median, quietFor, remainingMs, type RequestCount } from './model-ops';

const OPS = ['evaluate', 'compress', 'serve', 'canary', 'watch', 'conclude'] as const;
/** The longest window a watch waits (its step's timeoutMs must cover it). */
const MAX_WINDOW_MS = 10 * 60_000;
/** After the alias stops routing to a rolled-back canary, its instances are stopped this much later. */
const RETIRE_GRACE_MS = 2_000;
/** The old stable is drained when its request count stood still this long (4 of its instances' 500 ms writes). */
const DRAIN_QUIET_MS = 2_000;
/** How long the old stable may go on answering after the alias moved before it is left running. */
const DRAIN_TIMEOUT_MS = 30_000;
/** How often a watch reads the live figures (the early rules look each time). */
const WATCH_POLL_MS = 2_500;
/**
 * A compressed version's registration: the registry times it on one node per class first (up
 * to 3 classes × the node's profile bound, 120 s by default, + 10 s); within the compress
 * step's timeoutMs (600 s in workflows/promote.yaml).
 */
const REGISTER_TIMEOUT_MS = 540_000;

/* eslint-disable @typescript-eslint/no-require-imports */
/** Loaded on use, not at import: agents read every service file just to list them (onnxruntime, tfjs). */
const lazy = {
  compression: () => require('@yunbian/compression') as typeof import('@yunbian/compression'),
  inference: () => require('@yunbian/inference') as typeof import('@yunbian/inference'),
  learning: () => require('@yunbian/learning') as typeof import('@yunbian/learning'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

interface Samples {
  count: number;
  shape: number[];
  images: Float32Array;
  labels?: Uint8Array;
  label: string;
  privacy: DatasetPrivacy;
}

/**
 * Model operations a workflow calls over NATS to promote a version by canary: `evaluate` a
 * version on labelled samples (accuracy, per class, loss, latency, with onnxruntime),
 * `compress` it (`int8`, `prune` from @yunbian/compression; registered as a derived version
 * through `yb.cmd.models.register`), `serve` it beside the stable instances, set the
 * `canary` split, `watch` the live figures of canary and stable over a window and decide,
 * and `conclude` (promote: stable moves; roll back: stable stays, the canary's instances
 * stop), recording the decision on the candidate version. Alias changes name the run as
 * actor (`workflow:<name>/run:<id>`).
 */
@YunbianService({
  name: 'model-ops',
  version: '1.0.0',
  kind: 'data',
  description:
    'Evaluate, compress, serve, canary, watch live figures and promote or roll back model versions (promotion workflows)',
  input: {
    type: 'object',
    required: ['op'],
    properties: { op: { enum: [...OPS] } },
  },
  requirements: { memoryMb: 512 },
  // A watch waits a whole window: several runs may watch at once.
  concurrency: 8,
  computeProfile: { defaultMs: 2_000 },
})
export class ModelOpsService implements ServiceHandler<ModelOpsRequest> {
  private readonly logger = new JsonLogger('model-ops');

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async handle(request: ModelOpsRequest, context: CallContext): Promise<unknown> {
    switch (request.op) {
      case 'evaluate':
        return this.evaluate(request);
      case 'compress':
        return this.compress(request);
      case 'serve':
        return this.serve(request, context);
      case 'canary':
        return this.canary(request, context);
      case 'watch':
        return this.watch(request, context);
      case 'conclude':
        return this.conclude(request);
    }
  }

  private need(request: object, fields: string[]): void {
    const missing = fields.filter((f) => (request as Record<string, unknown>)[f] === undefined);
    if (missing.length)
      throw new YunbianError(
        'VALIDATION_FAILED',
        `model-ops ${(request as { op: string }).op}: missing ${missing.map((f) => `/${f}`).join(', ')} (needs ${fields.join(', ')})`,
        { issues: missing.map((f) => ({ pointer: `/${f}`, message: 'is required' })) },
      );
  }

  private async samples(data: EvaluationData, at: string): Promise<Samples> {
    if (data && 'digits' in data) {
      const learning = lazy.learning();
      const split = learning.DIGITS_SPLIT[data.digits.part];
      if (!split)
        throw new YunbianError('VALIDATION_FAILED', `${at}/digits/part must be public, edge or heldOut`, {
          pointer: `${at}/digits/part`,
        });
      const from = split.from + (data.digits.from ?? 0);
      const to = data.digits.to !== undefined ? split.from + data.digits.to : split.to;
      if (!(from >= split.from && to <= split.to && from < to))
        throw new YunbianError(
          'VALIDATION_FAILED',
          `${at}/digits: from/to must lie within the ${data.digits.part} part (0–${split.to - split.from})`,
          { pointer: `${at}/digits` },
        );
      const d = learning.sliceDigits(learning.loadDigits(), from, to);
      return {
        count: d.count,
        shape: [1, 28, 28],
        images: d.images,
        labels: d.labels,
        label: `digits [${from}, ${to})`,
        privacy: 'public',
      };
    }
    if (data && 'dataset' in data) {
      const { meta, samples } = await fetchDataset(this.transport, data.dataset).catch((err: unknown) => {
        throw new YunbianError('NOT_FOUND', `${at}/dataset: ${(err as Error).message}`, { pointer: `${at}/dataset` });
      });
      return { ...samples, label: `dataset ${meta.name}`, privacy: meta.privacy };
    }
    throw new YunbianError(
      'VALIDATION_FAILED',
      `${at} must be {"digits": {"part": "heldOut"}} or {"dataset": "<name>"}`,
      { pointer: at },
    );
  }

  private async evaluate(request: EvaluateOp): Promise<EvaluationReport> {
    this.need(request, ['model', 'version', 'data']);
    const { meta, bytes } = await fetchModel(this.transport, request.model, request.version);
    const data = await this.samples(request.data, '/data');
    if (!data.labels)
      throw new YunbianError('BAD_REQUEST', `/data: ${data.label} is not labelled; evaluation needs labels`, {
        pointer: '/data',
      });
    const { predictOnnx } = lazy.compression();
    const rows = await predictOnnx(bytes, data);
    const report = classificationReport(rows, data.labels, rows[0]?.length ?? 0);
    const latency = await this.latency(bytes, data, 64);
    this.logger.info('evaluated', {
      model: `${meta.name}@${meta.version}`,
      accuracy: report.accuracy,
      data: data.label,
    });
    return { model: meta.name, version: meta.version, ...report, latency, data: data.label };
  }

  /** Median of 30 executions at batch 1 and 10 at `batch`, after a warm-up, in this worker. */
  private async latency(bytes: Uint8Array, data: Samples, batch: number): Promise<EvaluationReport['latency']> {
    const ort = await import('onnxruntime-node');
    const { MODEL_SESSION_OPTIONS } = lazy.inference();
    const session = await ort.InferenceSession.create(bytes, { ...MODEL_SESSION_OPTIONS });
    const size = data.shape.reduce((a, b) => a * b, 1);
    const n = Math.min(batch, data.count);
    const time = async (count: number, runs: number) => {
      const feed = {
        [session.inputNames[0]]: new ort.Tensor('float32', data.images.slice(0, count * size), [count, ...data.shape]),
      };
      await session.run(feed);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await session.run(feed);
        times.push(performance.now() - t);
      }
      return Math.round(median(times) * 1000) / 1000;
    };
    try {
      return { batch1Ms: await time(1, 30), batch: n, batchMs: await time(n, 10) };
    } finally {
      await session.release();
    }
  }

  /**
   * The recipe and the figures with @yunbian/compression (as `POST …/compress` runs them);
   * the registry then times the result next to its parent on one live node per class and
   * registers it with `derivedFrom` and the whole report.
   */
  private async compress(request: CompressOp): Promise<CompressResult> {
    this.need(request, ['model', 'version', 'recipe']);
    if (request.recipe !== 'int8' && request.recipe !== 'prune')
      throw new YunbianError(
        'VALIDATION_FAILED',
        `/recipe "${String(request.recipe)}" is not run by model-ops; accepted: int8, prune (structured and distill train: POST /models/{name}/versions/{v}/compress)`,
        { pointer: '/recipe' },
      );
    const started = Date.now();
    const { meta, bytes } = await fetchModel(this.transport, request.model, request.version);
    const c = lazy.compression();
    const { sparsity, calibrationSamples, nodeClasses, batchSize, runs } = request.options ?? {};
    const used: Record<string, Samples> = {};
    let result: RecipeResult;
    if (request.recipe === 'int8') {
      used.calibration = await this.samples(
        request.calibration ?? { digits: { part: 'public', to: 500 } },
        '/calibration',
      );
      result = await c.int8Recipe(bytes, used.calibration, { calibrationSamples });
    } else {
      result = c.pruneRecipe(bytes, { sparsity });
    }
    const validation = (used.validation = await this.samples(
      request.validation ?? { digits: { part: 'heldOut' } },
      '/validation',
    ));
    if (!validation.labels)
      throw new YunbianError('BAD_REQUEST', `/validation: ${validation.label} is not labelled`, {
        pointer: '/validation',
      });
    const labelled = { ...validation, labels: validation.labels };
    const parent = await c.modelFigures(bytes, labelled);
    const compressed = await c.modelFigures(result.bytes, labelled);
    const described = (s: Samples) => ({ name: s.label, privacy: s.privacy, samples: s.count });
    const report: Omit<CompressionReport, 'latency'> = {
      recipe: request.recipe,
      options: { ...(request.options ?? {}) },
      parent,
      compressed,
      ...compressionDeltas(parent, compressed),
      validation: { dataset: validation.label, samples: validation.count, privacy: validation.privacy },
      datasets: Object.fromEntries(Object.entries(used).map(([role, s]) => [role, described(s)])),
      ...(result.kernels ? { kernels: result.kernels } : {}),
      details: result.details,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    const registered = await this.register(meta, Buffer.from(result.bytes), request.recipe, report, {
      ...(nodeClasses ? { nodeClasses } : {}),
      ...(batchSize ? { batchSize } : {}),
      ...(runs ? { runs } : {}),
    });
    this.logger.info('compressed', {
      model: `${meta.name}@${meta.version}`,
      to: registered.version,
      recipe: request.recipe,
      size_ratio: report.sizeRatio,
      accuracy_delta_points: report.accuracyDeltaPoints,
    });
    return {
      model: registered.name,
      version: registered.version,
      derivedFrom: registered.derivedFrom!,
      report: registered.compression!,
    };
  }

  /**
   * Stages the bytes and asks the registry to take them as the next version, derived from
   * `parent`, after timing them next to it on the nodes (`profile`).
   */
  private async register(
    parent: ModelMeta,
    bytes: Buffer,
    recipe: 'int8' | 'prune',
    compression: Omit<CompressionReport, 'latency'>,
    profile: LatencyProfileOptions,
  ): Promise<ModelMeta> {
    return registerOverNats(
      this.transport,
      parent.name,
      bytes,
      `${recipe}-of-${parent.version}`,
      { derivedFrom: { name: parent.name, version: parent.version, recipe }, compression, profile },
      REGISTER_TIMEOUT_MS,
    );
  }

  private async serve(request: ServeOp, context: CallContext): Promise<ServeModelReply> {
    this.need(request, ['model', 'version', 'like', 'actor']);
    const command: ServeModelCommand = {
      model: request.model,
      version: request.version,
      like: request.like,
      actor: actorOf(request.actor, context.idempotencyKey),
      ...(request.config ? { config: request.config } : {}),
    };
    return this.transport.request<ServeModelReply>(Subjects.modelServe, command, { timeoutMs: 150_000 });
  }

  private async canary(request: CanaryOp, context: CallContext): Promise<CanaryStarted> {
    this.need(request, ['model', 'stable', 'canary', 'share', 'actor']);
    const kv = await openLiveFigures(this.transport);
    // The baseline first: whatever is counted after it is in the window.
    const baseline = await readLiveFigures(kv, request.model);
    const startedAt = new Date().toISOString();
    const command: SetAliasCommand = {
      model: request.model,
      alias: 'stable',
      version: request.stable,
      canary: { version: request.canary, share: request.share },
      actor: actorOf(request.actor, context.idempotencyKey),
    };
    const { alias } = await this.transport.request<SetAliasReply>(Subjects.modelAlias, command, { timeoutMs: 30_000 });
    return { alias, startedAt, baseline };
  }

  private async watch(request: WatchOp, context: CallContext): Promise<PromotionDecision> {
    this.need(request, ['model', 'stable', 'canary', 'startedAt', 'baseline', 'windowMs', 'actor']);
    if (!(request.windowMs > 0 && request.windowMs <= MAX_WINDOW_MS))
      throw new YunbianError('VALIDATION_FAILED', `/windowMs must be 1 to ${MAX_WINDOW_MS} ms`, {
        pointer: '/windowMs',
      });
    const rules = promotionRules(request.rules);
    if (Array.isArray(rules))
      throw new YunbianError(
        'VALIDATION_FAILED',
        `model-ops watch: ${rules.map((i) => `${i.pointer} ${i.message}`).join('; ')}`,
        { issues: rules },
      );
    const kv = await openLiveFigures(this.transport);
    const figures = async () => {
      const now = await readLiveFigures(kv, request.model);
      return {
        stable: windowFigures(request.model, request.stable, now, request.baseline),
        canary: windowFigures(request.model, request.canary, now, request.baseline),
      };
    };
    // A retried attempt waits only for what is left of the same window.
    for (let left = remainingMs(request.startedAt, request.windowMs, Date.now()); left > 0;) {
      await new Promise((r) => setTimeout(r, Math.min(left, WATCH_POLL_MS)));
      left = remainingMs(request.startedAt, request.windowMs, Date.now());
      const { stable, canary } = await figures();
      this.logger.info('canary window', {
        model: request.model,
        canary: request.canary,
        left_ms: left,
        canary_labelled: canary.labelled,
        canary_accuracy: canary.accuracy,
      });
      const early = earlyRollback(stable, canary, rules);
      if (early)
        return this.decision(request, context, rules, stable, canary, {
          outcome: 'rolled-back',
          reason: `rolled back early: ${early.detail}`,
          checks: [early],
        });
    }
    // The instances write their counters every 500 ms: the last of the window is in after a second.
    await new Promise((r) => setTimeout(r, 1_000));
    const { stable, canary } = await figures();
    return this.decision(request, context, rules, stable, canary, decidePromotion(stable, canary, rules));
  }

  private decision(
    request: WatchOp,
    context: CallContext,
    rules: Required<PromotionRules>,
    stable: VersionFigures,
    canary: VersionFigures,
    verdict: Pick<PromotionDecision, 'outcome' | 'reason' | 'checks'>,
  ): PromotionDecision {
    const decidedAt = new Date().toISOString();
    const ms = Date.parse(decidedAt) - Date.parse(request.startedAt);
    const early = verdict.checks.some((c) => c.rule.startsWith('early-'));
    return {
      model: request.model,
      stableVersion: request.stable,
      canaryVersion: request.canary,
      ...verdict,
      rules,
      window: { from: request.startedAt, to: decidedAt, ms },
      ...(early ? { early: { plannedWindowMs: request.windowMs, afterMs: ms } } : {}),
      stable,
      canary,
      actor: actorOf(request.actor, context.idempotencyKey),
      decidedAt,
    };
  }

  private async conclude(request: ConcludeOp): Promise<Concluded> {
    this.need(request, ['decision']);
    const d = request.decision;
    const promoted = d.outcome === 'promoted';
    const command: SetAliasCommand = {
      model: d.model,
      alias: 'stable',
      version: promoted ? d.canaryVersion : d.stableVersion,
      actor: d.actor,
      decision: d,
    };
    const { alias } = await this.transport.request<SetAliasReply>(Subjects.modelAlias, command, { timeoutMs: 30_000 });
    let retired: string[] = [];
    let retiredOld: Concluded['retiredOld'];
    if (!promoted && request.started?.length) {
      // Engines apply the alias from their watch; requests drawn to the canary just before finish first.
      await new Promise((r) => setTimeout(r, RETIRE_GRACE_MS));
      retired = await this.retire({ instances: request.started, actor: d.actor });
    } else if (promoted && request.retireOld) {
      retiredOld = await this.retireOld(d);
      retired = retiredOld.instances;
    }
    this.logger.info(`canary ${d.outcome}`, { model: d.model, stable: alias.version, reason: d.reason, retired });
    return { decision: d, alias, retired, ...(retiredOld ? { retiredOld } : {}) };
  }

  private async retire(command: RetireInstancesCommand): Promise<string[]> {
    return (await this.transport.request<RetireInstancesReply>(Subjects.modelRetire, command, { timeoutMs: 30_000 }))
      .retired;
  }

  /**
   * After a promotion: once the engines have applied the alias (RETIRE_GRACE_MS) and the old
   * stable's request count has stood still for DRAIN_QUIET_MS — nothing in flight to it —, the
   * registry drains and stops every instance serving it (and refuses while another alias still
   * routes there). A version still answering requests after DRAIN_TIMEOUT_MS (a caller pinning
   * `model@version`) is left running, and the answer says so.
   */
  private async retireOld(d: PromotionDecision): Promise<NonNullable<Concluded['retiredOld']>> {
    const version = d.stableVersion;
    await new Promise((r) => setTimeout(r, RETIRE_GRACE_MS));
    const kv = await openLiveFigures(this.transport);
    const counts: RequestCount[] = [];
    const since = Date.now();
    for (;;) {
      const readings = await readLiveFigures(kv, d.model, version);
      counts.push({ at: Date.now(), requests: windowFigures(d.model, version, readings, []).requests });
      if (quietFor(counts, DRAIN_QUIET_MS)) break;
      if (Date.now() - since > DRAIN_TIMEOUT_MS) {
        const recent = counts.filter((c) => c.at >= Date.now() - DRAIN_QUIET_MS);
        const answered = counts[counts.length - 1].requests - recent[0].requests;
        return {
          version,
          instances: [],
          drained: false,
          detail: `not retired: ${d.model}@${version} still answered requests ${DRAIN_TIMEOUT_MS} ms after the alias moved (${answered} in the last ${DRAIN_QUIET_MS} ms); something addresses it by version — stop its instances when that has moved`,
        };
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const instances = await this.retire({ serving: { model: d.model, version }, actor: d.actor });
    return {
      version,
      instances,
      drained: true,
      detail: `${d.model}@${version} answered no request for ${DRAIN_QUIET_MS} ms after the alias moved; ${instances.length} instance(s) drained and stopped`,
    };
  }
}
