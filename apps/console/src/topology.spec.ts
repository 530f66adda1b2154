import { figure, limitsText, sitesOf, type InstanceView, type NodeView } from './topology';

const node = (id: string, site: string, tier: NodeView['tier']): NodeView => ({
  id,
  site,
  tier,
  status: 'alive',
  tags: [],
  cpuCores: 2,
  memoryMb: 2048,
});
const instance = (id: string, nodeId: string, service: string) =>
  ({ id, nodeId, service, version: '1.0.0', status: 'ready', inFlight: 0, queued: 0, restarts: 0 }) as InstanceView;

describe('sitesOf', () => {
  it('groups nodes by site in the network order, cloud nodes first, each with its instances', () => {
    const sites = sitesOf(
      [node('e2', 'factory', 'edge'), node('c1', 'factory', 'cloud'), node('d1', 'home', 'device')],
      [instance('i2', 'e2', 'ocr'), instance('i1', 'e2', 'echo'), instance('i3', 'c1', 'echo')],
      ['home', 'factory'],
    );
    expect(sites.map((s) => s.site)).toEqual(['home', 'factory']);
    expect(sites[1].nodes.map((n) => n.id)).toEqual(['c1', 'e2']);
    expect(sites[1].nodes[1].instances.map((i) => i.service)).toEqual(['echo', 'ocr']);
    expect(sites[0].nodes[0].instances).toEqual([]);
  });

  it('keeps a site only the nodes name', () => {
    expect(sitesOf([node('a', 'lab', 'edge')], [], []).map((s) => s.site)).toEqual(['lab']);
  });
});

describe('figure and limitsText', () => {
  it('rounds figures and names their source', () => {
    expect(figure(12.345, 'ms', 'measured')).toBe('12.3 ms (measured)');
    expect(figure(250.6, 'Mbit/s')).toBe('251 Mbit/s');
    expect(figure(undefined, 'ms')).toBe('—');
  });

  it('shows the limits when declared, else the whole node', () => {
    expect(limitsText(node('a', 's', 'edge'))).toBe('2 cores, 2048 MB');
    expect(limitsText({ ...node('a', 's', 'edge'), limits: { cpu: 0.5 } })).toBe('0.5 cores, 2048 MB (limits)');
  });
});
