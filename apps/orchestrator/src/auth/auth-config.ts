import { existsSync, readFileSync } from 'node:fs';
import { envFlag, envInt } from '@yunbian/common';
import { ADMIN_KEY_VARIABLE } from '@yunbian/contracts';
import { API_KEY_FORMAT_TEXT, parseApiKey, type ParsedKey } from './api-key';

/** Where bearer tokens (JWTs) are verified against: one of a PEM public key, a JWKS file, a JWKS URL. */
export type JwtKeySource =
  | { kind: 'pem'; pem: string; algorithm: string }
  | { kind: 'jwks-file'; jwks: { keys: Record<string, unknown>[] } }
  | { kind: 'jwks-url'; url: URL };

export interface JwtConfig {
  source: JwtKeySource;
  issuer?: string;
  audience?: string;
}

/** The orchestrator's authentication settings, read and checked once at start. */
export interface AuthConfig {
  /** The bootstrap admin key from YUNBIAN_ADMIN_KEY (absent: generated at first start). */
  adminKey?: ParsedKey;
  /** Bearer tokens are accepted when set. */
  jwt?: JwtConfig;
  /** Requests per minute per credential (anonymous callers: per IP). */
  rateLimitPerMin: number;
  /** `/metrics` asks for a credential (viewer) too. */
  metricsAuth: boolean;
  /** Audit stream limits. */
  auditMaxAgeHours: number;
  auditMaxBytes: number;
  /** How long a looked-up key is trusted before it is read again (revocation reaches every replica within it). */
  keyCacheMs: number;
}

export const DEFAULT_RATE_LIMIT_PER_MIN = 600;
export const KEY_CACHE_MS = 1_000;
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Reads the authentication settings; throws naming every bad variable and what is accepted. */
export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const problems: string[] = [];
  const read = <T>(get: () => T, fallback: T): T => {
    try {
      return get();
    } catch (err) {
      problems.push((err as Error).message);
      return fallback;
    }
  };
  const rawAdmin = env[ADMIN_KEY_VARIABLE]?.trim();
  const adminKey = rawAdmin ? parseApiKey(rawAdmin) : undefined;
  if (rawAdmin && !adminKey)
    problems.push(
      `environment variable ${ADMIN_KEY_VARIABLE} must have the form ${API_KEY_FORMAT_TEXT}, e.g. ` +
        `yb_admin0_$(openssl rand -hex 24); leave it unset to have one generated and logged at first start`,
    );

  const pem = env.YUNBIAN_JWT_PUBLIC_KEY?.trim();
  const jwksFile = env.YUNBIAN_JWT_JWKS_FILE?.trim();
  const jwksUrl = env.YUNBIAN_JWT_JWKS_URL?.trim();
  const set = [pem && 'YUNBIAN_JWT_PUBLIC_KEY', jwksFile && 'YUNBIAN_JWT_JWKS_FILE', jwksUrl && 'YUNBIAN_JWT_JWKS_URL'];
  const given = set.filter(Boolean);
  let source: JwtKeySource | undefined;
  if (given.length > 1) problems.push(`set one of ${given.join(', ')}, not several: they say where JWTs are verified`);
  else if (pem) {
    const algorithm = env.YUNBIAN_JWT_ALGORITHM?.trim() || 'RS256';
    if (!JWT_ALGORITHMS.includes(algorithm))
      problems.push(
        `environment variable YUNBIAN_JWT_ALGORITHM="${algorithm}" must be one of ${JWT_ALGORITHMS.join(', ')}`,
      );
    // The PEM itself, or the path of a file holding it.
    const text = pem.startsWith('-----BEGIN') ? pem : existsSync(pem) ? readFileSync(pem, 'utf8') : undefined;
    if (!text?.includes('-----BEGIN PUBLIC KEY-----'))
      problems.push(
        'environment variable YUNBIAN_JWT_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI) or the path of a file holding one',
      );
    else source = { kind: 'pem', pem: text, algorithm };
  } else if (jwksFile) {
    try {
      const jwks = JSON.parse(readFileSync(jwksFile, 'utf8')) as { keys?: unknown };
      if (!Array.isArray(jwks.keys)) throw new Error('it has no "keys" array');
      source = { kind: 'jwks-file', jwks: jwks as { keys: Record<string, unknown>[] } };
    } catch (err) {
      problems.push(
        `YUNBIAN_JWT_JWKS_FILE="${jwksFile}" is not a readable JWKS (JSON with "keys"): ${(err as Error).message}`,
      );
    }
  } else if (jwksUrl) {
    try {
      const url = new URL(jwksUrl);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
      source = { kind: 'jwks-url', url };
    } catch {
      problems.push(`environment variable YUNBIAN_JWT_JWKS_URL="${jwksUrl}" must be an http(s) URL`);
    }
  }
  const issuer = env.YUNBIAN_JWT_ISSUER?.trim() || undefined;
  const audience = env.YUNBIAN_JWT_AUDIENCE?.trim() || undefined;
  if ((issuer || audience) && !given.length)
    problems.push(
      'YUNBIAN_JWT_ISSUER / YUNBIAN_JWT_AUDIENCE need a key to verify tokens with: set YUNBIAN_JWT_PUBLIC_KEY, YUNBIAN_JWT_JWKS_FILE or YUNBIAN_JWT_JWKS_URL',
    );

  const config: AuthConfig = {
    ...(adminKey ? { adminKey } : {}),
    ...(source ? { jwt: { source, issuer, audience } } : {}),
    rateLimitPerMin: read(() => envInt('YUNBIAN_RATE_LIMIT_PER_MIN', DEFAULT_RATE_LIMIT_PER_MIN, env), 0),
    metricsAuth: read(() => envFlag('YUNBIAN_METRICS_AUTH', false, env), false),
    auditMaxAgeHours: read(() => envInt('YUNBIAN_AUDIT_MAX_AGE_H', 24 * 30, env), 0),
    auditMaxBytes: read(() => envInt('YUNBIAN_AUDIT_MAX_BYTES', 256 * 1024 * 1024, env), 0),
    keyCacheMs: KEY_CACHE_MS,
  };
  if (problems.length) throw new Error(`invalid orchestrator environment:\n  ${problems.join('\n  ')}`);
  return config;
}
