import { LocalNatsServer } from '@yunbian/common';
import {
  claimOf,
  HeldLease,
  holderValidUntil,
  LeaseBucket,
  LeaseLost,
  observe,
  observedExpired,
  parseLeaseMs,
  renewIntervalMs,
} from './leases';
import { NatsTransport } from './nats-transport';

// These start a real nats-server: on a loaded machine that alone can take longer than Jest's 5 s default.
jest.setTimeout(30_000);

describe('lease expiry and validity (pure)', () => {
  it('moves the observed time only when the revision moves forward', () => {
    const first = observe(undefined, { revision: 4, deleted: false }, 100);
    expect(first.changedAt).toBe(100);
    expect(observe(first, { revision: 4, deleted: false }, 900)).toBe(first);
    expect(observe(first, { revision: 3, deleted: false }, 900)).toBe(first);
    expect(observe(first, { revision: 5, deleted: false }, 900).changedAt).toBe(900);
  });

  it('counts a lease expired only after a whole lease without a change on the observer’s clock', () => {
    const seen = observe(undefined, { revision: 1, deleted: false }, 1_000);
    expect(observedExpired(seen, 1_000 + 2_999, 3_000)).toBe(false);
    expect(observedExpired(seen, 1_000 + 3_000, 3_000)).toBe(true);
    // An absent lease is not "expired": it is claimed by creating it.
    expect(observedExpired(observe(undefined, { revision: 2, deleted: true }, 0), 10_000, 3_000)).toBe(false);
    expect(observedExpired(undefined, 10_000, 3_000)).toBe(false);
  });

  it('has the holder stop believing before any observer may take over', () => {
    const leaseMs = 3_000;
    const sentAt = 5_000;
    // The earliest an observer sees the renewal is when it was sent; it waits a whole lease from then.
    const earliestTakeover = sentAt + leaseMs;
    expect(holderValidUntil(sentAt, leaseMs)).toBeLessThan(earliestTakeover);
    expect(holderValidUntil(sentAt, leaseMs)).toBeGreaterThan(sentAt + renewIntervalMs(leaseMs) * 2);
  });

  it('claims by create when absent, by update of the expired revision, else waits', () => {
    expect(claimOf(undefined, 0, 1_000)).toEqual({ how: 'create' });
    expect(claimOf({ revision: 7, deleted: true, changedAt: 0 }, 0, 1_000)).toEqual({ how: 'create' });
    expect(claimOf({ revision: 7, deleted: false, changedAt: 0 }, 500, 1_000)).toEqual({ how: 'wait' });
    expect(claimOf({ revision: 7, deleted: false, changedAt: 0 }, 1_000, 1_000)).toEqual({
      how: 'update',
      revision: 7,
    });
    // A holder that left (clean shutdown) is claimed at once.
    expect(claimOf({ revision: 8, deleted: false, changedAt: 0, value: { left: true, at: '' } }, 1, 1_000)).toEqual({
      how: 'update',
      revision: 8,
    });
  });

  it('validates YUNBIAN_LEASE_MS, saying what is accepted', () => {
    expect(parseLeaseMs(undefined)).toBe(10_000);
    expect(parseLeaseMs(' 3000 ')).toBe(3_000);
    expect(() => parseLeaseMs('10s')).toThrow(/YUNBIAN_LEASE_MS="10s" must be a whole number of milliseconds from 300/);
    expect(() => parseLeaseMs('100')).toThrow(/from 300 to 600000/);
  });
});

describe('LeaseBucket and HeldLease (real nats-server with JetStream)', () => {
  let server: LocalNatsServer;
  const transports: NatsTransport[] = [];
  const connect = async () => {
    const t = await NatsTransport.connect({ servers: server.url, name: 'leases' });
    transports.push(t);
    return t;
  };

  beforeAll(async () => {
    server = await LocalNatsServer.start();
  });
  afterAll(async () => {
    for (const t of transports) await t.close();
    await server.stop();
  });

  it('lets exactly one of two observers claim an expired lease, and the old holder finds it lost', async () => {
    let clockA = 0;
    let clockB = 0;
    const a = await LeaseBucket.open(await connect(), { leaseMs: 1_000, now: () => clockA });
    const b = await LeaseBucket.open(await connect(), { leaseMs: 1_000, now: () => clockB });
    const c = await LeaseBucket.open(await connect(), { leaseMs: 1_000, now: () => clockB });
    const revision = await a.claim('engine.x', { holder: 'x', at: 'now' });
    expect(revision).toBeGreaterThan(0);
    // A second claim of a lease that is held and fresh is refused without a write.
    expect(await a.claim('engine.x', { holder: 'y', at: 'now' })).toBeUndefined();
    const lostErrors: LeaseLost[] = [];
    const held = new HeldLease({
      bucket: a,
      key: 'engine.x',
      value: { holder: 'x', at: 'now' },
      revision: revision!,
      sentAt: clockA,
      now: () => clockA,
      onLost: (err) => lostErrors.push(err),
    });
    expect(held.fresh()).toBe(true);
    await waitFor(() => b.observation('engine.x') !== undefined && c.observation('engine.x') !== undefined);
    expect(b.expired('engine.x')).toBe(false);
    // The holder is hung: a whole lease passes on the observers' clocks, and on the holder's.
    clockB += 1_000;
    clockA += 1_000;
    expect(held.fresh()).toBe(false);
    const claims = await Promise.all([
      b.claim('engine.x', { takenOverBy: 'b', from: 'x', at: 'now' }),
      c.claim('engine.x', { takenOverBy: 'c', from: 'x', at: 'now' }),
    ]);
    expect(claims.filter((r) => r !== undefined)).toHaveLength(1);
    // The holder wakes: it waits for a renewal before acting, and the renewal finds the lease taken.
    await expect(held.whenFresh()).rejects.toBeInstanceOf(LeaseLost);
    expect(lostErrors).toHaveLength(1);
    expect(held.fresh()).toBe(false);
    await held.stop();
    for (const bucket of [a, b, c]) bucket.close();
  });

  it('renews a held lease so observers never see it expire, and releases it on a clean stop', async () => {
    const holder = await LeaseBucket.open(await connect(), { leaseMs: 600 });
    const observer = await LeaseBucket.open(await connect(), { leaseMs: 600 });
    const revision = (await holder.claim('engine.r', { holder: 'r', at: 'now' }))!;
    const held = new HeldLease({
      bucket: holder,
      key: 'engine.r',
      value: { holder: 'r', at: 'now' },
      revision,
      sentAt: performance.now(),
    });
    await waitFor(() => observer.observation('engine.r') !== undefined);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(observer.observation('engine.r')!.revision).toBeGreaterThan(revision);
    expect(observer.expired('engine.r')).toBe(false);
    await held.whenFresh();
    await held.stop('delete');
    await waitFor(() => observer.observation('engine.r')?.deleted === true);
    expect(await observer.claim('engine.r', { holder: 's', at: 'now' })).toBeGreaterThan(0);
    holder.close();
    observer.close();
  });
});

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
