import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decode } from '@nats-io/jwt';
import {
  accountJwt,
  createNatsTrust,
  ensureNatsTrust,
  issueNatsUserWithKey,
  loadNatsTrust,
  NatsTrustFiles,
} from './nats-trust';

describe('NATS trust', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-trust-spec-'));

  it('creates an operator, accounts and credentials, keeps seeds private, and loads them back', async () => {
    const trust = await createNatsTrust(dir);
    expect(statSync(path.join(dir, NatsTrustFiles.accountSeed)).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, NatsTrustFiles.adminCreds), 'utf8')).toContain('BEGIN NATS USER JWT');
    const loaded = loadNatsTrust(dir);
    expect(loaded).toEqual(trust);
    expect((await ensureNatsTrust(dir)).accountKey).toBe(trust.accountKey);
    expect(readFileSync(path.join(dir, NatsTrustFiles.serverAuth), 'utf8')).toContain(
      `system_account: "${trust.systemAccount}"`,
    );
  });

  it('signs users with their permissions, and account JWTs with the revoked user keys', async () => {
    const trust = loadNatsTrust(dir);
    const { creds, publicKey } = await issueNatsUserWithKey(trust, 'node x', { pub: { allow: ['a.b'] } });
    const userJwt = creds.split('\n').find((l) => l.startsWith('eyJ'))!;
    const claims = decode<{ pub: { allow: string[] } }>(userJwt);
    expect(claims.sub).toBe(publicKey);
    expect(claims.iss).toBe(trust.accountKey);
    expect(claims.nats.pub).toEqual({ allow: ['a.b'] });
    const account = decode<{ revocations: Record<string, number> }>(await accountJwt(trust, { [publicKey]: 1234 }));
    expect(account.sub).toBe(trust.accountKey);
    expect(account.nats.revocations).toEqual({ [publicKey]: 1234 });
  });

  it('says how to create a trust when the directory has none', () => {
    expect(() => loadNatsTrust(path.join(dir, 'missing'))).toThrow(/nats-trust\/main\.js init/);
  });
});
