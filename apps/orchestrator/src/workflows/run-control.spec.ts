import type { RunEngine, RunRecord } from '@yunbian/workflow';
import { routeControl, type ControlRouteInput } from './run-control';

const record = (executedBy?: RunEngine) => ({ id: 'r1', status: 'running', executedBy }) as RunRecord;
const site: RunEngine = { kind: 'site', id: 'site-factory-sz', site: 'factory-sz', reason: 'edge' };
const embedded: RunEngine = { kind: 'embedded', id: 'embedded-a', reason: 'caller' };

const input = (extra: Partial<ControlRouteInput>): ControlRouteInput => ({
  action: 'cancel',
  runId: 'r1',
  self: { id: 'cloud-cloud', mode: 'cloud' },
  held: false,
  via: [],
  live: () => true,
  silent: (id) => ({ id }),
  cloudEngine: 'cloud-cloud',
  ...extra,
});

describe('routeControl', () => {
  it('carries out a run this engine holds, or one whose record names it (a takeover)', () => {
    expect(routeControl(input({ held: true, record: record(site) }))).toEqual({ where: 'here' });
    expect(routeControl(input({ record: record({ kind: 'cloud', id: 'cloud-cloud', reason: 'took over' }) }))).toEqual({
      where: 'here',
    });
  });

  it('forwards to the live engine the record names', () => {
    expect(routeControl(input({ record: record(site) }))).toEqual({
      where: 'forward',
      engineId: 'site-factory-sz',
      kind: 'site',
    });
    expect(routeControl(input({ record: record(embedded), action: 'retry' }))).toEqual({
      where: 'forward',
      engineId: 'embedded-a',
      kind: 'embedded',
    });
  });

  it('says which engine is not live, since when, and what happens next', () => {
    const route = routeControl(
      input({
        record: record(site),
        live: () => false,
        silent: (id) => ({ id, silentMs: 12_340, reason: 'its announcements stopped 6.1 s ago' }),
      }),
    );
    expect(route).toEqual({
      where: 'unavailable',
      engineId: 'site-factory-sz',
      message:
        'cannot cancel run r1: it is executed by site engine site-factory-sz, which is not live: last heard from 12.3 s ago (its announcements stopped 6.1 s ago); try again once it announces itself again',
    });
    const never = routeControl(input({ record: record(embedded), live: () => false }));
    expect(never).toMatchObject({ where: 'unavailable', engineId: 'embedded-a' });
    expect((never as { message: string }).message).toMatch(
      /not heard from since this engine \(cloud-cloud\) started; a durable run is taken over by the cloud engine/,
    );
  });

  it('on a site engine, sends a run it does not know to the cloud, and never back where it came from', () => {
    const onSite = { self: { id: 'site-factory-sz', mode: 'site' as const } };
    expect(routeControl(input({ ...onSite }))).toEqual({ where: 'forward', engineId: 'cloud-cloud', kind: 'cloud' });
    expect(routeControl(input({ ...onSite, via: ['cloud-cloud'] }))).toEqual({ where: 'here' });
    expect(routeControl(input({ ...onSite, cloudEngine: undefined }))).toMatchObject({
      where: 'unavailable',
      engineId: 'cloud',
      message: expect.stringMatching(/no cloud engine is live/),
    });
    // The cloud asked about a run the site's record names the cloud as executing: answered here (NOT_FOUND), not bounced.
    expect(routeControl(input({ record: record(site), via: ['site-factory-sz'] }))).toEqual({ where: 'here' });
  });

  it('in the cloud, a run nobody knows is answered here (the executor’s NOT_FOUND)', () => {
    expect(routeControl(input({}))).toEqual({ where: 'here' });
  });
});
