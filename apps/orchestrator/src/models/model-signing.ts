import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parsePrivateKey } from '@yunbian/models';

export const SIGNING_KEY_SETTING = 'YUNBIAN_MODEL_SIGNING_KEY';
export const SIGNING_KEY_FILE_SETTING = 'YUNBIAN_MODEL_SIGNING_KEY_FILE';

/**
 * The registry's Ed25519 signing key from the orchestrator's environment: the key itself
 * (PEM or base64 PKCS#8 DER) or a file holding it. Undefined when neither is set (the
 * registry then uses the key kept in KV, generating it at first start).
 */
export function configuredSigningKey(
  env: NodeJS.ProcessEnv = process.env,
  read = (file: string) => readFileSync(file, 'utf8'),
): KeyObject | undefined {
  const inline = env[SIGNING_KEY_SETTING]?.trim();
  if (inline) return parsePrivateKey(inline, SIGNING_KEY_SETTING);
  const file = env[SIGNING_KEY_FILE_SETTING]?.trim();
  if (!file) return undefined;
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new Error(`${SIGNING_KEY_FILE_SETTING}="${file}" cannot be read: ${(err as Error).message}`);
  }
  return parsePrivateKey(text, `${SIGNING_KEY_FILE_SETTING} (${file})`);
}

/** A new Ed25519 private key as PKCS#8 PEM. */
export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}
