import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { loadAuthConfig } from './auth-config';
import { createJwtVerifier, principalOfClaims, TokenRefused } from './jwt-verifier';

async function sign(key: CryptoKey, claims: Record<string, unknown>, exp = '5m', kid?: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', ...(kid ? { kid } : {}) })
    .setSubject('alice')
    .setIssuer('https://idp.example')
    .setAudience('yunbian')
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(key);
}

describe('JWT verification', () => {
  let pair: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  let pem: string;

  beforeAll(async () => {
    pair = await generateKeyPair('RS256');
    other = await generateKeyPair('RS256');
    pem = await exportSPKI(pair.publicKey);
  });

  it('accepts a token signed by the configured key, role and sites from the claims', async () => {
    const config = loadAuthConfig({ YUNBIAN_JWT_PUBLIC_KEY: pem, YUNBIAN_JWT_ISSUER: 'https://idp.example' });
    const verify = await createJwtVerifier(config.jwt!);
    await expect(
      verify(await sign(pair.privateKey, { yunbian_role: 'operator', yunbian_sites: ['s1'] })),
    ).resolves.toEqual({
      kind: 'jwt',
      id: 'alice',
      role: 'operator',
      sites: ['s1'],
    });
    await expect(verify(await sign(pair.privateKey, { role: 'viewer' }))).resolves.toMatchObject({ role: 'viewer' });
  });

  it('refuses a wrong signature, an expired token, a wrong issuer and a missing role, saying which', async () => {
    const verify = await createJwtVerifier(
      loadAuthConfig({
        YUNBIAN_JWT_PUBLIC_KEY: pem,
        YUNBIAN_JWT_ISSUER: 'https://idp.example',
        YUNBIAN_JWT_AUDIENCE: 'yunbian',
      }).jwt!,
    );
    await expect(verify(await sign(other.privateKey, { role: 'admin' }))).rejects.toThrow('signature does not verify');
    await expect(verify(await sign(pair.privateKey, { role: 'admin' }, '-1m'))).rejects.toThrow('expired');
    await expect(verify(await sign(pair.privateKey, {}))).rejects.toThrow(TokenRefused);
    const wrongIssuer = await createJwtVerifier(
      loadAuthConfig({ YUNBIAN_JWT_PUBLIC_KEY: pem, YUNBIAN_JWT_ISSUER: 'https://other' }).jwt!,
    );
    await expect(wrongIssuer(await sign(pair.privateKey, { role: 'admin' }))).rejects.toThrow('"iss" claim');
  });

  it('verifies against a local JWKS file by kid', async () => {
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' };
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync(`${(await import('node:os')).tmpdir()}/jwks-`);
    writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys: [jwk] }));
    const verify = await createJwtVerifier(loadAuthConfig({ YUNBIAN_JWT_JWKS_FILE: `${dir}/jwks.json` }).jwt!);
    await expect(verify(await sign(pair.privateKey, { role: 'admin' }, '5m', 'k1'))).resolves.toMatchObject({
      role: 'admin',
    });
    await expect(verify(await sign(other.privateKey, { role: 'admin' }, '5m', 'k1'))).rejects.toThrow(TokenRefused);
  });

  it('names the accepted roles for an unknown one', () => {
    expect(() => principalOfClaims({ sub: 'a', role: 'root' })).toThrow('accepted: viewer, operator, admin');
    expect(() => principalOfClaims({ role: 'admin' })).toThrow('"sub"');
  });
});

describe('auth config', () => {
  it('reads defaults and names every bad variable', () => {
    expect(loadAuthConfig({})).toMatchObject({ rateLimitPerMin: 600, metricsAuth: false, keyCacheMs: 1000 });
    expect(loadAuthConfig({ YUNBIAN_ADMIN_KEY: 'yb_admin0_0123456789abcdefghijklmn' }).adminKey).toEqual({
      id: 'admin0',
      secret: '0123456789abcdefghijklmn',
    });
    let message = '';
    try {
      loadAuthConfig({
        YUNBIAN_ADMIN_KEY: 'secret',
        YUNBIAN_RATE_LIMIT_PER_MIN: '0',
        YUNBIAN_JWT_PUBLIC_KEY: 'nope',
        YUNBIAN_JWT_JWKS_URL: 'https://idp/jwks',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('YUNBIAN_ADMIN_KEY must have the form yb_<id>_<secret>');
    expect(message).toContain('YUNBIAN_RATE_LIMIT_PER_MIN="0" must be a positive integer');
    expect(message).toContain('set one of YUNBIAN_JWT_PUBLIC_KEY, YUNBIAN_JWT_JWKS_URL');
    expect(() => loadAuthConfig({ YUNBIAN_JWT_PUBLIC_KEY: 'nope' })).toThrow('must be a PEM public key');
    expect(() => loadAuthConfig({ YUNBIAN_JWT_ISSUER: 'x' })).toThrow('need a key to verify tokens with');
  });
});
