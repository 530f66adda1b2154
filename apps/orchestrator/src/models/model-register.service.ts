import { Readable } from 'node:stream';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Subscription } from '@nats-io/transport-node';
import { JsonLogger } from '@yunbian/common';
import {
  MODEL_NAME_PATTERN,
  MODEL_STAGING_BUCKET,
  Subjects,
  type CompressionReport,
  type RegisterModelCommand,
} from '@yunbian/contracts';
import { sha256Hex, type ModelMeta } from '@yunbian/models';
import { createObjectStore, NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { compressionSettings } from './compression.service';
import { ModelsService } from './models.service';
import { measureNodeClasses, profileOverNats, registeredTarget } from './node-latency';

/**
 * The registry over NATS for services that make models (training): they stage the bytes in
 * the object store `yb-model-staging` of the registry's domain and ask on
 * `yb.cmd.models.register`; the registry checks the hash, stores the next version with its
 * lineage through the same path as an upload (onnxruntime must load it), and removes the
 * staged object. A compressed version (`derivedFrom` with `compression` and `profile`, from a
 * workflow's model-ops step) is first timed next to its parent on one live node per class, as
 * `POST …/compress` does. Replicas share the subject in one queue group.
 */
@Injectable()
export class ModelRegisterService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new JsonLogger('models');
  private staging!: ObjectStore;
  private subscription?: Subscription;
  private readonly profileTimeoutMs = compressionSettings().profileTimeoutMs;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.staging = await createObjectStore(new Objm(this.transport.connection), MODEL_STAGING_BUCKET, {
      description: 'model bytes waiting for the registry (training results)',
    });
    this.subscription = this.transport.serve<RegisterModelCommand, ModelMeta>(
      Subjects.modelRegister,
      (command) => this.register(command),
      { queue: Subjects.modelRegister },
    );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  async register(command: RegisterModelCommand): Promise<ModelMeta> {
    if (!command || typeof command.name !== 'string' || !MODEL_NAME_PATTERN.test(command.name))
      throw new YunbianError('BAD_REQUEST', 'register: "name" must be 1-128 letters, digits, "_" or "-"');
    const staged = command.staged;
    if (!staged || typeof staged.name !== 'string' || typeof staged.sha256 !== 'string')
      throw new YunbianError(
        'BAD_REQUEST',
        `register ${command.name}: "staged" must name an object of ${MODEL_STAGING_BUCKET} and its sha256`,
      );
    const bytes = await this.staging.getBlob(staged.name);
    if (!bytes)
      throw new YunbianError(
        'NOT_FOUND',
        `register ${command.name}: ${MODEL_STAGING_BUCKET} has no object "${staged.name}"`,
      );
    const sha256 = sha256Hex(bytes);
    if (sha256 !== staged.sha256)
      throw new YunbianError(
        'BAD_REQUEST',
        `register ${command.name}: the staged bytes hash to ${sha256}, the request says ${staged.sha256}`,
      );
    const compression = command.compression ? await this.compressionReport(command) : undefined;
    const { meta, created } = await this.models.upload(
      command.name,
      Readable.from([Buffer.from(bytes)]),
      bytes.length,
      command.training || command.derivedFrom
        ? {
            ...(command.training ? { training: command.training } : {}),
            ...(command.derivedFrom ? { derivedFrom: command.derivedFrom } : {}),
            ...(compression ? { compression } : {}),
            ...(command.split && command.derivedFrom ? { split: command.split } : {}),
          }
        : undefined,
    );
    await this.staging.delete(staged.name).catch(() => undefined);
    this.logger.info('model registered over NATS', { name: meta.name, version: meta.version, created });
    return meta;
  }

  /** The command's compression figures with the latency of the staged bytes next to the parent's, per node class. */
  private async compressionReport(command: RegisterModelCommand): Promise<CompressionReport> {
    const report = command.compression!;
    if (!command.derivedFrom)
      throw new YunbianError('BAD_REQUEST', `register ${command.name}: "compression" needs "derivedFrom" (the parent)`);
    if (!command.profile) return { ...report, latency: [] };
    const parent = this.models.get(command.derivedFrom.name, command.derivedFrom.version);
    const latency = await measureNodeClasses(
      {
        nodes: () => this.catalog.listNodes(),
        profile: profileOverNats(this.transport, this.profileTimeoutMs),
      },
      registeredTarget(parent),
      { label: 'compressed', bucket: MODEL_STAGING_BUCKET, object: command.staged.name, sha256: command.staged.sha256 },
      command.profile,
      this.profileTimeoutMs,
    );
    return { ...report, latency };
  }
}
