import { Readable } from 'node:stream';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { envInt, JsonLogger } from '@yunbian/common';
import { DATASET_BUCKET, DATASET_META_BUCKET, type DatasetMeta, type DatasetPrivacy } from '@yunbian/contracts';
import { datasetCount, encodeDataset, sha256Hex } from '@yunbian/models';
import { createKv, createObjectStore, NatsTransport, YunbianError } from '@yunbian/transport';
import { parseUploadQuery, resolveDigits, type RegisterDigitsBody, type UploadQuery } from './dataset-request';

/**
 * The dataset registry: sample bytes in the JetStream object store `yb-datasets` (object
 * `<name>`), one DatasetMeta per dataset in KV `yb-dataset-meta` (key `<name>`), cached in
 * memory. Names are unique: register under a new name rather than replacing a set a report
 * refers to.
 */
@Injectable()
export class DatasetsService implements OnModuleInit {
  private readonly logger = new JsonLogger('datasets');
  /** Largest upload, bytes (the body is held in memory while it is checked). */
  readonly maxBytes = envInt('YUNBIAN_DATASET_MAX_BYTES', 64 * 1024 * 1024);
  private kv!: KV;
  private store!: ObjectStore;
  private readonly datasets = new Map<string, DatasetMeta>();

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async onModuleInit(): Promise<void> {
    this.kv = await createKv(new Kvm(this.transport.connection), DATASET_META_BUCKET, { history: 1 });
    this.store = await createObjectStore(new Objm(this.transport.connection), DATASET_BUCKET);
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') {
        const meta = entry.json<DatasetMeta>();
        this.datasets.set(meta.name, meta);
      }
    }
  }

  /** Registers a range of the project's digits split (loaded from the `mnist` package). */
  async registerDigits(body: RegisterDigitsBody): Promise<DatasetMeta> {
    const resolved = resolveDigits(body);
    if ('problem' in resolved)
      throw new YunbianError('VALIDATION_FAILED', `request body is invalid: ${resolved.problem}`);
    this.checkFree(resolved.name);
    // Loaded on demand: the digits code comes with tfjs, which the orchestrator otherwise never needs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadDigits, sliceDigits } = require('@yunbian/learning') as typeof import('@yunbian/learning');
    const digits = sliceDigits(loadDigits(), resolved.from, resolved.to);
    const bytes = encodeDataset({
      count: digits.count,
      shape: [1, 28, 28],
      images: digits.images,
      ...(body.labelled ? { labels: digits.labels } : {}),
    });
    return this.store_(bytes, {
      name: resolved.name,
      privacy: resolved.privacy,
      labelled: body.labelled,
      count: digits.count,
      shape: [1, 28, 28],
      ...(body.labelled ? { classes: 10 } : {}),
      source: { kind: 'digits', part: body.part, from: resolved.from, to: resolved.to },
      ...(body.description ? { description: body.description } : {}),
    });
  }

  /** Registers uploaded samples (raw body in the stored layout; see docs/models.md). */
  async upload(query: UploadQuery, body: Readable, declaredBytes?: number): Promise<DatasetMeta> {
    const q = parseUploadQuery(query);
    if ('problem' in q) throw new YunbianError('BAD_REQUEST', q.problem);
    this.checkFree(q.name);
    if (declaredBytes !== undefined && declaredBytes > this.maxBytes) throw this.tooLarge(declaredBytes);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.maxBytes) throw this.tooLarge(size, true);
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    const counted = datasetCount(bytes.length, q.shape, q.labelled);
    if ('problem' in counted) throw new YunbianError('BAD_REQUEST', `dataset ${q.name}: ${counted.problem}`);
    const { count } = counted;
    let classes: number | undefined;
    if (q.labelled) classes = bytes.subarray(bytes.length - count).reduce((m, l) => Math.max(m, l), 0) + 1;
    const values = new Float32Array(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length - (q.labelled ? count : 0)),
    );
    if (values.some((v) => !Number.isFinite(v)))
      throw new YunbianError(
        'BAD_REQUEST',
        `dataset ${q.name}: samples must be finite float32 values (found NaN or ±Infinity)`,
      );
    return this.store_(bytes, {
      name: q.name,
      privacy: q.privacy,
      labelled: q.labelled,
      count,
      shape: q.shape,
      ...(classes !== undefined ? { classes } : {}),
      source: { kind: 'upload' },
      ...(q.description ? { description: q.description } : {}),
    });
  }

  private async store_(
    bytes: Buffer,
    partial: Omit<DatasetMeta, 'size' | 'sha256' | 'object' | 'createdAt'>,
  ): Promise<DatasetMeta> {
    const meta: DatasetMeta = {
      ...partial,
      size: bytes.length,
      sha256: sha256Hex(bytes),
      object: { bucket: DATASET_BUCKET, name: partial.name },
      createdAt: new Date().toISOString(),
    };
    await this.store.putBlob({ name: meta.name, description: `dataset ${meta.name} sha256 ${meta.sha256}` }, bytes);
    try {
      await this.kv.create(meta.name, JSON.stringify(meta));
    } catch (err) {
      throw new YunbianError(
        'CONFLICT',
        `dataset ${meta.name} was registered concurrently elsewhere (${(err as Error).message})`,
      );
    }
    this.datasets.set(meta.name, meta);
    this.logger.info('dataset stored', { name: meta.name, count: meta.count, privacy: meta.privacy, size: meta.size });
    return meta;
  }

  private checkFree(name: string): void {
    if (this.datasets.has(name))
      throw new YunbianError(
        'CONFLICT',
        `dataset "${name}" is already registered; delete it first or choose another name`,
      );
  }

  private tooLarge(bytes: number, atLeast = false): YunbianError {
    return new YunbianError(
      'PAYLOAD_TOO_LARGE',
      `the dataset is ${atLeast ? 'more than ' : ''}${bytes} bytes; the limit is ${this.maxBytes} bytes (YUNBIAN_DATASET_MAX_BYTES)`,
      { limitBytes: this.maxBytes },
    );
  }

  list(): DatasetMeta[] {
    return [...this.datasets.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): DatasetMeta {
    const meta = this.datasets.get(name);
    if (!meta) {
      throw new YunbianError(
        'NOT_FOUND',
        `unknown dataset "${name}"; registered: ${[...this.datasets.keys()].sort().join(', ') || 'none'}`,
      );
    }
    return meta;
  }

  async delete(name: string): Promise<DatasetMeta> {
    const meta = this.get(name);
    await this.kv.purge(name);
    await this.store.delete(meta.object.name).catch(() => undefined);
    this.datasets.delete(name);
    return meta;
  }

  /** The privacy tier of a dataset, for reports. */
  privacyOf(name: string): DatasetPrivacy {
    return this.get(name).privacy;
  }
}
