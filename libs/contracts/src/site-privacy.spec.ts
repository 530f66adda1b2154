import { domainBucket, siteInboxPrefix, siteLeafDenyExports } from './site-privacy';

describe('site privacy on NATS', () => {
  it('names a bucket after the domain it is in, unless it is the default or own domain', () => {
    expect(domainBucket('yb-payloads', undefined)).toBe('yb-payloads');
    expect(domainBucket('yb-payloads', 'hub', 'hub')).toBe('yb-payloads');
    expect(domainBucket('yb-payloads', 'factory-a', 'hub')).toBe('yb-payloads-factory-a');
    expect(domainBucket('yb-training-checkpoints', 'factory-a')).toBe('yb-training-checkpoints-factory-a');
  });

  it('denies exporting every site-local subject space, and only the site’s own', () => {
    const deny = siteLeafDenyExports('factory-a');
    expect(deny).toEqual([
      'yb.samples.factory-a.>',
      '$O.yb-payloads-factory-a.>',
      '$O.yb-training-checkpoints-factory-a.>',
      '_INBOX_factory-a.>',
      'yb.telemetry.factory-a.raw.>',
    ]);
    // The hub's collections and buckets, and other sites', stay reachable from the site.
    expect(deny.some((s) => s.includes('cloud') || s.includes('factory-b'))).toBe(false);
    expect(deny).not.toContain('$O.yb-payloads.>');
    expect(siteInboxPrefix('factory-a')).toBe('_INBOX_factory-a');
  });

  it('refuses a site name that is not one subject token', () => {
    expect(() => siteLeafDenyExports('a.b')).toThrow(/site name "a\.b" cannot be used in a NATS subject/);
    expect(() => domainBucket('yb-payloads', 'x y')).toThrow(/JetStream domain "x y"/);
  });
});
