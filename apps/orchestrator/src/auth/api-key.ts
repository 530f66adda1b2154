import { createHash, timingSafeEqual } from 'node:crypto';
import type { ParsedKey } from '@yunbian/common';
import { Roles, type ApiKeyRequest, type ApiKeyView, type Principal, type Role } from '@yunbian/contracts';

export { API_KEY_FORMAT, API_KEY_FORMAT_TEXT, generateApiKey, parseApiKey, type ParsedKey } from '@yunbian/common';

/** A stored key: what is listed plus sha256(`<id>:<secret>`) — the id in the hashed text ties a hash to its record. */
export interface ApiKeyRecord extends ApiKeyView {
  hash: string;
}

export function hashSecret(id: string, secret: string): string {
  return createHash('sha256').update(`${id}:${secret}`).digest('hex');
}

/** Why `record` does not accept `secret` at `now` (undefined: it does). Constant-time on the hash. */
export function keyProblem(record: ApiKeyRecord | undefined, secret: string, now: Date): string | undefined {
  if (!record) return 'unknown or revoked API key';
  const expected = Buffer.from(record.hash, 'hex');
  const given = Buffer.from(hashSecret(record.id, secret), 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'unknown or revoked API key';
  if (record.expiresAt && Date.parse(record.expiresAt) <= now.getTime())
    return `API key ${record.id} expired at ${record.expiresAt}`;
  return undefined;
}

export function principalOfKey(record: ApiKeyRecord): Principal {
  return {
    kind: 'key',
    id: record.id,
    name: record.name,
    role: record.role,
    ...(record.sites ? { sites: record.sites } : {}),
  };
}

export function keyView(record: ApiKeyRecord): ApiKeyView {
  const { hash: _hash, ...view } = record;
  return view;
}

/** JSON Schema of `POST /auth/keys`. */
export const API_KEY_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    role: { enum: [...Roles] },
    sites: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

/**
 * Why a creator may not create `request` (undefined: it may): a key never has more sites than
 * its creator (a site-scoped admin creates keys of its sites only) and does not expire in the past.
 */
export function keyRequestProblem(request: ApiKeyRequest, creator: Principal, now: Date): string | undefined {
  if (request.expiresAt && Date.parse(request.expiresAt) <= now.getTime())
    return `expiresAt ${request.expiresAt} is not in the future`;
  if (creator.sites) {
    if (!request.sites)
      return `your credential is limited to sites ${creator.sites.join(', ')}: give the new key sites among them`;
    const outside = request.sites.filter((s) => !creator.sites!.includes(s));
    if (outside.length)
      return `your credential is limited to sites ${creator.sites.join(', ')}; not ${outside.join(', ')}`;
  }
  return undefined;
}

export function newKeyRecord(
  parsed: ParsedKey,
  request: ApiKeyRequest,
  createdBy: string,
  now: Date,
  bootstrap = false,
): ApiKeyRecord {
  return {
    id: parsed.id,
    name: request.name,
    role: request.role,
    ...(request.sites ? { sites: request.sites } : {}),
    ...(request.expiresAt ? { expiresAt: new Date(request.expiresAt).toISOString() } : {}),
    createdAt: now.toISOString(),
    createdBy,
    ...(bootstrap ? { bootstrap: true } : {}),
    hash: hashSecret(parsed.id, parsed.secret),
  };
}

/** Roles ordered: does `held` include `needed`? */
export function roleIncludes(held: Role, needed: Role): boolean {
  return Roles.indexOf(held) >= Roles.indexOf(needed);
}
