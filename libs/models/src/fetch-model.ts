import { createHash } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { YunbianError, type NatsTransport } from '@yunbian/transport';
import { MODEL_META_BUCKET, MODEL_NAME_PATTERN, modelMetaKey, type ModelMeta } from './model-meta';
import { ModelTrust } from './model-trust';

/** Bytes that do not hash to what the registry recorded: a corrupted or replaced object. */
export class ModelIntegrityError extends YunbianError {
  constructor(meta: Pick<ModelMeta, 'name' | 'version' | 'sha256' | 'size'>, actual: { sha256: string; size: number }) {
    super(
      'INTERNAL',
      `model ${meta.name} v${meta.version} failed its integrity check: expected sha256 ${meta.sha256} (${meta.size} bytes), got ${actual.sha256} (${actual.size} bytes); the stored copy is corrupt — upload the model again`,
      { expected: { sha256: meta.sha256, size: meta.size }, actual },
    );
    this.name = 'ModelIntegrityError';
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws a `ModelIntegrityError` unless `bytes` are exactly the registered model. */
export function verifyModelBytes(meta: ModelMeta, bytes: Uint8Array): void {
  const actual = { sha256: sha256Hex(bytes), size: bytes.byteLength };
  if (actual.sha256 !== meta.sha256 || actual.size !== meta.size) throw new ModelIntegrityError(meta, actual);
}

/** The registry record of `name` at `version` (the latest when omitted), read from JetStream KV. */
export async function readModelMeta(transport: NatsTransport, name: string, version?: number): Promise<ModelMeta> {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new YunbianError('BAD_REQUEST', `model name "${name}" is invalid; use 1-128 letters, digits, "_" or "-"`);
  }
  const kv = await new Kvm(transport.jetstream()).open(MODEL_META_BUCKET);
  if (version === undefined) {
    const versions: number[] = [];
    for await (const key of await kv.keys(`${name}.*`)) versions.push(Number(key.slice(name.length + 1)));
    if (versions.length === 0) throw new YunbianError('NOT_FOUND', `model "${name}" is not in the registry`);
    version = Math.max(...versions);
  }
  const entry = await kv.get(modelMetaKey(name, version));
  if (!entry || entry.operation !== 'PUT') {
    throw new YunbianError('NOT_FOUND', `model ${name} has no version ${version} in the registry`);
  }
  return entry.json<ModelMeta>();
}

/** The bytes of a registered model version straight from the object store, verified against its sha256. */
export async function fetchModelBytes(transport: NatsTransport, meta: ModelMeta): Promise<Uint8Array> {
  const store = await new Objm(transport.jetstream()).open(meta.object.bucket);
  const bytes = await store.getBlob(meta.object.name);
  if (!bytes) {
    throw new YunbianError(
      'NOT_FOUND',
      `model ${meta.name} v${meta.version} is registered but its object ${meta.object.bucket}/${meta.object.name} is missing`,
    );
  }
  verifyModelBytes(meta, bytes);
  return bytes;
}

/**
 * Reads a model over NATS (no HTTP): its metadata from KV, then its bytes from the object
 * store, and checks the bytes against the registered sha256 before returning them.
 */
export async function fetchModel(
  transport: NatsTransport,
  name: string,
  version?: number,
  trust: Pick<ModelTrust, 'verify'> = ModelTrust.fromEnv(transport),
): Promise<{ meta: ModelMeta; bytes: Uint8Array }> {
  const meta = await readModelMeta(transport, name, version);
  // The registry's signature, then the bytes against the signed sha256.
  await trust.verify(meta);
  return { meta, bytes: await fetchModelBytes(transport, meta) };
}
