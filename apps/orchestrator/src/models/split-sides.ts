import {
  NODE_TIERS,
  type ModelComputeProfiles,
  type NodeRecord,
  type NodeTier,
  type SplitLink,
  type SplitPlan,
} from '@yunbian/contracts';
import { cpuSlowdown, effectiveCpu, NetworkModel, nodeClassOf, type LinkEstimate } from '@yunbian/placement';
import type { ComputeGraph, NodeTimes } from '@yunbian/split';
import { profileFits } from './split-profiles';

/** One end of a split: a catalogue node, or a node class (a tier) with a node of it standing in for its CPU and network. */
export interface SplitSide {
  asked: string;
  /** The node asked for, or a node of the class asked for (alive first, then by id). */
  node?: NodeRecord;
  /** Keys stored profiles are looked up by, best first: the placement class key, then the tier. */
  profileKeys: string[];
  /** CPU cores the node class gives (undefined: unknown, no node of the class in the catalogue). */
  cpu?: number;
}

/** The side `asked` names: a node id first, else a tier. Throws a message listing both. */
export function resolveSide(asked: string, nodes: readonly NodeRecord[]): SplitSide {
  const node = nodes.find((n) => n.id === asked);
  if (node) return { asked, node, profileKeys: [nodeClassOf(node), node.tier], cpu: effectiveCpu(node) };
  if ((NODE_TIERS as readonly string[]).includes(asked)) {
    const rank = (n: NodeRecord) => (n.status === 'alive' ? 0 : 1);
    const of = nodes
      .filter((n) => n.tier === (asked as NodeTier))
      .sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
    const stand = of[0];
    return stand
      ? { asked, node: stand, profileKeys: [asked], cpu: effectiveCpu(stand) }
      : { asked, profileKeys: [asked] };
  }
  throw new Error(
    `"${asked}" is neither a node of the catalogue nor a node class; nodes: ${nodes.map((n) => n.id).join(', ') || 'none'}; classes: ${NODE_TIERS.join(', ')}`,
  );
}

/**
 * Where one side's compute times come from: the version's stored profile for the class (at
 * `inputShape` when given), else the orchestrator's own, scaled.
 */
export function sideTimes(
  side: SplitSide,
  graph: ComputeGraph,
  stored: ModelComputeProfiles | undefined,
  local: NodeTimes,
  inputShape?: Record<string, number[]>,
): { times: NodeTimes; profile: SplitPlan['profiles'][number] } {
  for (const key of side.profileKeys) {
    const profile = stored?.[key];
    if (
      profile &&
      (!inputShape || profileFits(profile, inputShape)) &&
      graph.nodes.every((n) => profile.nodes[n.name] >= 0)
    ) {
      const totalMs = graph.nodes.reduce((s, n) => s + profile.nodes[n.name], 0);
      return { times: profile.nodes, profile: { node: side.asked, nodeClass: key, source: 'stored', totalMs } };
    }
  }
  const scale = cpuSlowdown(side.cpu);
  const times: Record<string, number> = {};
  let totalMs = 0;
  for (const n of graph.nodes) totalMs += times[n.name] = (local[n.name] ?? 0) * scale;
  const cls = side.profileKeys[0];
  const note =
    side.cpu === undefined
      ? `no profile stored for ${cls} and no node of that class in the catalogue: the orchestrator's own times, unscaled, NOT measured on ${cls}`
      : `no profile stored for ${cls}: the orchestrator's own times ×${scale.toFixed(2)} for ${side.cpu} cores, NOT measured on ${cls}`;
  return { times, profile: { node: side.asked, nodeClass: cls, source: 'estimated', scale, totalMs, note } };
}

/** The link from the first side to the second as placement sees it now (measured, else declared, else the default). */
export function sideLink(
  first: SplitSide,
  second: SplitSide,
  nodes: readonly NodeRecord[],
): SplitLink & { source: SplitPlan['link']['source']; note?: string } {
  const network = NetworkModel.fromNodes([...nodes]);
  if (!first.node || !second.node) {
    const missing = [first, second].filter((s) => !s.node).map((s) => s.asked);
    return {
      rttMs: network.defaults.unknownRttMs,
      mbps: network.defaults.unknownBandwidthMbps,
      source: 'default',
      note: `no node of ${missing.join(' and ')} in the catalogue: the link is placement's default`,
    };
  }
  const out = {} as LinkEstimate;
  network.link(
    { site: first.node.site, nodeId: first.node.id },
    second.node.id,
    second.node.site,
    second.node.bandwidthMbps,
    out,
  );
  const note = out.rttSource === 'default' ? 'the RTT between the sites is unmeasured: placement default' : undefined;
  return { rttMs: out.rttMs, mbps: out.bandwidthMbps, source: out.bandwidthSource, ...(note ? { note } : {}) };
}
