import { YunbianError } from '@yunbian/contracts';
import { consumerName, decodeBody, isPermanent, queueGroup, runsHere, triggerSource } from './trigger-plan';

const encode = (text: string) => new TextEncoder().encode(text);

describe('trigger plan', () => {
  it('names one durable consumer per (workflow, trigger), valid for JetStream and never shared', () => {
    const name = consumerName('ingest', 'orders');
    expect(name).toMatch(/^yb-trigger-ingest-orders-[0-9a-f]{8}$/);
    expect(consumerName('ingest', 'orders')).toBe(name);
    // Same text once joined with "-", different triggers.
    expect(consumerName('a-b', 'c')).not.toBe(consumerName('a', 'b-c'));
    expect(name).not.toMatch(/[.*>\s]/);
    expect(queueGroup('ingest', 'readings')).toBe('yb-trigger.ingest.readings');
  });

  it('reads a message body as JSON, else as text', () => {
    expect(decodeBody(encode('{"a":1}'))).toEqual({ a: 1 });
    expect(decodeBody(encode('42'))).toBe(42);
    expect(decodeBody(encode('plain text'))).toBe('plain text');
    expect(decodeBody(new Uint8Array(0))).toBeUndefined();
  });

  it('runs a trigger without a site on the cloud engine, one with a site on that site engine', () => {
    const cloud = { mode: 'cloud' as const, site: 'cloud', id: 'cloud-cloud' };
    const edge = { mode: 'site' as const, site: 'site-a', id: 'site-site-a' };
    expect(runsHere(undefined, cloud)).toEqual({ here: true, site: 'cloud' });
    expect(runsHere(undefined, edge)).toMatchObject({
      here: false,
      site: 'cloud',
      reason: expect.stringMatching(/cloud engine/),
    });
    expect(runsHere('site-a', edge)).toEqual({ here: true, site: 'site-a' });
    expect(runsHere('site-a', cloud)).toEqual({
      here: false,
      site: 'site-a',
      reason: 'runs on the engine of site site-a; this engine (cloud-cloud) executes at cloud',
    });
  });

  it('tells failures that come back on every redelivery from those worth retrying', () => {
    expect(isPermanent(new YunbianError('VALIDATION_FAILED', 'bad input'))).toBe(true);
    expect(isPermanent(new YunbianError('NOT_FOUND', 'workflow gone'))).toBe(true);
    expect(isPermanent(new YunbianError('UNAVAILABLE', 'store down'))).toBe(false);
    expect(isPermanent(new Error('timeout'))).toBe(false);
  });

  it('says what a trigger listens to', () => {
    expect(triggerSource({ subject: 'a.*' })).toBe('a.*');
    expect(triggerSource({ stream: 'S', filter: 's.x' })).toBe('S (s.x)');
    expect(triggerSource({ schedule: '0 * * * *', timezone: 'UTC' })).toBe('0 * * * * (UTC)');
  });
});
