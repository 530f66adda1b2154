import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import {
  keyId,
  ModelSignatureError,
  parsePublicKeys,
  publicKeyPem,
  signModel,
  verifyModelSignature,
  type ModelMeta,
} from '@yunbian/models';
import { configuredSigningKey, generateSigningKeyPem } from './model-signing';

const meta = (over: Partial<ModelMeta> = {}): ModelMeta => ({
  name: 'digits',
  version: 3,
  sha256: 'a'.repeat(64),
  size: 10,
  inputs: [],
  outputs: [],
  object: { bucket: 'yb-models', name: 'digits/3' },
  createdAt: '2026-01-01T00:00:00Z',
  ...over,
});

describe('model signing', () => {
  const key = createPrivateKey(generateSigningKeyPem());
  const trusted = parsePublicKeys(publicKeyPem(key), 'test');

  it('reads the signing key from PEM, base64 DER or a file, naming the setting when it is wrong', () => {
    const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const der = key.export({ type: 'pkcs8', format: 'der' }).toString('base64');
    expect(keyId(configuredSigningKey({ YUNBIAN_MODEL_SIGNING_KEY: pem })!)).toBe(keyId(key));
    expect(keyId(configuredSigningKey({ YUNBIAN_MODEL_SIGNING_KEY: der })!)).toBe(keyId(key));
    expect(keyId(configuredSigningKey({ YUNBIAN_MODEL_SIGNING_KEY_FILE: '/k.pem' }, () => pem)!)).toBe(keyId(key));
    expect(configuredSigningKey({})).toBeUndefined();
    expect(() => configuredSigningKey({ YUNBIAN_MODEL_SIGNING_KEY: 'bm90IGEga2V5' })).toThrow(
      /YUNBIAN_MODEL_SIGNING_KEY must be an Ed25519 private key/,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(() => configuredSigningKey({ YUNBIAN_MODEL_SIGNING_KEY: rsa })).toThrow(/rsa, not ed25519/);
  });

  it('accepts a version signed over its name, version and sha256', () => {
    const m = meta();
    expect(() => verifyModelSignature({ ...m, signature: signModel(m, key) }, trusted)).not.toThrow();
  });

  it('refuses unsigned versions, changed records and other keys, saying which', () => {
    const m = meta();
    const signature = signModel(m, key);
    const refusal = (candidate: ModelMeta, keys = trusted) => {
      try {
        verifyModelSignature(candidate, keys);
      } catch (err) {
        return err as ModelSignatureError;
      }
      throw new Error('not refused');
    };
    expect(refusal(m).reason).toBe('unsigned');
    expect(refusal(m).message).toMatch(/model digits v3 was refused: it carries no Ed25519 signature/);
    // Bytes and registry hash replaced together: only the signature can tell.
    expect(refusal({ ...m, sha256: 'b'.repeat(64), signature }).reason).toBe('invalid');
    expect(refusal({ ...m, version: 4, signature }).reason).toBe('invalid');
    const other = createPrivateKey(generateSigningKeyPem());
    expect(refusal({ ...m, signature: signModel(m, other) }).reason).toBe('unknown-key');
    expect(refusal({ ...m, signature }, []).message).toContain('trusted: none');
  });
});
