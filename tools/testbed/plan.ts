/**
 * What the testbed builds for a topology, as plain data: a network namespace per site, a
 * veth pair per uplink with private addresses inside the two namespaces, the commands that
 * shape and cut links. No side effects here; `netns.ts` runs the commands.
 */
import type { LinkShape, Topology, TopologySite } from './topology';

export const NAMESPACE_PREFIX = 'yb-';

/** Ports inside every namespace (each has its own loopback, so all sites use the same ones). */
export const PORTS = {
  /** NATS clients (agents, workers, the orchestrator) on 127.0.0.1. */
  nats: 4222,
  /** NATS leaf-node listener (the hub, and edge sites that have device sites behind them). */
  leaf: 7422,
  /** NATS monitoring on 127.0.0.1. */
  natsMonitor: 8222,
  /** The delay proxy's end of the leaf connection, on the site's 127.0.0.1. */
  proxyLeaf: 7420,
  /** The delay proxy's end of the link probe, on the site's 127.0.0.1. */
  proxyProbe: 7471,
  /** The link probe's server, on the uplink end's address while a measurement runs. */
  probe: 7470,
  /**
   * An application's own TCP across a link (bench:split's tensors): a server listening on the
   * uplink end's address at `app` is reached from the site at 127.0.0.1:`proxyApp`, through the
   * site's delay proxy and the shaped veth, like the leaf connection.
   */
  app: 7472,
  proxyApp: 7473,
  /** The orchestrator's REST, on the cloud namespace's 127.0.0.1. */
  orchestrator: 3000,
  /** A site engine's REST, on its edge site's 127.0.0.1. */
  siteEngine: 3001,
  /** First agent metrics port inside a site (one per agent). */
  agentMetrics: 9101,
} as const;

export interface LinkPlan {
  /** The site this link connects upward. */
  site: string;
  /** The site at the other end. */
  uplinkSite: string;
  siteNamespace: string;
  uplinkNamespace: string;
  /** Interface names (≤ 15 characters); each lives in its own namespace only. */
  siteDevice: string;
  uplinkDevice: string;
  siteAddress: string;
  uplinkAddress: string;
  shape: LinkShape;
}

export interface SitePlan {
  site: TopologySite;
  namespace: string;
  link?: LinkPlan;
  /** Sites whose uplink ends here (edge sites for the cloud, device sites for an edge site). */
  children: string[];
}

export interface TestbedPlan {
  sites: SitePlan[];
  links: LinkPlan[];
  cloud: SitePlan;
}

export function namespaceOf(site: string): string {
  return `${NAMESPACE_PREFIX}${site}`;
}

export function planTestbed(topology: Topology): TestbedPlan {
  const namespaces = new Map(topology.sites.map((s) => [s.name, namespaceOf(s.name)]));
  const links: LinkPlan[] = [];
  let index = 0;
  const sites: SitePlan[] = topology.sites.map((site) => {
    const plan: SitePlan = {
      site,
      namespace: namespaces.get(site.name)!,
      children: topology.sites.filter((s) => s.uplink?.to === site.name).map((s) => s.name),
    };
    if (site.uplink) {
      index++;
      // 10.231.<link>.0/24 per link: .1 at the uplink's end, .2 at the site's. Private
      // addresses that exist only inside the two namespaces.
      const { to, ...shape } = site.uplink;
      plan.link = {
        site: site.name,
        uplinkSite: to,
        siteNamespace: plan.namespace,
        uplinkNamespace: namespaces.get(to)!,
        siteDevice: `ybs${index}`,
        uplinkDevice: `ybu${index}`,
        siteAddress: `10.231.${index}.2`,
        uplinkAddress: `10.231.${index}.1`,
        shape,
      };
      links.push(plan.link);
    }
    return plan;
  });
  return { sites, links, cloud: sites.find((s) => s.site.kind === 'cloud')! };
}

/** Sites in start order: the cloud, then each site after the one it connects to. */
export function startOrder(plan: TestbedPlan): SitePlan[] {
  const byName = new Map(plan.sites.map((s) => [s.site.name, s]));
  const depth = (s: SitePlan): number => (s.link ? 1 + depth(byName.get(s.link.uplinkSite)!) : 0);
  return [...plan.sites].sort((a, b) => depth(a) - depth(b));
}

const MTU_FRAME = 1514;

/**
 * `tc` arguments for a token bucket at `mbps`. The bucket (burst) holds 5 ms at the rate,
 * at least four full frames: small enough that a one-second measurement sees the rate, not
 * the burst; large enough that timer slack on a loaded machine does not starve the link.
 * The queue holds 25 ms at the rate (at least 16 KiB): enough that TCP is not pushed into
 * loss at every burst (its own round trip across the veth is well under a millisecond; the
 * link's delay is added in the proxy), short enough that cross traffic does not add a
 * bufferbloat of 100 ms to every round trip on a slow link.
 */
export function tbfArgs(device: string, mbps: number): string[] {
  const bytesPerSecond = (mbps * 1_000_000) / 8;
  const burst = Math.max(Math.round(bytesPerSecond * 0.005), 4 * MTU_FRAME);
  const limit = Math.max(Math.round(bytesPerSecond * 0.025), 2 * burst, 16 * 1024);
  return [
    'qdisc',
    'replace',
    'dev',
    device,
    'root',
    'tbf',
    'rate',
    `${Math.round(mbps * 1000)}kbit`,
    'burst',
    String(burst),
    'limit',
    String(limit),
  ];
}

/** The iptables chain in a site's namespace that holds its link's loss and cut rules. */
export const LINK_CHAIN = 'YB-LINK';

/**
 * iptables rule specs (after `-A YB-LINK`) for a link's state at the site end: a cut drops
 * everything on the interface both ways; loss drops each packet with probability p both ways.
 */
export function linkRules(device: string, state: { cut: boolean; lossPercent?: number }): string[][] {
  if (state.cut) {
    return [
      ['-i', device, '-j', 'DROP'],
      ['-o', device, '-j', 'DROP'],
    ];
  }
  const loss = state.lossPercent ?? 0;
  if (loss <= 0) return [];
  const p = String(Math.min(loss / 100, 1));
  const statistic = ['-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP'];
  return [
    ['-i', device, ...statistic],
    ['-o', device, ...statistic],
  ];
}
