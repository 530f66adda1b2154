import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Principal } from '@yunbian/contracts';
import { keyProblem, parseApiKey, principalOfKey } from './api-key';
import { ApiKeyStore } from './api-key.store';
import { AUTH_CONFIG, type AuthConfig } from './auth-tokens';
import { createJwtVerifier, TokenRefused, type JwtVerifier } from './jwt-verifier';

/** What authentication found: a principal, nothing (no credential) or why the credential is refused. */
export type Authentication = { principal: Principal } | { problem: string; presented: boolean };

export const BEARER_FORMAT = 'Authorization: Bearer <API key yb_… or JWT>';

/** Verifies `Authorization: Bearer …` credentials: API keys against the key store, JWTs against the configured key. */
@Injectable()
export class AuthService implements OnModuleInit {
  private jwt?: JwtVerifier;

  constructor(
    @Inject(ApiKeyStore) private readonly keys: ApiKeyStore,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.jwt) this.jwt = await createJwtVerifier(this.config.jwt);
  }

  async authenticate(authorization: string | string[] | undefined): Promise<Authentication> {
    if (authorization === undefined || authorization === '')
      return { problem: `no credential: send ${BEARER_FORMAT}`, presented: false };
    const header = Array.isArray(authorization) ? authorization[0]! : authorization;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return { problem: `the Authorization header must be ${BEARER_FORMAT}`, presented: true };
    const credential = match[1]!;
    if (credential.startsWith('yb_')) {
      const parsed = parseApiKey(credential);
      if (!parsed) return { problem: 'malformed API key (expected yb_<id>_<secret>)', presented: true };
      const record = await this.keys.lookup(parsed.id);
      const problem = keyProblem(record, parsed.secret, new Date());
      return problem ? { problem, presented: true } : { principal: principalOfKey(record!) };
    }
    if (credential.split('.').length === 3) {
      if (!this.jwt)
        return {
          problem:
            'bearer tokens (JWTs) are not accepted here: no YUNBIAN_JWT_PUBLIC_KEY, YUNBIAN_JWT_JWKS_FILE or YUNBIAN_JWT_JWKS_URL is configured; use an API key',
          presented: true,
        };
      try {
        return { principal: await this.jwt(credential) };
      } catch (err) {
        if (err instanceof TokenRefused) return { problem: err.message, presented: true };
        throw err;
      }
    }
    return { problem: 'the credential is neither an API key (yb_…) nor a JWT', presented: true };
  }
}
