import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';

/** What the topology page shows of a node (GET /nodes). */
export type NodeView = Pick<
  NodeRecord,
  | 'id'
  | 'site'
  | 'tier'
  | 'status'
  | 'statusReason'
  | 'tags'
  | 'cpuCores'
  | 'memoryMb'
  | 'limits'
  | 'load'
  | 'limitsEnforcement'
>;

/** What it shows of an instance (GET /instances). */
export type InstanceView = Pick<
  InstanceRecord,
  | 'id'
  | 'service'
  | 'version'
  | 'status'
  | 'nodeId'
  | 'inFlight'
  | 'queued'
  | 'latencyMs'
  | 'restarts'
  | 'lastError'
  | 'model'
  | 'owner'
>;

export interface SiteView {
  site: string;
  nodes: (NodeView & { instances: InstanceView[] })[];
}

/**
 * Nodes grouped by site (sites in the network's order, then any other a node names), each
 * node with its instances; nodes sorted by tier (cloud first) then id, instances by service.
 */
export function sitesOf(
  nodes: readonly NodeView[],
  instances: readonly InstanceView[],
  networkSites: readonly string[] = [],
): SiteView[] {
  const order = [...networkSites, ...nodes.map((n) => n.site)].filter((s, i, all) => all.indexOf(s) === i);
  const tierRank = (t: string) => ['cloud', 'edge', 'device'].indexOf(t);
  return order
    .map((site) => ({
      site,
      nodes: nodes
        .filter((n) => n.site === site)
        .sort((a, b) => tierRank(a.tier) - tierRank(b.tier) || a.id.localeCompare(b.id))
        .map((n) => ({
          ...n,
          instances: instances
            .filter((i) => i.nodeId === n.id)
            .sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id)),
        })),
    }))
    .filter((s) => s.nodes.length > 0 || networkSites.includes(s.site));
}

/** `12.3 ms (measured)`, `50 ms (default)`, `—` for a figure not known. */
export function figure(value: number | undefined, unit: string, source?: string): string {
  if (value === undefined) return '—';
  const rounded = value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${rounded} ${unit}${source ? ` (${source})` : ''}`;
}

/** `2 cores, 2048 MB` of a node's limits (else of all of it). */
export function limitsText(n: NodeView): string {
  const cpu = n.limits?.cpu ?? n.cpuCores;
  const mem = n.limits?.memoryMb ?? n.memoryMb;
  return `${cpu} cores, ${mem} MB${n.limits ? ' (limits)' : ''}${n.limitsEnforcement ? `, ${n.limitsEnforcement.mode}` : ''}`;
}
