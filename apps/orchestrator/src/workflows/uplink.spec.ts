import { siteUplinkState, uplinkPlacementError, uplinkState, type UplinkEvidence } from './uplink';

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

describe('siteUplinkState', () => {
  it('judges by the cloud engine and the cloud tier’s nodes only', () => {
    const cloud = { cloudEngine: base.cloudEngine, startedAt: 0, graceMs: 6_000 };
    const nodes = [
      { id: 'edge-box', tier: 'edge' as const, status: 'alive' as const },
      { id: 'cloud-1', tier: 'cloud' as const, status: 'dead' as const, statusReason: 'no heartbeat for 3 s' },
    ];
    expect(siteUplinkState({ site: 'factory-sz', now: 100_000, cloud, nodes })).toEqual(uplinkState(base));
    expect(
      siteUplinkState({ site: 'factory-sz', now: 100_000, cloud, nodes: [{ ...nodes[1], status: 'alive' }] }).down,
    ).toBe(false);
  });
});

describe('uplinkPlacementError', () => {
  const down = { down: true, because: 'the cloud engine cloud-cloud has not been heard from for 12.3 s' } as const;
  const refusal = { code: 'UNAVAILABLE' as const, message: 'big@^1: node cloud-1 is dead' };
  const inCloud = [{ id: 'big-1', nodeId: 'cloud-1', site: 'cloud', tier: 'cloud' as const, status: 'failed' }];

  it('names the unreachable uplink when the service runs only across it', () => {
    const error = uplinkPlacementError({
      site: 'factory-sz',
      service: 'big@^1',
      error: refusal,
      instances: inCloud,
      uplink: down,
    });
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      details: { uplink: 'down', site: 'factory-sz', service: 'big@^1', placement: refusal },
    });
    expect(error!.message).toBe(
      'big@^1 has no instance at site factory-sz: its instances all run across the uplink (big-1 on cloud-1 (cloud, site cloud), failed), but the uplink of site factory-sz to the cloud is down: the cloud engine cloud-cloud has not been heard from for 12.3 s; the step fails once its retries are spent unless the link returns — run an instance of big@^1 at factory-sz to keep it local',
    );
  });

  it('says so too when no instance is known anywhere', () => {
    const error = uplinkPlacementError({
      site: 'factory-sz',
      service: 'big@^1',
      error: refusal,
      instances: [],
      uplink: down,
    });
    expect(error?.message).toMatch(
      /^big@\^1 has no instance at site factory-sz: none is known elsewhere either, but the uplink/,
    );
  });

  it('leaves placement’s refusal alone while the uplink is up, or when the service has an instance at the site', () => {
    expect(
      uplinkPlacementError({
        site: 'factory-sz',
        service: 'big@^1',
        error: refusal,
        instances: inCloud,
        uplink: { down: false },
      }),
    ).toBeUndefined();
    const atSite = [
      ...inCloud,
      { id: 'big-2', nodeId: 'edge-box', site: 'factory-sz', tier: 'edge' as const, status: 'starting' },
    ];
    expect(
      uplinkPlacementError({ site: 'factory-sz', service: 'big@^1', error: refusal, instances: atSite, uplink: down }),
    ).toBeUndefined();
  });
});
