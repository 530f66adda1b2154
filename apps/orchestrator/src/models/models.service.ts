import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { envInt, JsonLogger } from '@yunbian/common';
import type { ModelComputeProfiles, PromotionDecision } from '@yunbian/contracts';
import {
  keyId,
  MODEL_BUCKET,
  MODEL_META_BUCKET,
  MODEL_NAME_PATTERN,
  MODEL_SIGNING_BUCKET,
  modelMetaKey,
  modelObjectName,
  parsePrivateKey,
  publicKeyPem,
  signModel,
  verifyModelSignature,
  type ModelMeta,
} from '@yunbian/models';
import { createKv, createObjectStore, NatsTransport, YunbianError } from '@yunbian/transport';
import { Admission } from './admission';
import { configuredSigningKey, generateSigningKeyPem, SIGNING_KEY_SETTING } from './model-signing';
import { INSPECT_MEMORY_SETTING, inspectOnnxModel, type InspectLimits } from './onnx-inspector';

export const DEFAULT_MODEL_MAX_BYTES = 256 * 1024 * 1024;
/** Resident memory the inspector may reach while loading a model (Node.js and onnxruntime take ~75 MB of it). */
export const DEFAULT_INSPECT_MEMORY_MB = 1024;

/** How many inspections run at once, and how many may wait (each is a process of up to `maxMemoryMb`). */
export interface InspectAdmission {
  inspectConcurrency: number;
  inspectQueue: number;
}

export const INSPECT_ADMISSION_SETTINGS = 'YUNBIAN_MODEL_INSPECT_CONCURRENCY, YUNBIAN_MODEL_INSPECT_QUEUE';

/** Settings from the environment, read once at start. */
export function modelSettings(
  env: NodeJS.ProcessEnv = process.env,
): { maxBytes: number } & InspectLimits & InspectAdmission {
  return {
    maxBytes: envInt('YUNBIAN_MODEL_MAX_BYTES', DEFAULT_MODEL_MAX_BYTES, env),
    inspectConcurrency: envInt('YUNBIAN_MODEL_INSPECT_CONCURRENCY', 1, env),
    // envInt takes positive integers; a queue of 0 (refuse whenever one runs) is YUNBIAN_MODEL_INSPECT_QUEUE=none.
    inspectQueue: env.YUNBIAN_MODEL_INSPECT_QUEUE === 'none' ? 0 : envInt('YUNBIAN_MODEL_INSPECT_QUEUE', 4, env),
    timeoutMs: envInt('YUNBIAN_MODEL_INSPECT_TIMEOUT_MS', 60_000, env),
    maxOldSpaceMb: envInt('YUNBIAN_MODEL_INSPECT_HEAP_MB', 512, env),
    maxMemoryMb: envInt(INSPECT_MEMORY_SETTING, DEFAULT_INSPECT_MEMORY_MB, env),
  };
}

/**
 * The model registry: bytes in the JetStream object store `yb-models` (`<name>/<version>`),
 * one `ModelMeta` per version in KV `yb-model-meta` (`<name>.<version>`), cached in memory.
 */
@Injectable()
export class ModelsService implements OnModuleInit, OnApplicationShutdown {
  protected readonly logger = new JsonLogger('models');
  private readonly settings = modelSettings();
  private readonly inspections = new Admission({
    concurrency: this.settings.inspectConcurrency,
    queue: this.settings.inspectQueue,
    what: 'model inspections',
    settings: INSPECT_ADMISSION_SETTINGS,
    retryAfterSeconds: 5,
  });
  protected kv!: KV;
  protected store!: ObjectStore;
  /** Signs every version stored (Ed25519 over name, version, sha256); nodes verify before loading. */
  private signingKey!: KeyObject;
  private readonly models = new Map<string, ModelMeta[]>();
  private watcher?: { stop(): void };
  /** Uploads of one name run one after the other, so two of them cannot take the same version. */
  private readonly uploadQueues = new Map<string, Promise<unknown>>();

  constructor(@Inject(NatsTransport) protected readonly transport: NatsTransport) {}

  get maxBytes(): number {
    return this.settings.maxBytes;
  }

  async onModuleInit(): Promise<void> {
    this.kv = await createKv(new Kvm(this.transport.connection), MODEL_META_BUCKET, { history: 1 });
    this.store = await createObjectStore(new Objm(this.transport.connection), MODEL_BUCKET);
    await this.readAll();
    this.signingKey = await this.loadSigningKey();
    await this.signUnsigned();
  }

  onApplicationShutdown(): void {
    this.watcher?.stop();
  }

  /**
   * Follows the metadata bucket, then reads what is in it: versions and profiles other
   * processes store (a site engine's split parts, another replica's uploads) are seen here. A
   * version stored in between is read twice, harmlessly.
   */
  protected async readAll(): Promise<number> {
    const watcher = await this.kv.watch({ key: '>', include: 'updates' });
    this.watcher?.stop();
    this.watcher = watcher;
    void (async () => {
      try {
        for await (const entry of watcher as AsyncIterable<KvWatchEntry>) {
          if (entry.operation === 'PUT') this.remember(entry.json<ModelMeta>());
          else this.forget(entry.key);
        }
      } catch (err) {
        this.logger.warn('watch of the model registry ended', { error: (err as Error).message });
      }
    })();
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') this.remember(entry.json<ModelMeta>());
    }
    return keys.length;
  }

  /**
   * The configured key (YUNBIAN_MODEL_SIGNING_KEY / _FILE), else the one kept in KV
   * `yb-model-signing` (generated at first start, shared by replicas). Its public half is
   * published there for nodes that pin it on first use, and logged for node configs.
   */
  private async loadSigningKey(): Promise<KeyObject> {
    const kv = await createKv(new Kvm(this.transport.connection), MODEL_SIGNING_BUCKET, { history: 1 });
    let key = configuredSigningKey();
    const source = key ? 'configured' : 'kv';
    if (!key) {
      let entry = await kv.get('private');
      if (!entry || entry.operation !== 'PUT') {
        // create() refuses an existing key: two replicas starting together keep one of theirs.
        await kv.create('private', generateSigningKeyPem()).catch(() => undefined);
        entry = await kv.get('private');
      }
      if (!entry || entry.operation !== 'PUT')
        throw new Error(`the model signing key could not be kept in KV ${MODEL_SIGNING_BUCKET}`);
      key = parsePrivateKey(entry.string(), `${MODEL_SIGNING_BUCKET}/private`);
    }
    const pem = publicKeyPem(key);
    const published = await kv.get('public');
    if (published?.string() !== pem) await kv.put('public', pem);
    const fields = { key_id: keyId(key), source, public_key: pem.replace(/\n/g, ' ').trim() };
    if (source === 'kv')
      this.logger.warn(
        `model signing key kept in KV ${MODEL_SIGNING_BUCKET} (anyone who can read that bucket can sign models); set ${SIGNING_KEY_SETTING} in production`,
        fields,
      );
    else this.logger.info('model signing key', fields);
    return key;
  }

  /**
   * Signs the versions that carry no valid signature of the current key (registered before
   * signing existed, or under a previous key): only after hashing the stored bytes again, so
   * a record whose bytes no longer match its sha256 is left unsigned (nodes refuse it).
   */
  private async signUnsigned(): Promise<void> {
    for (const versions of this.models.values()) {
      for (const meta of versions) {
        try {
          verifyModelSignature(meta, [this.signingKey]);
          continue;
        } catch {
          // not signed by this key: check the bytes, then sign
        }
        const entry = await this.kv.get(modelMetaKey(meta.name, meta.version));
        if (!entry || entry.operation !== 'PUT') continue;
        const bytes = await this.store.getBlob(meta.object.name).catch(() => null);
        const sha256 = bytes ? createHash('sha256').update(bytes).digest('hex') : undefined;
        if (sha256 !== meta.sha256 || bytes?.byteLength !== meta.size) {
          this.logger.warn('model version left unsigned: its stored bytes do not match its record', {
            audit: 'model.sign-refused',
            name: meta.name,
            version: meta.version,
            recorded: meta.sha256,
            stored: sha256 ?? 'missing',
          });
          continue;
        }
        const signed: ModelMeta = { ...meta, signature: signModel(meta, this.signingKey) };
        try {
          await this.kv.update(modelMetaKey(meta.name, meta.version), JSON.stringify(signed), entry.revision);
          this.remember(signed);
          this.logger.info('model version signed at start', {
            audit: 'model.signed',
            name: meta.name,
            version: meta.version,
          });
        } catch {
          // Changed meanwhile (another replica signed it): the next start looks again.
        }
      }
    }
  }

  /** Drops the version a deleted key (`<name>.<version>`) held. */
  private forget(key: string): void {
    const dot = key.lastIndexOf('.');
    const name = key.slice(0, dot);
    const version = Number(key.slice(dot + 1));
    const list = (this.models.get(name) ?? []).filter((m) => m.version !== version);
    if (list.length) this.models.set(name, list);
    else this.models.delete(name);
  }

  /**
   * Stores an uploaded ONNX file as the next version of `name`. The same bytes as a stored
   * version of that name return it (created=false). Nothing is stored unless onnxruntime
   * loads the file.
   */
  async upload(
    name: string | undefined,
    body: Readable,
    declaredBytes?: number,
    /** Metadata of a version made by the registry itself (compression, a split part) or a training service, stored with it. */
    derived?: Pick<ModelMeta, 'derivedFrom' | 'compression' | 'split' | 'training'>,
  ): Promise<{ meta: ModelMeta; created: boolean }> {
    checkName(name);
    if (declaredBytes !== undefined && declaredBytes > this.maxBytes) throw this.tooLarge(declaredBytes);
    const previous = this.uploadQueues.get(name) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.storeUpload(name, body, derived));
    this.uploadQueues.set(name, run);
    try {
      return await run;
    } finally {
      if (this.uploadQueues.get(name) === run) this.uploadQueues.delete(name);
    }
  }

  private async storeUpload(
    name: string,
    body: Readable,
    derived?: Pick<ModelMeta, 'derivedFrom' | 'compression' | 'split' | 'training'>,
  ): Promise<{ meta: ModelMeta; created: boolean }> {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'yb-model-upload-'));
    try {
      const file = path.join(folder, `${randomUUID()}.onnx`);
      const { sha256, size } = await this.receive(body, file);
      if (size === 0) {
        throw new YunbianError('BAD_REQUEST', 'the request body is empty; send the ONNX file as the raw body');
      }
      const same = this.versions(name).find((m) => m.sha256 === sha256);
      if (same) return { meta: same, created: false };
      const { inputs, outputs, peakMemoryMb } = await this.inspections.run(() =>
        inspectOnnxModel(file, `model "${name}"`, this.settings),
      );
      const version = (this.versions(name).at(-1)?.version ?? 0) + 1;
      const objectName = modelObjectName(name, version);
      const meta: ModelMeta = {
        name,
        version,
        sha256,
        size,
        inputs,
        outputs,
        object: { bucket: MODEL_BUCKET, name: objectName },
        createdAt: new Date().toISOString(),
        ...(peakMemoryMb !== undefined ? { loadPeakMemoryMb: peakMemoryMb } : {}),
        ...derived,
      };
      meta.signature = signModel(meta, this.signingKey);
      await this.store.put(
        { name: objectName, description: `${name} v${version} sha256 ${sha256}` },
        Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
      );
      try {
        // create() refuses an existing key: another orchestrator cannot silently overwrite a version.
        await this.kv.create(modelMetaKey(name, version), JSON.stringify(meta));
      } catch (err) {
        await this.store.delete(objectName).catch(() => undefined);
        throw new YunbianError(
          'CONFLICT',
          `model ${name} v${version} was registered concurrently elsewhere; upload again (${(err as Error).message})`,
        );
      }
      this.remember(meta);
      this.logger.info('model stored', { name, version, sha256, size });
      return { meta, created: true };
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  /** Streams the body to `file`, hashing it and stopping with a 413 past the size limit. */
  private async receive(body: Readable, file: string): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    const limit = this.maxBytes;
    const count = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        size += chunk.length;
        if (size > limit) return done(this.tooLarge(size, true));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(body, count, createWriteStream(file));
    return { sha256: hash.digest('hex'), size };
  }

  private tooLarge(bytes: number, atLeast = false): YunbianError {
    return new YunbianError(
      'PAYLOAD_TOO_LARGE',
      `the model is ${atLeast ? 'more than ' : ''}${bytes} bytes; the limit is ${this.maxBytes} bytes (YUNBIAN_MODEL_MAX_BYTES)`,
      { limitBytes: this.maxBytes },
    );
  }

  protected remember(meta: ModelMeta): void {
    const list = (this.models.get(meta.name) ?? []).filter((m) => m.version !== meta.version);
    list.push(meta);
    list.sort((a, b) => a.version - b.version);
    this.models.set(meta.name, list);
  }

  versions(name: string): ModelMeta[] {
    return this.models.get(name) ?? [];
  }

  /** The latest version of every model, by name. */
  list(): ModelMeta[] {
    return [...this.models.values()].map((v) => v.at(-1)!).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** All versions of one model; 404 names the stored models. */
  model(name: string): ModelMeta[] {
    const versions = this.versions(name);
    if (versions.length === 0) {
      throw new YunbianError(
        'NOT_FOUND',
        `unknown model "${name}"; stored: ${[...this.models.keys()].sort().join(', ') || 'none'}`,
      );
    }
    return versions;
  }

  get(name: string, version: number): ModelMeta {
    const versions = this.model(name);
    const found = versions.find((m) => m.version === version);
    if (!found) {
      throw new YunbianError(
        'NOT_FOUND',
        `model ${name} has no version ${version}; stored: ${versions.map((m) => m.version).join(', ')}`,
      );
    }
    return found;
  }

  /** The stored bytes as a stream. */
  async content(meta: ModelMeta): Promise<Readable> {
    const result = await this.store.get(meta.object.name);
    if (!result) {
      throw new YunbianError(
        'NOT_FOUND',
        `model ${meta.name} v${meta.version} is registered but its object ${meta.object.name} is missing from ${MODEL_BUCKET}`,
      );
    }
    return Readable.fromWeb(result.data as Parameters<typeof Readable.fromWeb>[0]);
  }

  /**
   * Merges compute profiles (split planning, by node class) into a version's metadata. The KV
   * entry is read and written back by revision, so concurrent merges retry instead of losing one.
   */
  async addProfiles(name: string, version: number, profiles: ModelComputeProfiles): Promise<ModelMeta> {
    return this.updateMeta(name, version, 'profiles', (current) => ({
      ...current,
      profiles: { ...current.profiles, ...profiles },
    }));
  }

  /** Appends a canary decision to the version's `promotions`. */
  async addPromotion(name: string, version: number, decision: PromotionDecision): Promise<ModelMeta> {
    return this.updateMeta(name, version, 'promotion decision', (current) => ({
      ...current,
      promotions: [...(current.promotions ?? []), decision],
    }));
  }

  private async updateMeta(
    name: string,
    version: number,
    what: string,
    change: (current: ModelMeta) => ModelMeta,
  ): Promise<ModelMeta> {
    const key = modelMetaKey(name, version);
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT')
        throw new YunbianError('NOT_FOUND', `model ${name} v${version} is no longer registered`);
      const meta = change(entry.json<ModelMeta>());
      try {
        await this.kv.update(key, JSON.stringify(meta), entry.revision);
        this.remember(meta);
        return meta;
      } catch (err) {
        if (attempt >= 4)
          throw new YunbianError('CONFLICT', `${what} of ${name} v${version} not stored: ${(err as Error).message}`);
      }
    }
  }

  async deleteVersion(name: string, version: number): Promise<ModelMeta> {
    const meta = this.get(name, version);
    await this.kv.purge(modelMetaKey(name, version));
    await this.store.delete(meta.object.name).catch(() => undefined);
    const rest = this.versions(name).filter((m) => m.version !== version);
    if (rest.length) this.models.set(name, rest);
    else this.models.delete(name);
    return meta;
  }

  async deleteModel(name: string): Promise<ModelMeta[]> {
    const versions = this.model(name);
    for (const meta of versions) await this.deleteVersion(name, meta.version);
    return versions;
  }
}

function checkName(name: string | undefined): asserts name is string {
  if (!name || !MODEL_NAME_PATTERN.test(name)) {
    throw new YunbianError(
      'BAD_REQUEST',
      `model name ${name === undefined ? 'is missing' : `"${name}" is invalid`}; pass ?name= with 1-128 letters, digits, "_" or "-"`,
    );
  }
}
