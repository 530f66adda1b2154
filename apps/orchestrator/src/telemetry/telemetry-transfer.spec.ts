import type { StoredReading } from '@yunbian/contracts';
import { selectTransfer, transferProblems, type RawTelemetryMessage } from './telemetry-transfer';

const at = '2026-12-01T10:00:00.000Z';
const msg = (seq: number, r: Partial<StoredReading> & { sensor: string }): RawTelemetryMessage => {
  const reading: StoredReading = { value: seq, at, tier: 'edge-private', site: 'site-a', ...r };
  return { seq, subject: `yb.telemetry.${reading.site}.raw.${reading.tier}.${reading.sensor}`, reading };
};

describe('telemetry user transfer', () => {
  it('selects exactly the user’s edge-private readings of the site they leave, re-addressed to the new site', () => {
    const messages = [
      msg(5, { sensor: 'hr', user: 'u1' }),
      msg(1, { sensor: 'temp', user: 'u1' }),
      msg(2, { sensor: 'temp', user: 'u2' }),
      msg(3, { sensor: 'temp' }),
      msg(4, { sensor: 'temp', user: 'u1', tier: 'public' }),
      msg(6, { sensor: 'temp', user: 'u1', tier: 'user-private' }),
      msg(7, { sensor: 'temp', user: 'u10' }),
    ];
    const items = selectTransfer(messages, 'u1', 'site-a', 'site-b');
    expect(items.map((i) => i.fromSeq)).toEqual([1, 5]);
    expect(items[0]).toEqual({
      fromSeq: 1,
      subject: 'yb.telemetry.site-b.raw.edge-private.temp',
      reading: { sensor: 'temp', user: 'u1', value: 1, at, tier: 'edge-private', site: 'site-b' },
    });
    expect(items[1].subject).toBe('yb.telemetry.site-b.raw.edge-private.hr');
    expect(selectTransfer(messages, 'nobody', 'site-a', 'site-b')).toEqual([]);
  });

  it('ignores a message whose subject does not match its reading', () => {
    const forged = { ...msg(1, { sensor: 'temp', user: 'u1' }), subject: 'yb.telemetry.site-a.raw.public.temp' };
    expect(selectTransfer([forged], 'u1', 'site-a', 'site-b')).toEqual([]);
  });

  it('says what is wrong with a request', () => {
    const sites = ['site-a', 'site-b'];
    expect(transferProblems('u1', { from: 'site-a', to: 'site-b' }, sites)).toEqual([]);
    expect(transferProblems('u1', { from: 'site-a', to: 'site-a' }, sites)).toEqual([
      '"from" and "to" are both "site-a": name two different sites',
    ]);
    expect(transferProblems('u1', { from: 'a.b', to: 'site-b' }, sites)[0]).toMatch(
      /site "from" "a\.b" cannot be used/,
    );
    // The hub's domain is no edge site: edge-private data is never sent there.
    expect(transferProblems('u1', { from: 'site-a', to: 'hub' }, sites)).toEqual([
      '"to": "hub" is no site of a node in the catalogue (sites: site-a, site-b)',
    ]);
  });
});
