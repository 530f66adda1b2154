import { Objm } from '@nats-io/obj';
import { MODEL_STAGING_BUCKET, Subjects, type RegisterModelCommand } from '@yunbian/contracts';
import type { NatsTransport } from '@yunbian/transport';
import { sha256Hex } from './fetch-model';
import type { ModelMeta } from './model-meta';

/** How long the registry may take to store (and, for compressed versions, time) a version. */
export const REGISTER_TIMEOUT_MS = 150_000;

/**
 * Registers bytes made outside the registry (a training result, a compressed version, a site
 * engine's split part) the one way every process may: stage them in `yb-model-staging` of the
 * registry's JetStream domain (the transport's), then ask the cloud's registry over NATS
 * (`yb.cmd.models.register`), which stores — and signs — the next version through the same
 * path as an upload. Only the registry holds the signing key.
 */
export async function registerOverNats(
  transport: NatsTransport,
  name: string,
  bytes: Uint8Array,
  /** Names the staged object (made safe here), so retries of one result overwrite each other. */
  stagedKey: string,
  extra: Omit<RegisterModelCommand, 'name' | 'staged'> = {},
  timeoutMs = REGISTER_TIMEOUT_MS,
): Promise<ModelMeta> {
  const staging = await new Objm(transport.jetstream()).create(MODEL_STAGING_BUCKET, {
    description: 'model bytes waiting for the registry (training, compression and split results)',
  });
  const sha256 = sha256Hex(bytes);
  const staged = `${name}/${stagedKey.replace(/[^A-Za-z0-9_-]/g, '_')}-${sha256.slice(0, 12)}`;
  await staging.putBlob({ name: staged }, bytes);
  const command: RegisterModelCommand = { name, staged: { name: staged, sha256, size: bytes.length }, ...extra };
  return transport.request<ModelMeta>(Subjects.modelRegister, command, { timeoutMs });
}
