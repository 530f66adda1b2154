import os from 'node:os';
import path from 'node:path';
import { Inject, type OnModuleInit } from '@nestjs/common';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import {
  DynamicBatcher,
  MODEL_SESSION_OPTIONS,
  namedFromWire,
  namedToWire,
  type BatchedResult,
  type BatchingOptions,
  type AnyWireTensor,
  type NamedTensors,
  type WireTensor,
} from '@yunbian/inference';
import type { ServedModel } from '@yunbian/contracts';
import {
  allowedLocalFile,
  ALLOWED_MODEL_DIRS_SETTING,
  LiveFiguresRecorder,
  ModelCache,
  parseAllowedModelDirs,
  readModelMeta,
  rowStats,
} from '@yunbian/models';
import { defaultModelPaths } from '@yunbian/ocr';
import { withSpan, yunbianMetrics } from '@yunbian/observability';
import { INSTANCE_CONFIG, YunbianService, type CallContext, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport, YunbianError } from '@yunbian/transport';

/** Instance settings (`POST /instances` `config`). */
export interface OnnxInferenceConfig {
  /** A registered model: `name` (latest) or `name@version`… */
  model?: string;
  /** …or a model file already on the node. */
  modelPath?: string;
  maxBatch?: number;
  maxDelayMs?: number;
  maxQueue?: number;
  intraOpThreads?: number;
  /** OCR recognition: the character dictionary (defaults to the one shipped with the models). */
  dictionaryPath?: string;
}

interface InferenceInput {
  inputs: Record<string, AnyWireTensor>;
  /**
   * Feedback for the live figures: the true class of each row of the batch (null for a row
   * without one). The answer is the same with or without; the instance counts its hits.
   */
  labels?: (number | null)[];
}

/**
 * Directories whose files instance configs may name (`modelPath`, `dictionaryPath`): the
 * node's `YUNBIAN_ALLOWED_MODEL_DIRS` (the agent checked it at start; workers inherit its
 * environment) and the packaged OCR models.
 */
export function allowedModelDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...parseAllowedModelDirs(env[ALLOWED_MODEL_DIRS_SETTING]), path.dirname(defaultModelPaths().dictionary)];
}

/**
 * One ONNX model in an instance: loading (from the registry through the node's
 * sha256-checked cache, or a local file), warm-up, and batched execution. Services that
 * serve one model (OCR detection, recognition) extend it with their own `handle`.
 */
export abstract class OnnxModelService implements OnModuleInit {
  protected session!: InferenceSession;
  private batcher!: DynamicBatcher;
  protected modelName = 'model';
  /** The registry version loaded; undefined for a `modelPath` file (not addressable by model). */
  private served?: ServedModel;
  private ort!: typeof import('onnxruntime-node');

  constructor(
    @Inject(INSTANCE_CONFIG) protected readonly config: OnnxInferenceConfig,
    @Inject(NatsTransport) protected readonly transport: NatsTransport,
  ) {}

  /** The registered model used when the instance config names none (subclasses serve one model). */
  protected defaultModel(): string | undefined {
    return undefined;
  }

  async onModuleInit(): Promise<void> {
    // Loaded here, not at import: agents read every service file just to list them.
    this.ort = await import('onnxruntime-node');
    const loaded = await this.load(this.config);
    this.session = loaded.session;
    this.modelName = loaded.modelName;
    this.served = loaded.served;
    const defaults = this.batchingDefaults();
    this.batcher = new DynamicBatcher((inputs) => this.executeBatch(inputs), {
      maxBatch: this.config.maxBatch ?? defaults.maxBatch,
      maxDelayMs: this.config.maxDelayMs ?? defaults.maxDelayMs,
      maxQueue: this.config.maxQueue ?? defaults.maxQueue,
    });
  }

  /** What the instance announces it serves (see `ServiceHandler.servedModel`). */
  servedModel(): ServedModel | undefined {
    return this.served;
  }

  /** Threads per execution unless the instance config says otherwise. */
  protected defaultIntraOpThreads(): number {
    return 1;
  }

  /** Batching settings the instance config does not override (subclasses tune them for their model). */
  protected batchingDefaults(): BatchingOptions {
    return { maxBatch: 8, maxDelayMs: 5, maxQueue: 256 };
  }

  /**
   * Hot swap: loads and warms up the model the new settings name while the current one
   * keeps serving, then switches; batches already running finish on the old session.
   */
  async reconfigure(settings: Record<string, unknown>): Promise<{ model: string; previous: string }> {
    const next = { ...this.config, ...settings } as OnnxInferenceConfig;
    if (settings.model !== undefined) delete next.modelPath;
    const loaded = await this.load(next);
    const previous = { session: this.session, modelName: this.modelName };
    this.session = loaded.session;
    this.modelName = loaded.modelName;
    this.served = loaded.served;
    Object.assign(this.config, next);
    // A batch may still be running on the old session; release it once that is surely over.
    setTimeout(() => void previous.session.release().catch(() => undefined), 60_000).unref();
    return { model: loaded.modelName, previous: previous.modelName };
  }

  /** Pulls (through the node's cache), loads and warms up a model; nothing changes on failure. */
  private async load(
    config: OnnxInferenceConfig,
  ): Promise<{ session: InferenceSession; modelName: string; served?: ServedModel }> {
    const { file, modelName, served } = await this.modelFile(config);
    let session: InferenceSession;
    try {
      // The options the registry inspected the model with (MODEL_SESSION_OPTIONS).
      session = await this.ort.InferenceSession.create(file, {
        ...MODEL_SESSION_OPTIONS,
        intraOpNumThreads: config.intraOpThreads ?? this.defaultIntraOpThreads(),
      });
    } catch (err) {
      throw new YunbianError(
        'BAD_REQUEST',
        `model ${modelName} could not be loaded by onnxruntime: ${(err as Error).message}`,
      );
    }
    await this.warmUp(session, modelName);
    return { session, modelName, served };
  }

  private async modelFile(
    config: OnnxInferenceConfig,
  ): Promise<{ file: string; modelName: string; served?: ServedModel }> {
    if (config.modelPath !== undefined) {
      const file = await allowedLocalFile(config.modelPath, 'modelPath', allowedModelDirs());
      return { file, modelName: path.basename(file) };
    }
    const model = config.model ?? this.defaultModel();
    if (!model) {
      throw new YunbianError(
        'BAD_REQUEST',
        'onnx-inference needs instance config "model" (a registered name[@version]) or "modelPath"',
      );
    }
    const [name, versionText] = model.split('@');
    const version = versionText ? Number(versionText) : undefined;
    // Every version is checked against the registry's signature before it is loaded.
    const cache = ModelCache.overNatsVerified(this.transport, {
      directory:
        process.env.YUNBIAN_MODEL_CACHE_DIR ??
        path.join(os.tmpdir(), 'yunbian-models', process.env.YUNBIAN_NODE_ID ?? 'node'),
      maxBytes: Number(process.env.YUNBIAN_MODEL_CACHE_BYTES ?? 2 * 1024 ** 3),
    });
    // With the registry unreachable (a site's uplink cut), the record kept when this node last served the model.
    const meta = await cache.resolve(name, version, () => readModelMeta(this.transport, name, version));
    // The cache checks the sha256 against the registry before handing out the file.
    return {
      file: await cache.ensure(meta),
      modelName: `${meta.name}@${meta.version}`,
      served: { name: meta.name, version: meta.version, sha256: meta.sha256 },
    };
  }

  /** One run with small inputs of the model's shapes (dynamic dimensions as 1, or 32 for spatial ones). */
  private async warmUp(session: InferenceSession, modelName: string): Promise<void> {
    const inputs: NamedTensors = {};
    for (const meta of session.inputMetadata) {
      if (!meta.isTensor) continue;
      const dims = meta.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : 32));
      inputs[meta.name] = { dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) };
    }
    try {
      await this.execute(inputs, session);
    } catch (err) {
      throw new YunbianError('BAD_REQUEST', `warm-up of ${modelName} failed: ${(err as Error).message}`);
    }
  }

  /** One batch, timed for the inference metrics (reported to the agent's /metrics). */
  private async executeBatch(inputs: NamedTensors): Promise<NamedTensors> {
    const started = performance.now();
    const outputs = await this.execute(inputs);
    const labels = { model: this.modelName, node: process.env.YUNBIAN_NODE_ID ?? 'unknown' };
    const metrics = yunbianMetrics();
    metrics.inferenceDuration.observe(labels, (performance.now() - started) / 1000);
    metrics.inferenceBatchSize.observe(labels, Object.values(inputs)[0]?.dims[0] ?? 1);
    return outputs;
  }

  private async execute(inputs: NamedTensors, session = this.session): Promise<NamedTensors> {
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = new this.ort.Tensor('float32', t.data, t.dims);
    const results = await session.run(feeds);
    const outputs: NamedTensors = {};
    for (const [name, t] of Object.entries(results)) {
      outputs[name] = { dims: [...t.dims], data: t.data as Float32Array };
    }
    return outputs;
  }

  /** Checks the input names, then runs them through the batcher inside an inference span. */
  protected async infer(inputs: NamedTensors): Promise<BatchedResult> {
    for (const name of Object.keys(inputs)) {
      if (!this.session.inputNames.includes(name)) {
        throw new YunbianError(
          'BAD_REQUEST',
          `model ${this.modelName} has no input "${name}"; its inputs are ${this.session.inputNames.join(', ')}`,
          {
            pointer: `/inputs/${name}`,
          },
        );
      }
    }
    return withSpan(`inference ${this.modelName}`, { 'yunbian.model': this.modelName }, async (span) => {
      const r = await this.batcher.submit(inputs);
      span.setAttribute('yunbian.inference.batch_size', r.batchSize);
      span.setAttribute('yunbian.inference.run', r.run);
      return r;
    });
  }
}

/**
 * Serves one ONNX model per instance: named float32 tensors in and out (base64 bytes, not
 * JSON number arrays; inputs may also come narrowed to float16 or int8, decoded to float32 here), dynamic batching along dimension 0, a warm-up run before the
 * instance reports ready. A model onnxruntime cannot load fails the instance with
 * onnxruntime's own message.
 */
@YunbianService({
  name: 'onnx-inference',
  version: '1.0.0',
  kind: 'inference',
  description: 'Runs one ONNX model (instance config: model or modelPath) with dynamic batching',
  input: {
    type: 'object',
    required: ['inputs'],
    additionalProperties: false,
    properties: {
      inputs: {
        type: 'object',
        minProperties: 1,
        additionalProperties: {
          type: 'object',
          // float32 bytes under `float32`, or a narrowed dtype's under `data` (wire.ts); an
          // unknown dtype is refused by the reader, naming the tensor and the accepted ones.
          required: ['dims'],
          properties: {
            dims: { type: 'array', items: { type: 'integer', minimum: 1 } },
            dtype: { type: 'string' },
            float32: { type: 'string' },
            data: { type: 'string' },
            scale: { type: 'number' },
            zeroPoint: { type: 'integer' },
          },
        },
      },
      // True labels, one per row (or null): counted in the live figures of the version served, and
      // kept with the hard examples of a tiered step with `collect`; the answer is the same without.
      labels: { type: 'array', items: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] } },
    },
  },
  requirements: { memoryMb: 512 },
  // The batcher bounds the real work; the host only needs to let a batch's worth in.
  concurrency: 256,
})
export class OnnxInferenceService extends OnnxModelService implements ServiceHandler<InferenceInput> {
  private live?: LiveFiguresRecorder;

  async handle(
    input: InferenceInput,
    context: CallContext,
  ): Promise<{ outputs: Record<string, WireTensor>; batchSize: number; run: number }> {
    const started = performance.now();
    const served = this.servedModel();
    // Live figures per served version (yb-model-live), for canary comparisons; a modelPath file has none.
    if (served) {
      this.live ??= new LiveFiguresRecorder(this.transport, context.instanceId, context.nodeId);
      this.live.serving(served.name, served.version);
    }
    try {
      const inputs = namedFromWire(input.inputs);
      const rows = Object.values(inputs)[0]?.dims[0] ?? 0;
      if (input.labels && input.labels.length !== rows) {
        throw new YunbianError(
          'BAD_REQUEST',
          `labels has ${input.labels.length} entries but the batch has ${rows} rows; give one label (or null) per row`,
          { pointer: '/labels' },
        );
      }
      const result = await this.infer(inputs);
      const [first] = Object.values(result.outputs);
      if (served) {
        this.live!.record(
          performance.now() - started,
          rowStats(first?.data ?? [], first?.dims ?? [rows], input.labels),
        );
      }
      return { outputs: namedToWire(result.outputs), batchSize: result.batchSize, run: result.run };
    } catch (err) {
      if (served) this.live!.record(performance.now() - started);
      throw err;
    }
  }
}
