import type { ExecutionSiteChoice } from '@yunbian/placement';
import { routeRun, type RouteInput } from './run-routing';

/** A choice that fits exactly the sites in `fits`, recording what it was asked. */
function chooser(fits: string[]) {
  const asked: string[][] = [];
  const choose = (sites: string[]): ExecutionSiteChoice => {
    asked.push(sites);
    const site = sites.find((s) => fits.includes(s));
    if (site) return { ok: true, site, reason: `every step placeable at ${site}: …`, places: [] };
    const refusals = sites.map((s) => ({ site: s, reason: `step b (ocr@^1) has no instance at ${s}` }));
    return { ok: false, reason: refusals[0]?.reason ?? 'no site engine is live', refusals };
  };
  return { choose, asked };
}

const cloud = (extra: Partial<RouteInput> & { fits?: string[] } = {}) => {
  const { choose, asked } = chooser(extra.fits ?? []);
  return {
    asked,
    input: {
      mode: 'cloud',
      here: 'cloud',
      engine: 'auto',
      siteEngines: ['factory-sz'],
      choose,
      ...extra,
    } as RouteInput,
  };
};
const site = (extra: Partial<RouteInput> & { fits?: string[] } = {}) => {
  const { choose, asked } = chooser(extra.fits ?? []);
  return {
    asked,
    input: { mode: 'site', here: 'factory-sz', engine: 'auto', siteEngines: [], choose, ...extra } as RouteInput,
  };
};

describe('routeRun', () => {
  it('site: never hands an edge-private or user-private run to the cloud, saying why and what to do', () => {
    for (const dataTier of ['edge-private', 'user-private'] as const) {
      expect(() => routeRun(site({ dataTier }).input)).toThrow(
        new RegExp(
          `its data is ${dataTier} and may not leave site factory-sz \\(it would go to the cloud: .*origin\\.nodeId`,
        ),
      );
      expect(() => routeRun(site({ dataTier, engine: 'cloud' }).input)).toThrow(/engine "cloud" requested/);
      expect(() => routeRun(site({ dataTier, originSite: 'store-hz' }).input)).toThrow(/with input from site store-hz/);
      // At its site it runs there as before.
      expect(routeRun(site({ dataTier, fits: ['factory-sz'] }).input)).toMatchObject({ where: 'here' });
    }
    // Public data may still go up.
    expect(routeRun(site({ dataTier: 'public' }).input)).toMatchObject({ where: 'forward', to: 'the cloud engine' });
  });

  it('cloud: forwards a run whose steps all place at its origin’s site to that site’s engine', () => {
    const { input, asked } = cloud({ originSite: 'factory-sz', fits: ['factory-sz'] });
    expect(routeRun(input)).toEqual({
      where: 'forward',
      subject: 'yb.cmd.site.factory-sz.workflows.run',
      to: 'the site engine of factory-sz',
      reason: 'every step placeable at factory-sz: …',
    });
    expect(asked).toEqual([['factory-sz']]);
  });

  it('cloud: executes a run that cannot stay at its origin’s site, with the step that keeps it off', () => {
    expect(routeRun(cloud({ originSite: 'factory-sz' }).input)).toEqual({
      where: 'here',
      reason: 'step b (ocr@^1) has no instance at factory-sz',
    });
  });

  it('cloud: without an origin, the cloud first, then site engines by name', () => {
    const inCloud = cloud({ fits: ['cloud', 'factory-sz'] });
    expect(routeRun(inCloud.input)).toMatchObject({ where: 'here', reason: 'every step placeable at cloud: …' });
    expect(inCloud.asked).toEqual([['cloud', 'factory-sz']]);
    const atEdge = cloud({ siteEngines: ['store-hz', 'factory-sz', 'factory-sz'], fits: ['store-hz'] });
    expect(routeRun(atEdge.input)).toMatchObject({ where: 'forward', subject: 'yb.cmd.site.store-hz.workflows.run' });
    expect(atEdge.asked).toEqual([['cloud', 'factory-sz', 'store-hz']]);
    // Nowhere fits: the reasons are the site engines' sites', not the cloud's own.
    expect(routeRun(cloud({ siteEngines: ['factory-sz', 'store-hz'] }).input)).toEqual({
      where: 'here',
      reason: 'step b (ocr@^1) has no instance at factory-sz; step b (ocr@^1) has no instance at store-hz',
    });
  });

  it('cloud: decides without a choice when no site engine could take the run', () => {
    const none = cloud({ siteEngines: [] });
    expect(routeRun(none.input)).toEqual({ where: 'here', reason: 'no site engine is live' });
    const noEngine = cloud({ originSite: 'line-3' });
    expect(routeRun(noEngine.input)).toEqual({
      where: 'here',
      reason: 'its input comes from site line-3, which has no live site engine',
    });
    expect(routeRun(cloud({ originSite: 'cloud' }).input)).toEqual({
      where: 'here',
      reason: 'its input comes from site cloud',
    });
    expect([...none.asked, ...noEngine.asked]).toEqual([]);
  });

  it('cloud: engine "cloud" executes here; engine "site" forwards or is refused naming why', () => {
    expect(routeRun(cloud({ engine: 'cloud', originSite: 'factory-sz', fits: ['factory-sz'] }).input)).toEqual({
      where: 'here',
      reason: 'engine "cloud" requested',
    });
    expect(routeRun(cloud({ engine: 'site', originSite: 'factory-sz', fits: ['factory-sz'] }).input)).toMatchObject({
      where: 'forward',
    });
    expect(() => routeRun(cloud({ engine: 'site', originSite: 'factory-sz' }).input)).toThrow(
      /engine "site" was requested but the run cannot execute on a site engine: step b \(ocr@\^1\) has no instance at factory-sz/,
    );
    expect(() => routeRun(cloud({ engine: 'site' }).input)).toThrow(/needs origin.nodeId/);
    expect(() => routeRun(cloud({ engine: 'site', originSite: 'line-3' }).input)).toThrow(
      /site line-3 has no live site engine/,
    );
  });

  it('site: executes a run whose steps all place at its site, forwards the others to the cloud', () => {
    expect(routeRun(site({ fits: ['factory-sz'] }).input)).toEqual({
      where: 'here',
      reason: 'every step placeable at factory-sz: …',
    });
    expect(routeRun(site().input)).toEqual({
      where: 'forward',
      subject: 'yb.cmd.workflows.run',
      to: 'the cloud engine',
      reason: 'step b (ocr@^1) has no instance at factory-sz',
    });
    expect(routeRun(site({ originSite: 'store-hz', fits: ['factory-sz'] }).input)).toMatchObject({
      where: 'forward',
      reason: 'started at site factory-sz with input from site store-hz',
    });
    expect(routeRun(site({ engine: 'cloud', fits: ['factory-sz'] }).input)).toMatchObject({
      where: 'forward',
      subject: 'yb.cmd.workflows.run',
      reason: 'engine "cloud" requested at site factory-sz',
    });
    expect(() => routeRun(site({ engine: 'site' }).input)).toThrow(/step b \(ocr@\^1\) has no instance at factory-sz/);
  });
});
