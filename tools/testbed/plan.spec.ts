import { linkRules, planTestbed, startOrder, tbfArgs } from './plan';
import { parseTopology } from './topology';

const topology = parseTopology(
  {
    sites: [
      { name: 'line-3', kind: 'device', uplink: { to: 'factory-sz', upMbps: 5, downMbps: 2, rttMs: 20 }, nodes: [] },
      { name: 'cloud', kind: 'cloud', nodes: [] },
      { name: 'factory-sz', kind: 'edge', uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 }, nodes: [] },
    ],
  },
  'test',
);

describe('testbed plan', () => {
  it('gives every site a yb- namespace and every uplink a veth pair with private addresses on both ends', () => {
    const plan = planTestbed(topology);
    expect(plan.sites.map((s) => s.namespace)).toEqual(['yb-line-3', 'yb-cloud', 'yb-factory-sz']);
    expect(plan.cloud.site.name).toBe('cloud');
    expect(plan.cloud.children).toEqual(['factory-sz']);
    const device = plan.links.find((l) => l.site === 'line-3')!;
    expect(device).toMatchObject({
      uplinkSite: 'factory-sz',
      siteNamespace: 'yb-line-3',
      uplinkNamespace: 'yb-factory-sz',
      shape: { upMbps: 5, downMbps: 2, rttMs: 20 },
    });
    expect(device.siteAddress.split('.').slice(0, 3)).toEqual(device.uplinkAddress.split('.').slice(0, 3));
    const names = plan.links.flatMap((l) => [l.siteDevice, l.uplinkDevice]);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name.length).toBeLessThanOrEqual(15);
  });

  it('starts each site after the one its uplink goes to', () => {
    expect(startOrder(planTestbed(topology)).map((s) => s.site.name)).toEqual(['cloud', 'factory-sz', 'line-3']);
  });

  it('sizes the token bucket to a few ms at the rate and the queue to 25 ms, with floors', () => {
    const at = (mbps: number) => {
      const args = tbfArgs('ybs1', mbps);
      return {
        rate: args[args.indexOf('rate') + 1],
        burst: Number(args[args.indexOf('burst') + 1]),
        limit: Number(args[args.indexOf('limit') + 1]),
      };
    };
    expect(at(20)).toEqual({ rate: '20000kbit', burst: 12500, limit: 62500 });
    expect(at(5).burst).toBe(4 * 1514);
    expect(at(1000).burst).toBe(625000);
    expect(at(0.5).limit).toBe(16 * 1024);
  });

  it('cuts with DROP both ways and drops at random for loss', () => {
    expect(linkRules('ybs1', { cut: true })).toEqual([
      ['-i', 'ybs1', '-j', 'DROP'],
      ['-o', 'ybs1', '-j', 'DROP'],
    ]);
    expect(linkRules('ybs1', { cut: false })).toEqual([]);
    expect(linkRules('ybs1', { cut: false, lossPercent: 2.5 })[0]).toEqual([
      '-i',
      'ybs1',
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      '0.025',
      '-j',
      'DROP',
    ]);
  });
});
