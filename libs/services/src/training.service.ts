import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Inject } from '@nestjs/common';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { JsonLogger } from '@yunbian/common';
import {
  CLOUD_SAMPLE_SCOPE,
  domainBucket,
  SAMPLE_STREAM,
  sampleSubject,
  type CollectedSample,
  PAYLOAD_DOMAIN_HEADER,
  TRAINING_CHECKPOINT_BUCKET,
  type TrainingData,
  type TrainingDataRecord,
  type TrainingEpochRecord,
  type TrainingLineage,
  type TrainingRequest,
  type TrainingResult,
} from '@yunbian/contracts';
import type { CnnSpec, CnnWeights, Digits, TrainCheckpoint } from '@yunbian/learning';
import { fetchDataset, fetchModel, registerOverNats, sha256Hex, type ModelMeta } from '@yunbian/models';
import { yunbianMetrics } from '@yunbian/observability';
import { YunbianService, type CallContext, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import {
  TRAINING_REQUEST_SCHEMA,
  checkpointKeyOf,
  hyperParameters,
  parseModelRef,
  resolveDigitsData,
  trainingRequestIssues,
} from './training-request';

type Learning = typeof import('@yunbian/learning');

/** How long a checkpoint is kept when its step never finishes (a finished step deletes its own). */
const CHECKPOINT_MAX_AGE_NS = 7 * 24 * 3600 * 1e9;

/**
 * Trains or fine-tunes a digits CNN with tfjs (wasm backend, one thread) in the worker,
 * exports it to ONNX, evaluates it on a validation set with onnxruntime, and registers it as
 * the next version of a model with its lineage (parent, datasets, hyper-parameters, metrics)
 * through the registry's NATS API. After every epoch a checkpoint (weights, Adam state,
 * generator position) goes to the object store `yb-training-checkpoints` in the domain of the
 * data — the calling site engine's for a run at a site — keyed by run and step, so the
 * attempt that follows a killed worker resumes where the last epoch ended.
 *
 * tfjs runs one batch at a time and yields between batches, so the worker's event loop
 * keeps answering (the longest pause is reported); the node's heartbeats come from its agent,
 * another process.
 */
@YunbianService({
  name: 'training',
  version: '1.0.0',
  kind: 'training',
  description:
    'Trains or fine-tunes a digits CNN (tfjs), evaluates it and registers it as a new model version with lineage; checkpoints every epoch',
  input: TRAINING_REQUEST_SCHEMA,
  requirements: { memoryMb: 1024 },
  // One training at a time per instance: a second waits (both would share one core anyway).
  concurrency: 1,
  computeProfile: { defaultMs: 60_000 },
})
export class TrainingService implements ServiceHandler<TrainingRequest, TrainingResult> {
  private readonly logger = new JsonLogger('training');

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async handle(request: TrainingRequest, context: CallContext): Promise<TrainingResult> {
    const issues = trainingRequestIssues(request);
    if (issues.length) {
      throw new YunbianError(
        'VALIDATION_FAILED',
        `training request is invalid: ${issues.map((i) => `${i.pointer} ${i.message}`).join('; ')}`,
        { issues },
      );
    }
    // Loaded here, not at import: agents read every service file just to list them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const learning = require('@yunbian/learning') as Learning;
    const hp = hyperParameters(request.hyperParameters);
    // A site's collection is read in the calling site engine's domain (or checkpointDomain).
    const siteDomain = request.checkpointDomain ?? (context.headers?.get(PAYLOAD_DOMAIN_HEADER) || undefined);
    const training = await Promise.all(
      request.training.map((ref, i) => this.data(learning, ref, `/training/${i}`, siteDomain)),
    );
    const validation = await this.data(learning, request.validation, '/validation', siteDomain);
    const trainSet = concatDigits(training.map((t) => t.digits));
    const edgePrivate = [...training, validation].some((t) => t.record.privacy !== 'public');

    const key = checkpointKeyOf(request, context.idempotencyKey);
    const domain = request.checkpointDomain ?? (context.headers?.get(PAYLOAD_DOMAIN_HEADER) || undefined);
    if (edgePrivate && !domain) {
      throw new YunbianError(
        'BAD_REQUEST',
        'training on edge-private data needs the JetStream domain of its site for the checkpoints: run the step at the site (its site engine names its domain) or give checkpointDomain',
        { pointer: '/checkpointDomain' },
      );
    }

    let parent: { meta: ModelMeta; bytes: Uint8Array } | undefined;
    let initial: CnnWeights | undefined;
    let spec: CnnSpec;
    if (request.base !== undefined) {
      const ref = parseModelRef(request.base)!;
      parent = await fetchModel(this.transport, ref.name, ref.version);
      try {
        initial = learning.onnxToCnn(parent.bytes);
      } catch (err) {
        throw new YunbianError(
          'BAD_REQUEST',
          `base ${parent.meta.name}@${parent.meta.version} cannot be fine-tuned here: ${(err as Error).message}`,
          { pointer: '/base' },
        );
      }
      spec = initial.spec;
    } else {
      const a = request.architecture!;
      spec = typeof a === 'string' ? { ...learning.DIGIT_MODELS[a] } : a;
      spec = { conv: [...spec.conv], dense: [...spec.dense] };
    }

    const fingerprint = sha256Hex(
      Buffer.from(
        JSON.stringify({
          parent: parent?.meta.sha256,
          spec,
          training: training.map((t) => t.record),
          hp,
        }),
      ),
    ).slice(0, 16);
    const store = key ? await this.checkpoints(domain) : undefined;
    const objectName = key ? `${key}/${fingerprint}` : undefined;
    let resume: TrainCheckpoint | undefined;
    if (store && objectName) {
      const bytes = await store.getBlob(objectName).catch(() => null);
      if (bytes) resume = learning.decodeCheckpoint(bytes);
    }
    const epochs: TrainingEpochRecord[] = ((resume?.notes?.epochs as TrainingEpochRecord[] | undefined) ?? []).slice();
    const resumedFrom = resume?.epoch ?? 0;
    const model = request.register;
    const labels = { model, node: context.nodeId };
    const metrics = yunbianMetrics();
    if (resume) {
      metrics.trainingResumes.inc(labels);
      this.logger.info(`resumed from epoch ${resumedFrom}`, { model, checkpoint: objectName, domain });
    }
    const total = hp.epochs + (hp.tail?.epochs ?? 0);
    this.logger.info('training started', {
      model,
      base: parent ? `${parent.meta.name}@${parent.meta.version}` : undefined,
      samples: trainSet.count,
      epochs: total,
      from_epoch: resumedFrom,
      checkpoint: objectName,
      domain,
    });

    // The one-off start of the wasm backend is not training: measured from after it.
    await learning.ensureBackend();
    const loop = monitorEventLoopDelay({ resolution: 20 });
    loop.enable();
    let epochStarted = performance.now();
    let writes: Promise<unknown> = Promise.resolve();
    const weights = await learning.trainCnn(
      spec,
      trainSet,
      {
        epochs: hp.epochs,
        learningRate: hp.learningRate,
        batchSize: hp.batchSize,
        seed: hp.seed,
        ...(hp.tail ? { tail: hp.tail } : {}),
        ...(resume ? { resume } : {}),
        onEpoch: (r) => {
          const seconds = (performance.now() - epochStarted) / 1000;
          epochStarted = performance.now();
          epochs.push({ ...r, seconds: Math.round(seconds * 1000) / 1000 });
          metrics.trainingEpochs.inc(labels);
          metrics.trainingLoss.set(labels, r.loss);
          metrics.trainingAccuracy.set({ ...labels, set: 'training' }, r.accuracy);
          metrics.trainingEpochDuration.observe(labels, seconds);
          this.logger.info(`epoch ${r.epoch} of ${total}`, {
            model,
            loss: r.loss,
            accuracy: r.accuracy,
            learning_rate: r.learningRate,
            seconds,
          });
        },
        onCheckpoint: store
          ? async (checkpoint) => {
              const bytes = learning.encodeCheckpoint({ ...checkpoint, notes: { epochs } });
              // Awaited: the next epoch starts once this one is safe.
              writes = store.putBlob(
                { name: objectName!, description: `${model} after epoch ${checkpoint.epoch}` },
                bytes,
              );
              await writes;
              this.logger.info(`checkpoint of epoch ${checkpoint.epoch} stored`, {
                model,
                checkpoint: objectName,
                domain,
              });
            }
          : undefined,
      },
      initial,
    );
    loop.disable();
    await writes;

    const bytes = learning.cnnToOnnx(weights, model);
    const validationAccuracy = await accuracyOnnx(bytes, validation.digits, learning);
    const parentValidationAccuracy = parent ? await accuracyOnnx(parent.bytes, validation.digits, learning) : undefined;
    metrics.trainingAccuracy.set({ ...labels, set: 'validation' }, validationAccuracy);
    const lineage: TrainingLineage = {
      ...(parent
        ? { parent: { name: parent.meta.name, version: parent.meta.version, sha256: parent.meta.sha256 } }
        : {}),
      architecture: { conv: [...spec.conv], dense: [...spec.dense] },
      datasets: { training: training.map((t) => t.record), validation: validation.record },
      hyperParameters: hp,
      metrics: {
        validationAccuracy,
        ...(parentValidationAccuracy !== undefined ? { parentValidationAccuracy } : {}),
        epochs,
      },
      resumedFromEpoch: resumedFrom,
      node: context.nodeId,
      ...(domain ? { checkpointDomain: domain } : {}),
      finishedAt: new Date().toISOString(),
    };
    const meta = await this.register(model, bytes, lineage, key ?? fingerprint);
    if (store && objectName) await store.delete(objectName).catch(() => undefined);
    const eventLoopMaxMs = Math.round(loop.max / 1e5) / 10;
    this.logger.info('training registered', {
      model: `${meta.name}@${meta.version}`,
      validation_accuracy: validationAccuracy,
      parent_accuracy: parentValidationAccuracy,
      epochs_run: total - resumedFrom,
      event_loop_max_ms: eventLoopMaxMs,
    });
    return {
      model: {
        name: meta.name,
        version: meta.version,
        sha256: meta.sha256,
        ...(meta.training?.finishedAt !== lineage.finishedAt ? { existing: true } : {}),
      },
      lineage,
      epochsRun: total - resumedFrom,
      ...(key ? { checkpoint: { key, ...(domain ? { domain } : {}) } } : {}),
      eventLoopMaxMs,
    };
  }

  /**
   * The checkpoint store in `domain` (the worker's own JetStream when none): a site's is named
   * after it (`yb-training-checkpoints-<site>`), so no bucket on the hub captures its chunks and
   * the site's leaf connection does not export them.
   */
  private async checkpoints(domain: string | undefined): Promise<ObjectStore> {
    const js = domain ? jetstream(this.transport.connection, { domain }) : this.transport.jetstream();
    const bucket = domainBucket(TRAINING_CHECKPOINT_BUCKET, domain, this.transport.jetStreamDomain);
    try {
      return await new Objm(js).create(bucket, {
        description: 'training checkpoints by run and step',
        ttl: CHECKPOINT_MAX_AGE_NS,
      });
    } catch (err) {
      throw new YunbianError(
        'UNAVAILABLE',
        `the checkpoint store ${bucket} in JetStream domain ${domain ?? '(default)'} cannot be opened: ${(err as Error).message}`,
      );
    }
  }

  /** Stages the bytes in the registry's domain and asks the registry to take them. */
  private register(name: string, bytes: Buffer, training: TrainingLineage, key: string): Promise<ModelMeta> {
    return registerOverNats(this.transport, name, bytes, key, { training }, 120_000);
  }

  /** The samples of one data reference and what the lineage says of them. */
  private async data(
    learning: Learning,
    ref: TrainingData,
    at: string,
    siteDomain: string | undefined,
  ): Promise<{ digits: Digits; record: TrainingDataRecord }> {
    if ('samples' in ref) return readCollection(this.transport, ref.samples, at, siteDomain);
    if ('digits' in ref) {
      const resolved = resolveDigitsData(ref.digits, at);
      if (Array.isArray(resolved))
        throw new YunbianError('VALIDATION_FAILED', resolved[0].message, { issues: resolved });
      const plain = learning.sliceDigits(learning.loadDigits(), resolved.from, resolved.to);
      const digits = resolved.shift ? learning.shiftDigits(plain, resolved.shift) : plain;
      return {
        digits,
        record: {
          label: resolved.label,
          privacy: resolved.privacy,
          count: digits.count,
          digits: {
            from: resolved.from,
            to: resolved.to,
            ...(resolved.shift ? { shift: resolved.shift as Record<string, number> } : {}),
            ...(resolved.shiftName ? { shiftName: resolved.shiftName } : {}),
          },
        },
      };
    }
    const { meta, samples } = await fetchDataset(this.transport, ref.dataset).catch((err: unknown) => {
      throw new YunbianError('NOT_FOUND', `${at}/dataset: ${(err as Error).message}`, { pointer: `${at}/dataset` });
    });
    if (!samples.labels || samples.shape.join(',') !== '1,28,28') {
      throw new YunbianError(
        'BAD_REQUEST',
        `${at}/dataset: ${meta.name} must be labelled 1×28×28 digits to train a digits CNN (it is ${meta.labelled ? '' : 'unlabelled '}[${meta.shape.join(', ')}])`,
        { pointer: `${at}/dataset` },
      );
    }
    return {
      digits: { count: samples.count, images: samples.images, labels: samples.labels },
      record: { label: `dataset ${meta.name}`, privacy: meta.privacy, count: meta.count, sha256: meta.sha256 },
    };
  }
}

/**
 * A collection of hard examples from `yb-samples` (the hub's for public ones; with `site`, the
 * site's, in its domain), as labelled 1×28×28 digits: the true label where a sample has one,
 * else the answering tier's pseudo-label (`labels: "true"`: only truly labelled samples).
 */
async function readCollection(
  transport: NatsTransport,
  spec: { dataset: string; site?: string; labels?: 'true' | 'true-or-pseudo' },
  at: string,
  siteDomain: string | undefined,
): Promise<{ digits: Digits; record: TrainingDataRecord }> {
  if (spec.site && !siteDomain) {
    throw new YunbianError(
      'BAD_REQUEST',
      `${at}/samples: the collection of site ${spec.site} is read in that site's JetStream domain: run the step at the site (its site engine names its domain) or give checkpointDomain`,
      { pointer: `${at}/samples/site` },
    );
  }
  const js = spec.site ? jetstream(transport.connection, { domain: siteDomain }) : transport.jetstream();
  const subject = sampleSubject(spec.site ?? CLOUD_SAMPLE_SCOPE, spec.dataset);
  const images: Float32Array[] = [];
  const labels: number[] = [];
  let trueLabels = 0;
  let pseudoLabels = 0;
  let lastSeq = 0;
  let privacy: TrainingDataRecord['privacy'] = spec.site ? 'edge-private' : 'public';
  try {
    const jsm = await jetstreamManager(transport.connection, spec.site ? { domain: siteDomain } : {});
    const info = await jsm.streams.info(SAMPLE_STREAM, { subjects_filter: subject });
    const total = info.state.subjects?.[subject] ?? 0;
    if (total > 0) {
      const consumer = await js.consumers.get(SAMPLE_STREAM, { filter_subjects: subject }); // a string: nats-server 2.9 has no list;
      for (let read = 0; read < total;) {
        const batch = await consumer.fetch({ max_messages: Math.min(256, total - read), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          lastSeq = m.seq;
          const sample = m.json<CollectedSample>();
          if (sample.privacy === 'edge-private') privacy = 'edge-private';
          const label = sample.label ?? (spec.labels === 'true' ? undefined : sample.answeredBy.pseudoLabel);
          if (label === undefined) continue;
          if (sample.label !== undefined) trueLabels++;
          else pseudoLabels++;
          const bytes = Buffer.from(sample.input.float32, 'base64');
          const image = new Float32Array(bytes.length / 4);
          new Uint8Array(image.buffer).set(bytes);
          if (image.length !== 784) {
            throw new YunbianError(
              'BAD_REQUEST',
              `${at}/samples: collection ${spec.dataset} holds samples of [${sample.input.dims.join(', ')}]; a digits CNN trains on 1×28×28`,
              { pointer: `${at}/samples/dataset` },
            );
          }
          images.push(image);
          labels.push(label);
        }
        if (got === 0) break;
        read += got;
      }
    }
  } catch (err) {
    if (err instanceof YunbianError) throw err;
    throw new YunbianError(
      'UNAVAILABLE',
      `${at}/samples: collection ${spec.dataset} in JetStream domain ${spec.site ? siteDomain : '(default)'} cannot be read: ${(err as Error).message}`,
    );
  }
  if (images.length === 0) {
    throw new YunbianError(
      'NOT_FOUND',
      `${at}/samples: collection ${spec.dataset}${spec.site ? ` of site ${spec.site}` : ''} holds no ${spec.labels === 'true' ? 'truly ' : ''}labelled samples`,
      { pointer: `${at}/samples/dataset` },
    );
  }
  const all = new Float32Array(images.length * 784);
  images.forEach((im, i) => all.set(im, i * 784));
  return {
    digits: { count: images.length, images: all, labels: Uint8Array.from(labels) },
    record: {
      label: `collection ${spec.dataset}${spec.site ? ` of site ${spec.site}` : ''} (up to seq ${lastSeq})`,
      privacy,
      count: images.length,
      collection: { ...(spec.site ? { site: spec.site } : {}), trueLabels, pseudoLabels, lastSeq },
    },
  };
}

function concatDigits(parts: Digits[]): Digits {
  if (parts.length === 1) return parts[0];
  const count = parts.reduce((a, p) => a + p.count, 0);
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * 784);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { count, images, labels };
}

/** Accuracy of ONNX digits-model bytes on labelled digits, with onnxruntime (as they will be served). */
async function accuracyOnnx(bytes: Uint8Array, data: Digits, learning: Learning): Promise<number> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const probabilities = new Float32Array(data.count * 10);
    for (let start = 0; start < data.count; start += 500) {
      const n = Math.min(500, data.count - start);
      const out = await session.run({
        [learning.DIGITS_INPUT]: new ort.Tensor('float32', data.images.slice(start * 784, (start + n) * 784), [
          n,
          1,
          28,
          28,
        ]),
      });
      probabilities.set(out[learning.DIGITS_OUTPUT].data as Float32Array, start * 10);
    }
    return learning.accuracyOf(probabilities, data);
  } finally {
    await session.release();
  }
}
