import type { Principal } from '@yunbian/contracts';
import {
  generateApiKey,
  hashSecret,
  keyProblem,
  keyRequestProblem,
  keyView,
  newKeyRecord,
  parseApiKey,
  principalOfKey,
  roleIncludes,
} from './api-key';
import { siteProblem } from './site-scope';

const NOW = new Date('2026-06-01T00:00:00Z');

describe('API keys', () => {
  it('generates keys that parse back into their id and secret, each different', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^yb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(parseApiKey(a.key)).toEqual({ id: a.id, secret: a.secret });
    expect(a.key).not.toBe(b.key);
  });

  it('parses secrets that contain underscores (base64url) and refuses other shapes', () => {
    expect(parseApiKey('yb_abcd_0123456789_abcdefghij-xyz')).toEqual({
      id: 'abcd',
      secret: '0123456789_abcdefghij-xyz',
    });
    for (const bad of [
      '',
      'yb_',
      'yb_abc_01234567890123456789',
      'xx_abcd_01234567890123456789',
      'yb_ab.cd_01234567890123456789',
      'yb_abcd_short',
    ])
      expect(parseApiKey(bad)).toBeUndefined();
  });

  it('stores only a hash bound to the id, and accepts the right secret only', () => {
    const key = generateApiKey();
    const record = newKeyRecord(key, { name: 'ci', role: 'operator' }, 'admin1', NOW);
    expect(JSON.stringify(record)).not.toContain(key.secret);
    expect(record.hash).toBe(hashSecret(key.id, key.secret));
    expect(hashSecret('other', key.secret)).not.toBe(record.hash);
    expect(keyProblem(record, key.secret, NOW)).toBeUndefined();
    expect(keyProblem(record, key.secret + 'x', NOW)).toBe('unknown or revoked API key');
    expect(keyProblem(undefined, key.secret, NOW)).toBe('unknown or revoked API key');
    expect(keyView(record)).not.toHaveProperty('hash');
    expect(principalOfKey(record)).toEqual({ kind: 'key', id: key.id, name: 'ci', role: 'operator' });
  });

  it('refuses a key after its expiry, naming it', () => {
    const key = generateApiKey();
    const record = newKeyRecord(key, { name: 'x', role: 'viewer', expiresAt: '2026-06-01T00:00:01Z' }, 'a', NOW);
    expect(keyProblem(record, key.secret, NOW)).toBeUndefined();
    expect(keyProblem(record, key.secret, new Date('2026-06-01T00:00:01Z'))).toBe(
      `API key ${key.id} expired at 2026-06-01T00:00:01.000Z`,
    );
  });

  it('orders roles: admin ⊇ operator ⊇ viewer', () => {
    expect(roleIncludes('admin', 'operator')).toBe(true);
    expect(roleIncludes('operator', 'viewer')).toBe(true);
    expect(roleIncludes('operator', 'admin')).toBe(false);
    expect(roleIncludes('viewer', 'operator')).toBe(false);
  });

  it('keeps a site-scoped creator from minting wider keys or keys already expired', () => {
    const scoped: Principal = { kind: 'key', id: 'a', role: 'admin', sites: ['factory-sz'] };
    const global: Principal = { kind: 'key', id: 'b', role: 'admin' };
    expect(keyRequestProblem({ name: 'n', role: 'viewer' }, global, NOW)).toBeUndefined();
    expect(keyRequestProblem({ name: 'n', role: 'viewer' }, scoped, NOW)).toContain('give the new key sites');
    expect(keyRequestProblem({ name: 'n', role: 'viewer', sites: ['store-hz'] }, scoped, NOW)).toContain(
      'not store-hz',
    );
    expect(keyRequestProblem({ name: 'n', role: 'viewer', sites: ['factory-sz'] }, scoped, NOW)).toBeUndefined();
    expect(keyRequestProblem({ name: 'n', role: 'viewer', expiresAt: '2020-01-01T00:00:00Z' }, global, NOW)).toContain(
      'not in the future',
    );
  });
});

describe('site scope', () => {
  it('lets unscoped credentials through and scoped ones to their sites only', () => {
    expect(siteProblem({ kind: 'key', id: 'a', role: 'operator' }, 'x', 'node n')).toBeUndefined();
    const scoped: Principal = { kind: 'jwt', id: 'u', role: 'operator', sites: ['s1', 's2'] };
    expect(siteProblem(scoped, 's2', 'node n')).toBeUndefined();
    expect(siteProblem(scoped, 's3', 'node n')).toBe(
      'node n is at site s3; your credential is limited to sites s1, s2',
    );
    expect(siteProblem(scoped, undefined, 'run r')).toContain('at no site');
  });
});
