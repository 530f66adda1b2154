import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { YunbianError } from '@yunbian/transport';
import type { ModelMeta, ModelSignature } from './model-meta';

/** What is signed: the version's identity and the hash of its bytes, in a fixed, unambiguous form. */
export function signaturePayload(name: string, version: number, sha256: string): Buffer {
  return Buffer.from(`yunbian-model-signature-v1\n${name}\n${version}\n${sha256}`, 'utf8');
}

/** Short id of a public key: the first 16 hex digits of the SHA-256 of its SPKI DER. */
export function keyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** An Ed25519 signature of (name, version, sha256) with the registry's private key. */
export function signModel(meta: Pick<ModelMeta, 'name' | 'version' | 'sha256'>, privateKey: KeyObject): ModelSignature {
  return {
    alg: 'ed25519',
    keyId: keyId(privateKey),
    value: sign(null, signaturePayload(meta.name, meta.version, meta.sha256), privateKey).toString('base64'),
  };
}

function fromText(text: string, kind: 'private' | 'public'): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? kind === 'private'
      ? createPrivateKey(trimmed)
      : createPublicKey(trimmed)
    : kind === 'private'
      ? createPrivateKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'pkcs8' })
      : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the key is ${key.asymmetricKeyType}, not ed25519`);
  return key;
}

/** An Ed25519 private key from PEM (PKCS#8) or base64 DER; throws naming `setting`. */
export function parsePrivateKey(text: string, setting: string): KeyObject {
  try {
    return fromText(text, 'private');
  } catch (err) {
    throw new Error(`${setting} must be an Ed25519 private key, PEM (PKCS#8) or base64 DER: ${(err as Error).message}`);
  }
}

/** Ed25519 public keys from PEM (SPKI) or base64 DER, several separated by commas; throws naming `setting`. */
export function parsePublicKeys(text: string, setting: string): KeyObject[] {
  const parts = text.includes('-----BEGIN')
    ? (text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [text])
    : text.split(',').filter((p) => p.trim());
  try {
    return parts.map((p) => fromText(p, 'public'));
  } catch (err) {
    throw new Error(
      `${setting} must list Ed25519 public keys, PEM (SPKI) or base64 DER separated by commas: ${(err as Error).message}`,
    );
  }
}

/** A public key as PEM text (what the registry publishes and nodes pin). */
export function publicKeyPem(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** A model version whose signature is missing, malformed or not made by a trusted key. */
export class ModelSignatureError extends YunbianError {
  constructor(
    meta: Pick<ModelMeta, 'name' | 'version'>,
    readonly reason: 'unsigned' | 'unknown-key' | 'invalid',
    detail: string,
  ) {
    super(
      'BAD_REQUEST',
      `model ${meta.name} v${meta.version} was refused: ${detail}. Nothing was loaded. If the registry is intact, ` +
        `restart the orchestrator so it signs its versions (or upload the model again); if this node trusts the wrong key, ` +
        `set YUNBIAN_MODEL_VERIFY_KEY to the registry's public key (the orchestrator logs it at start)`,
      { model: meta.name, version: meta.version, reason },
    );
    this.name = 'ModelSignatureError';
  }
}

/**
 * Throws a `ModelSignatureError` unless `meta` carries an Ed25519 signature, by one of
 * `trusted`, over its name, version and sha256. (The bytes are then checked against that
 * sha256 as before, so a version whose bytes and registry hash were both replaced fails here.)
 */
export function verifyModelSignature(meta: ModelMeta, trusted: readonly KeyObject[]): void {
  const signature = meta.signature;
  if (!signature || typeof signature.value !== 'string' || signature.alg !== 'ed25519')
    throw new ModelSignatureError(meta, 'unsigned', 'it carries no Ed25519 signature from the registry');
  const key = trusted.find((k) => keyId(k) === signature.keyId);
  if (!key)
    throw new ModelSignatureError(
      meta,
      'unknown-key',
      `it is signed by key ${String(signature.keyId)}, which this node does not trust (trusted: ${trusted.map(keyId).join(', ') || 'none'})`,
    );
  const ok = verify(
    null,
    signaturePayload(meta.name, meta.version, meta.sha256),
    key,
    Buffer.from(signature.value, 'base64'),
  );
  if (!ok)
    throw new ModelSignatureError(
      meta,
      'invalid',
      `its signature does not match its name, version and sha256 ${meta.sha256} (the record or the bytes were changed after signing)`,
    );
}
