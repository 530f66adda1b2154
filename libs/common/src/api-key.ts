import { randomBytes } from 'node:crypto';

/**
 * API keys are `yb_<id>_<secret>`: the id names the stored record (a lookup is one KV get),
 * the secret is random and never stored (the orchestrator keeps its hash). Generated keys
 * have a 12-hex-digit id and 32 random bytes of secret (base64url).
 */
export const API_KEY_FORMAT = /^yb_([a-zA-Z0-9]{4,32})_([A-Za-z0-9_-]{20,200})$/;
export const API_KEY_FORMAT_TEXT = 'yb_<id>_<secret> (id: 4–32 letters or digits; secret: 20–200 of A-Z a-z 0-9 _ -)';

export interface ParsedKey {
  id: string;
  secret: string;
}

export function parseApiKey(key: string): ParsedKey | undefined {
  const match = API_KEY_FORMAT.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** A fresh random key and its parts. */
export function generateApiKey(): ParsedKey & { key: string } {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, key: `yb_${id}_${secret}` };
}

/** `Authorization: Bearer <key>` as a header record (empty without a key). */
export function bearer(key: string | undefined): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}
