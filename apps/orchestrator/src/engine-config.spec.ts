import { loadEngineConfig } from './engine-config';

describe('loadEngineConfig', () => {
  it('defaults to the cloud engine in the hub’s JetStream', () => {
    expect(loadEngineConfig({})).toEqual({
      mode: 'cloud',
      site: 'cloud',
      id: 'cloud-cloud',
      announceMs: 2_000,
      lostAfterIntervals: 3,
      leaseMs: 10_000,
    });
  });

  it('puts a site engine’s runs in its site’s domain and reads the cloud’s state from the hub’s', () => {
    expect(loadEngineConfig({ YUNBIAN_ENGINE_MODE: 'site', YUNBIAN_SITE: 'factory-sz' })).toEqual({
      mode: 'site',
      site: 'factory-sz',
      id: 'site-factory-sz',
      runDomain: 'factory-sz',
      hubDomain: 'hub',
      announceMs: 2_000,
      lostAfterIntervals: 3,
      leaseMs: 10_000,
    });
    expect(
      loadEngineConfig({
        YUNBIAN_ENGINE_MODE: 'site',
        YUNBIAN_SITE: 'a',
        YUNBIAN_RUN_DOMAIN: 'dom-a',
        YUNBIAN_HUB_DOMAIN: 'core',
        YUNBIAN_ENGINE_ANNOUNCE_MS: '500',
      }),
    ).toMatchObject({ runDomain: 'dom-a', hubDomain: 'core', announceMs: 500 });
  });

  it('names every bad variable and what is accepted', () => {
    expect(() => loadEngineConfig({ YUNBIAN_ENGINE_MODE: 'edge', YUNBIAN_ENGINE_ANNOUNCE_MS: 'x' })).toThrow(
      /YUNBIAN_ENGINE_MODE="edge" must be cloud or site[\s\S]*YUNBIAN_ENGINE_ANNOUNCE_MS="x" must be a positive integer/,
    );
    expect(() => loadEngineConfig({ YUNBIAN_ENGINE_MODE: 'site' })).toThrow(/needs YUNBIAN_SITE/);
    expect(() => loadEngineConfig({ YUNBIAN_LEASE_MS: '3s' })).toThrow(
      /YUNBIAN_LEASE_MS="3s" must be a whole number of milliseconds from 300 to 600000/,
    );
    expect(loadEngineConfig({ YUNBIAN_LEASE_MS: '3000', YUNBIAN_ENGINE_ID: 'cloud-b' })).toMatchObject({
      id: 'cloud-b',
      leaseMs: 3_000,
    });
  });
});
