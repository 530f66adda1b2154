import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { DATASET_META_BUCKET, type DatasetMeta } from '@yunbian/contracts';
import { YunbianError, type NatsTransport } from '@yunbian/transport';
import { sha256Hex } from './fetch-model';

/** Samples of a dataset: `count` of `shape` float32 values each, and a label each when labelled. */
export interface DatasetSamples {
  count: number;
  shape: number[];
  images: Float32Array;
  labels?: Uint8Array;
}

/** The stored layout: the samples as little-endian float32, then the uint8 labels. */
export function encodeDataset(samples: DatasetSamples): Buffer {
  const imageBytes = samples.images.length * 4;
  const out = Buffer.alloc(imageBytes + (samples.labels?.length ?? 0));
  for (let i = 0; i < samples.images.length; i++) out.writeFloatLE(samples.images[i], 4 * i);
  if (samples.labels) out.set(samples.labels, imageBytes);
  return out;
}

/**
 * How many samples `bytes` hold for a shape, or why they cannot be that layout: the length
 * must be `count × (4 × values per sample + 1 if labelled)`.
 */
export function datasetCount(
  bytes: number,
  shape: number[],
  labelled: boolean,
): { count: number } | { problem: string } {
  const values = shape.reduce((a, d) => a * d, 1);
  const per = 4 * values + (labelled ? 1 : 0);
  if (bytes === 0) return { problem: 'the body is empty' };
  if (bytes % per !== 0) {
    return {
      problem: `${bytes} bytes are not a whole number of samples: a ${labelled ? 'labelled ' : ''}sample of [${shape.join(', ')}] takes ${per} bytes (${values} float32${labelled ? ' + a uint8 label' : ''})`,
    };
  }
  return { count: bytes / per };
}

/** Samples (and labels) from stored bytes; copies into aligned memory. */
export function decodeDataset(
  bytes: Uint8Array,
  meta: Pick<DatasetMeta, 'count' | 'shape' | 'labelled'>,
): DatasetSamples {
  const values = meta.count * meta.shape.reduce((a, d) => a * d, 1);
  const expected = 4 * values + (meta.labelled ? meta.count : 0);
  if (bytes.length !== expected) throw new Error(`dataset bytes are ${bytes.length} long, ${expected} expected`);
  const copy = new Uint8Array(4 * values);
  copy.set(bytes.subarray(0, 4 * values));
  return {
    count: meta.count,
    shape: [...meta.shape],
    images: new Float32Array(copy.buffer),
    ...(meta.labelled ? { labels: Uint8Array.from(bytes.subarray(4 * values)) } : {}),
  };
}

/** A registered dataset over NATS: its metadata from KV, its bytes from the object store (sha256 checked). */
export async function fetchDataset(
  transport: NatsTransport,
  name: string,
): Promise<{ meta: DatasetMeta; samples: DatasetSamples }> {
  const kv = await new Kvm(transport.jetstream()).open(DATASET_META_BUCKET);
  const entry = await kv.get(name);
  if (!entry || entry.operation !== 'PUT') throw new YunbianError('NOT_FOUND', `dataset "${name}" is not registered`);
  const meta = entry.json<DatasetMeta>();
  const store = await new Objm(transport.jetstream()).open(meta.object.bucket);
  const bytes = await store.getBlob(meta.object.name);
  if (!bytes) throw new YunbianError('NOT_FOUND', `dataset ${name} is registered but its object is missing`);
  const sha256 = sha256Hex(bytes);
  if (sha256 !== meta.sha256)
    throw new YunbianError(
      'INTERNAL',
      `dataset ${name} failed its integrity check: sha256 ${sha256}, expected ${meta.sha256}`,
    );
  return { meta, samples: decodeDataset(bytes, meta) };
}
