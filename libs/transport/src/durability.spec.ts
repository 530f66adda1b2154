import { JetStreamApiError } from '@nats-io/jetstream';
import {
  bucketDurability,
  describeSync,
  durabilitySummary,
  parseReplicaSetting,
  replicaChange,
  retryingWrite,
  type ReplicaSetting,
} from './durability';
import { natsServers } from './nats-transport';
import type { StreamInfo } from '@nats-io/jetstream';
import type { DurabilityReport } from '@yunbian/contracts';

describe('YUNBIAN_JS_REPLICAS', () => {
  it('defaults to one replica, not set explicitly', () => {
    expect(parseReplicaSetting(undefined)).toEqual({ replicas: 1, explicit: false });
    expect(parseReplicaSetting(' ')).toEqual({ replicas: 1, explicit: false });
  });

  it('takes 1 to 5', () => {
    expect(parseReplicaSetting('3')).toEqual({ replicas: 3, explicit: true });
    expect(parseReplicaSetting('1')).toEqual({ replicas: 1, explicit: true });
    expect(parseReplicaSetting('5')).toEqual({ replicas: 5, explicit: true });
  });

  it.each(['0', '6', '2.5', 'three', '-1'])('refuses %p, naming the variable and what it accepts', (raw) => {
    expect(() => parseReplicaSetting(raw)).toThrow(
      new RegExp(`YUNBIAN_JS_REPLICAS="${raw.replace('.', '\\.')}" must be a whole number from 1 to 5`),
    );
  });
});

describe('replicaChange', () => {
  const explicit = (replicas: number): ReplicaSetting => ({ replicas, explicit: true });

  it('changes an existing stream only when the count was set and differs', () => {
    expect(replicaChange(1, explicit(3))).toBe(3);
    expect(replicaChange(3, explicit(1))).toBe(1);
    expect(replicaChange(3, explicit(3))).toBeUndefined();
  });

  it('leaves existing streams alone when the variable is unset (a process never scales a cluster down by default)', () => {
    expect(replicaChange(3, { replicas: 1, explicit: false })).toBeUndefined();
  });
});

describe('describeSync', () => {
  it('reads always and an interval from /varz', () => {
    expect(describeSync('2.12.1', { jetstream: { config: { sync_always: true } } }).interval).toBe('always');
    expect(describeSync('2.12.1', { jetstream: { config: { sync_interval: 10e9 } } }).interval).toBe('10 s');
    expect(describeSync('2.12.1', { jetstream: { config: {} } }).interval).toBe('2 min');
  });

  it('knows a server older than 2.10 has only the two-minute default', () => {
    const sync = describeSync('2.9.10', undefined);
    expect(sync.interval).toBe('2 min');
    expect(sync.source).toMatch(/2\.9\.10 has no sync_interval/);
  });

  it('says how to find out when it cannot know', () => {
    const sync = describeSync('2.12.1', undefined);
    expect(sync.interval).toBe('unknown');
    expect(sync.source).toMatch(/YUNBIAN_NATS_MONITOR_URL/);
  });
});

describe('durability figures', () => {
  it('counts the leader and the current peers of a clustered stream', () => {
    const info = {
      config: { num_replicas: 3 },
      cluster: {
        leader: 'n2',
        replicas: [
          { name: 'n1', current: true, offline: false, active: 0, lag: 0 },
          { name: 'n3', current: false, offline: true, active: 0, lag: 12 },
        ],
      },
    } as unknown as StreamInfo;
    expect(bucketDurability('KV_yb-runs', info)).toEqual({
      stream: 'KV_yb-runs',
      replicas: 3,
      leader: 'n2',
      current: 2,
    });
  });

  const report = (replicas: number, interval: string): Omit<DurabilityReport, 'summary'> => ({
    replicas: { setting: replicas, explicit: true, variable: 'YUNBIAN_JS_REPLICAS' },
    server: { name: 'n1', version: '2.9.10', clusterSize: replicas },
    sync: { interval, source: 'test' },
    buckets: [{ stream: 'KV_yb-runs', replicas, current: replicas }],
  });

  it('says what each setup survives', () => {
    expect(durabilitySummary(report(1, '2 min'))).toMatch(/one replica.*power loss of the host may lose .* last 2 min/);
    expect(durabilitySummary(report(1, 'always'))).toMatch(/power loss loses no acknowledged write/);
    expect(durabilitySummary(report(3, '2 min'))).toMatch(/3 replicas.*losing 1 server loses nothing/);
  });

  it('judges by the bucket with the fewest replicas', () => {
    const mixed = report(3, 'always');
    mixed.buckets.push({ stream: 'OBJ_yb-payloads', replicas: 1, current: 1 });
    expect(durabilitySummary(mixed)).toMatch(/one replica/);
  });
});

describe('natsServers', () => {
  it('splits a comma-separated NATS_URL', () => {
    expect(natsServers('nats://a:1, nats://b:2,,nats://c:3')).toEqual(['nats://a:1', 'nats://b:2', 'nats://c:3']);
    expect(natsServers(['nats://a:1'])).toEqual(['nats://a:1']);
  });
});

describe('retryingWrite', () => {
  const failing = (failures: unknown[]) => {
    let calls = 0;
    const write = jest.fn(async () => {
      const failure = failures[calls++];
      if (failure) throw failure;
      return calls;
    });
    return write;
  };

  it('retries a write that found no leader (no reply, or 503) until it lands', async () => {
    const unavailable = new JetStreamApiError({ code: 503, err_code: 10008, description: 'temporarily unavailable' });
    const write = failing([new Error('jetstream is not enabled'), unavailable]);
    await expect(retryingWrite(write, 5_000)).resolves.toBe(3);
    expect(write).toHaveBeenCalledTimes(3);
  });

  it('does not retry a refusal', async () => {
    const refused = new JetStreamApiError({ code: 400, err_code: 10071, description: 'wrong last sequence' });
    const write = failing([refused]);
    await expect(retryingWrite(write, 5_000)).rejects.toBe(refused);
    expect(write).toHaveBeenCalledTimes(1);
  });

  it('gives up with the last error after its time, and at once on a closed connection', async () => {
    const down = new Error('TIMEOUT');
    await expect(retryingWrite(failing([down, down, down, down, down]), 100)).rejects.toBe(down);
    const write = failing([down]);
    await expect(retryingWrite(write, 5_000, () => true)).rejects.toBe(down);
    expect(write).toHaveBeenCalledTimes(1);
  });
});
