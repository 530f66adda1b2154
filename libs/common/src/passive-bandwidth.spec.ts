import { DEFAULT_PASSIVE_SAMPLE, PassiveBandwidth, passiveBandwidthSample } from './passive-bandwidth';

const KIB = 1024;

describe('passiveBandwidthSample', () => {
  it('takes the dominant direction’s bytes over elapsed − handler − RTT', () => {
    // 250,000 bytes in (1 + 20 + 10) − 1 − 10 = 20 ms → 100 Mbit/s.
    const s = passiveBandwidthSample(
      { requestBytes: 250_000, replyBytes: 100, elapsedMs: 31, handlerMs: 1 },
      10,
      DEFAULT_PASSIVE_SAMPLE,
    );
    expect(s).toEqual({ ok: true, mbps: 100, direction: 'to-node', bytes: 250_000, transferMs: 20 });
  });

  it('names the reply’s direction when the output is the large part', () => {
    const s = passiveBandwidthSample({ requestBytes: 200, replyBytes: 200_000, elapsedMs: 100, handlerMs: 40 }, 20);
    expect(s).toMatchObject({ ok: true, direction: 'from-node', bytes: 200_000, transferMs: 40 });
    // 200,000 bytes × 8 / 40 ms = 40 Mbit/s.
    expect(s.ok && s.mbps).toBeCloseTo(40, 9);
  });

  it('rejects exchanges below the byte threshold, and ones with much in both directions', () => {
    expect(passiveBandwidthSample({ requestBytes: 100 * KIB, replyBytes: 0, elapsedMs: 50, handlerMs: 1 }, 5)).toEqual({
      ok: false,
      reason: 'too-small',
    });
    // 128 KiB exactly is enough.
    expect(passiveBandwidthSample({ requestBytes: 128 * KIB, replyBytes: 0, elapsedMs: 50, handlerMs: 1 }, 5).ok).toBe(
      true,
    );
    // 150 KiB + 50 KiB: the larger is 75 % of the bytes, under the 90 % asked for.
    expect(
      passiveBandwidthSample({ requestBytes: 150 * KIB, replyBytes: 50 * KIB, elapsedMs: 50, handlerMs: 1 }, 5),
    ).toEqual({ ok: false, reason: 'mixed' });
  });

  it('rejects negative, impossible or unmeasurable transfer times', () => {
    const big = { requestBytes: 200 * KIB, replyBytes: 10 };
    // The round trip is longer than the network time: a negative transfer.
    expect(passiveBandwidthSample({ ...big, elapsedMs: 12, handlerMs: 5 }, 10)).toEqual({
      ok: false,
      reason: 'rtt-bound',
    });
    // Transfer 0.5 ms of 10.5 ms network time: under a tenth, the RTT's error would dominate.
    expect(passiveBandwidthSample({ ...big, elapsedMs: 15.5, handlerMs: 5 }, 10)).toEqual({
      ok: false,
      reason: 'rtt-bound',
    });
    // The responder says it worked longer than the whole exchange.
    expect(passiveBandwidthSample({ ...big, elapsedMs: 20, handlerMs: 30 }, 1)).toEqual({
      ok: false,
      reason: 'inconsistent',
    });
    expect(passiveBandwidthSample({ ...big, elapsedMs: NaN, handlerMs: 1 }, 1)).toEqual({
      ok: false,
      reason: 'inconsistent',
    });
    expect(passiveBandwidthSample({ ...big, elapsedMs: 20, handlerMs: -1 }, 1)).toEqual({
      ok: false,
      reason: 'inconsistent',
    });
    // 200 KiB in a microsecond: no link is that fast.
    expect(passiveBandwidthSample({ ...big, elapsedMs: 0.001, handlerMs: 0 }, 0)).toEqual({
      ok: false,
      reason: 'inconsistent',
    });
    expect(passiveBandwidthSample({ ...big, elapsedMs: 20, handlerMs: undefined }, 1)).toEqual({
      ok: false,
      reason: 'no-handler-time',
    });
    expect(passiveBandwidthSample({ ...big, elapsedMs: 20, handlerMs: 1 }, undefined)).toEqual({
      ok: false,
      reason: 'no-rtt',
    });
  });
});

describe('PassiveBandwidth', () => {
  it('keeps a median per node, with the newest sample’s time and direction', () => {
    const p = new PassiveBandwidth();
    expect(p.figure('n1')).toBeUndefined();
    p.add('n1', { mbps: 10, direction: 'to-node' }, 1_000);
    p.add('n1', { mbps: 14, direction: 'to-node' }, 2_000);
    const f = p.add('n1', { mbps: 12, direction: 'from-node' }, 3_000);
    expect(f).toEqual({ mbps: 12, measuredAt: 3_000, samples: 3, direction: 'from-node' });
    // One disturbed sample does not move the median much; other nodes are apart.
    expect(p.add('n1', { mbps: 1, direction: 'to-node' }, 4_000)?.mbps).toBe(11);
    expect(p.add('n2', { mbps: 50, direction: 'to-node' }, 4_000)).toMatchObject({ mbps: 50, samples: 1 });
    p.forget('n1');
    expect(p.figure('n1')).toBeUndefined();
  });
});
