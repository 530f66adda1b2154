import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import { JsonLogger } from '@yunbian/common';
import type { NatsTransport } from '@yunbian/transport';
import { MODEL_SIGNING_BUCKET, type ModelMeta } from './model-meta';
import { keyId, ModelSignatureError, parsePublicKeys, verifyModelSignature } from './model-signature';

/** The node setting with the registry's public key(s): PEM or base64 SPKI DER, commas between several. */
export const MODEL_VERIFY_KEY_SETTING = 'YUNBIAN_MODEL_VERIFY_KEY';
/** …or a file holding them. */
export const MODEL_VERIFY_KEY_FILE_SETTING = 'YUNBIAN_MODEL_VERIFY_KEY_FILE';

const audit = new JsonLogger('models');

/** The configured public keys, or undefined when the node has none configured (trust on first use then). */
export function configuredVerifyKeys(
  env: NodeJS.ProcessEnv,
  read = (file: string) => readFileSync(file, 'utf8'),
): KeyObject[] | undefined {
  const inline = env[MODEL_VERIFY_KEY_SETTING]?.trim();
  if (inline) return parsePublicKeys(inline, MODEL_VERIFY_KEY_SETTING);
  const file = env[MODEL_VERIFY_KEY_FILE_SETTING]?.trim();
  if (!file) return undefined;
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new Error(`${MODEL_VERIFY_KEY_FILE_SETTING}="${file}" cannot be read: ${(err as Error).message}`);
  }
  return parsePublicKeys(text, `${MODEL_VERIFY_KEY_FILE_SETTING} (${file})`);
}

/** The key this process trusted on first use (see `ModelTrust`), for the life of the process. */
let processPin: KeyObject | undefined;

/**
 * What a node trusts to sign models, and the check it makes before loading one. With
 * `YUNBIAN_MODEL_VERIFY_KEY` (or `_FILE`) configured: those keys only. Without: trust on
 * first use — the registry's public key is read from KV `yb-model-signing` over NATS the
 * first time this process loads a model and kept for the life of the process; a different
 * key later is refused. That is weaker (whoever controls the bus at that first read chooses
 * the key), and is why production nodes configure the key.
 */
export class ModelTrust {
  constructor(
    private readonly transport: NatsTransport | undefined,
    private readonly configured: KeyObject[] | undefined,
    private readonly nodeId = 'unknown',
  ) {}

  static fromEnv(transport: NatsTransport, env: NodeJS.ProcessEnv = process.env): ModelTrust {
    return new ModelTrust(transport, configuredVerifyKeys(env), env.YUNBIAN_NODE_ID);
  }

  /** Throws (and logs an audit line) unless `meta` is signed by a trusted key. */
  async verify(meta: ModelMeta): Promise<void> {
    try {
      verifyModelSignature(meta, await this.trusted());
    } catch (err) {
      audit.warn('model refused', {
        audit: 'model.refused',
        model: meta.name,
        version: meta.version,
        sha256: meta.sha256,
        node_id: this.nodeId,
        reason: err instanceof ModelSignatureError ? err.reason : 'trust',
        error: (err as Error).message,
      });
      throw err;
    }
  }

  private async trusted(): Promise<KeyObject[]> {
    if (this.configured) return this.configured;
    const published = await this.published();
    if (processPin) {
      if (published && keyId(published) !== keyId(processPin))
        throw new ModelSignatureError(
          { name: 'every model', version: 0 },
          'unknown-key',
          `the registry now publishes signing key ${keyId(published)}, but this process trusted ${keyId(processPin)} on first use; ` +
            `configure ${MODEL_VERIFY_KEY_SETTING} on the node, or restart it if the key was rotated on purpose`,
        );
      return [processPin];
    }
    if (!published)
      throw new ModelSignatureError(
        { name: 'every model', version: 0 },
        'unknown-key',
        `this node has no ${MODEL_VERIFY_KEY_SETTING} and the registry publishes no signing key (KV ${MODEL_SIGNING_BUCKET} unreachable or empty)`,
      );
    processPin = published;
    audit.info('model signing key trusted on first use', {
      audit: 'model.key-pinned',
      key_id: keyId(published),
      node_id: this.nodeId,
    });
    return [published];
  }

  private async published(): Promise<KeyObject | undefined> {
    if (!this.transport) return undefined;
    try {
      const kv = await new Kvm(this.transport.jetstream()).open(MODEL_SIGNING_BUCKET);
      const entry = await kv.get('public');
      if (!entry || entry.operation !== 'PUT') return undefined;
      return parsePublicKeys(entry.string(), `${MODEL_SIGNING_BUCKET}/public`)[0];
    } catch {
      // Unreachable (a site's uplink cut): the key trusted before, when there is one, still decides.
      return undefined;
    }
  }
}
