import type { RunRecord } from '@yunbian/workflow';
import {
  duplicateEngineMessage,
  engineLeaseKey,
  executedByReplica,
  executingReplicas,
  replicaOfKey,
  takeoverReason,
} from './replica-rules';

const run = (id: string, status: RunRecord['status'], executedBy?: RunRecord['executedBy']) =>
  ({ id, status, executedBy }) as RunRecord;

describe('replica rules', () => {
  it('names leases by engine id and back', () => {
    expect(engineLeaseKey('cloud-a')).toBe('engine.cloud-a');
    expect(replicaOfKey('engine.cloud-a')).toBe('cloud-a');
  });

  it('gives a replica only the runs its executedBy names (records without one are the default engine’s)', () => {
    const a = run('1', 'running', { kind: 'cloud', id: 'cloud-a', reason: '' });
    const embedded = run('2', 'running', { kind: 'embedded', id: 'cloud-a', reason: '' });
    const legacy = run('3', 'running');
    expect(executedByReplica(a, 'cloud-a')).toBe(true);
    expect(executedByReplica(a, 'cloud-b')).toBe(false);
    expect(executedByReplica(embedded, 'cloud-a')).toBe(false);
    expect(executedByReplica(legacy, 'cloud-cloud')).toBe(true);
    expect(executedByReplica(legacy, 'cloud-a')).toBe(false);
  });

  it('lists the cloud engines running runs name, once each', () => {
    expect(
      executingReplicas([
        run('1', 'running', { kind: 'cloud', id: 'cloud-b', reason: '' }),
        run('2', 'running', { kind: 'cloud', id: 'cloud-b', reason: '' }),
        run('3', 'succeeded', { kind: 'cloud', id: 'cloud-c', reason: '' }),
        run('4', 'running', { kind: 'embedded', id: 'e1', reason: '' }),
        run('5', 'running'),
      ]),
    ).toEqual(['cloud-b', 'cloud-cloud']);
  });

  it('says why a takeover happens, and tells a duplicate id what to set', () => {
    expect(takeoverReason('cloud-b', { holder: 'cloud-b', at: '' }, 3_200, 3_000)).toMatch(
      /lease of replica cloud-b was not renewed for 3.2 s \(lease 3 s\)/,
    );
    expect(takeoverReason('cloud-b', { left: true, at: '' }, 0, 3_000)).toMatch(/left \(clean shutdown\)/);
    expect(takeoverReason('cloud-b', { takenOverBy: 'cloud-c', at: '' }, 0, 3_000)).toMatch(
      /cloud-c began taking over the runs of cloud-b but did not finish/,
    );
    expect(duplicateEngineMessage('cloud-a', { holder: 'cloud-a', host: 'h1', pid: 42, at: '' })).toMatch(
      /engine id cloud-a is held by another live orchestrator \(host h1, pid 42\).*set distinct YUNBIAN_ENGINE_IDs/,
    );
  });
});
