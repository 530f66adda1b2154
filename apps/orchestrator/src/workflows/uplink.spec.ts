import { uplinkState, type UplinkEvidence } from './uplink';

const base: UplinkEvidence = {
  site: 'factory-sz',
  now: 100_000,
  startedAt: 0,
  graceMs: 6_000,
  cloudEngine: { live: false, id: 'cloud-cloud', silentMs: 12_345, reason: 'its announcements stopped' },
  cloudNodes: [{ id: 'cloud-1', status: 'dead', statusReason: 'no heartbeat for 3 s' }],
};

describe('uplinkState', () => {
  it('is down when the cloud engine and every cloud node went silent, saying so', () => {
    expect(uplinkState(base)).toEqual({
      down: true,
      because:
        'the cloud engine cloud-cloud has not been heard from for 12.3 s nor any cloud node (cloud-1 dead: no heartbeat for 3 s)',
    });
  });

  it('is up while the cloud engine announces, or while any cloud node is alive', () => {
    expect(uplinkState({ ...base, cloudEngine: { live: true, id: 'cloud-cloud' } })).toEqual({ down: false });
    expect(uplinkState({ ...base, cloudNodes: [...base.cloudNodes, { id: 'cloud-2', status: 'alive' }] })).toEqual({
      down: false,
    });
  });

  it('a suspect cloud node is not evidence the link carries traffic', () => {
    expect(uplinkState({ ...base, cloudNodes: [{ id: 'cloud-1', status: 'suspect' }] }).down).toBe(true);
  });

  it('after a restart with the link cut: down once the grace has passed without a cloud announcement', () => {
    const restarted: UplinkEvidence = { ...base, startedAt: 97_000, cloudEngine: { live: false }, cloudNodes: [] };
    expect(uplinkState(restarted)).toEqual({ down: false });
    expect(uplinkState({ ...restarted, now: 104_000 })).toEqual({
      down: true,
      because: 'no cloud engine has been heard from since this engine started 7 s ago and no cloud node is known here',
    });
  });
});
