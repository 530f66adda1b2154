import { createLocalJWKSet, createRemoteJWKSet, errors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { Roles, type Principal, type Role } from '@yunbian/contracts';
import type { JwtConfig } from './auth-config';

/** Thrown for a token that is refused: the message says why (expired, bad signature, no role…). */
export class TokenRefused extends Error {}

export type JwtVerifier = (token: string) => Promise<Principal>;

/** The principal a verified token's claims name: role from `yunbian_role` or `role`, sites from `yunbian_sites`. */
export function principalOfClaims(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || !payload.sub) throw new TokenRefused('the token has no "sub" claim');
  const raw = payload.yunbian_role ?? payload.role;
  if (typeof raw !== 'string' || !(Roles as readonly string[]).includes(raw))
    throw new TokenRefused(
      `the token's role claim (yunbian_role or role) is ${JSON.stringify(raw ?? null)}; accepted: ${Roles.join(', ')}`,
    );
  const sites = payload.yunbian_sites;
  if (sites !== undefined && (!Array.isArray(sites) || !sites.every((s) => typeof s === 'string')))
    throw new TokenRefused('the token\'s "yunbian_sites" claim must be an array of site names');
  return { kind: 'jwt', id: payload.sub, role: raw as Role, ...(sites ? { sites: sites as string[] } : {}) };
}

/** A verifier for the configured key source; no network fetch unless a JWKS URL is configured. */
export async function createJwtVerifier(config: JwtConfig): Promise<JwtVerifier> {
  const { source } = config;
  const key =
    source.kind === 'pem'
      ? await importSPKI(source.pem, source.algorithm)
      : source.kind === 'jwks-file'
        ? createLocalJWKSet(source.jwks as unknown as Parameters<typeof createLocalJWKSet>[0])
        : createRemoteJWKSet(source.url);
  const options = {
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
    ...(source.kind === 'pem' ? { algorithms: [source.algorithm] } : {}),
  };
  return async (token) => {
    try {
      const { payload } =
        typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return principalOfClaims(payload);
    } catch (err) {
      if (err instanceof TokenRefused) throw err;
      if (err instanceof errors.JWTExpired) throw new TokenRefused(`the token expired (exp ${err.payload.exp})`);
      if (err instanceof errors.JWSSignatureVerificationFailed)
        throw new TokenRefused('the token signature does not verify against the configured key');
      if (err instanceof errors.JWTClaimValidationFailed)
        throw new TokenRefused(`the token's "${err.claim}" claim is refused: ${err.reason}`);
      throw new TokenRefused(`the token is refused: ${(err as Error).message}`);
    }
  };
}
