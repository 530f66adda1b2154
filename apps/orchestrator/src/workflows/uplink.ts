import { round } from '@yunbian/common';
import type { ErrorBody, NodeStatus, NodeTier } from '@yunbian/contracts';

/** What a site engine knows of the other side of its uplink. */
export interface UplinkEvidence {
  site: string;
  now: number;
  /** When this engine started (ms): before `graceMs` has passed, silence is not evidence yet. */
  startedAt: number;
  /** How long an engine may be silent before it counts as lost (its intervals × missed). */
  graceMs: number;
  /** The cloud engine: live, or what is known of it (id, silence, why it counts as gone). */
  cloudEngine: { live: true; id: string } | { live: false; id?: string; silentMs?: number; reason?: string };
  /** The cloud tier's nodes in this engine's catalogue view. */
  cloudNodes: { id: string; status: NodeStatus; statusReason?: string }[];
}

export type UplinkState = { down: false } | { down: true; because: string };

/**
 * Whether a site's uplink to the cloud is down, as far as its site engine can tell: the
 * cloud engine's announcements stopped (or never came since this engine started, once the
 * grace has passed) and no cloud node is heard from either. Either one still arriving means
 * the link carries traffic (the cloud engine alone being gone is a cloud problem, said as such
 * by the forward's own error).
 */
export function uplinkState(e: UplinkEvidence): UplinkState {
  if (e.cloudEngine.live) return { down: false };
  if (e.cloudNodes.some((n) => n.status === 'alive')) return { down: false };
  const engine = e.cloudEngine;
  let engineText: string;
  if (engine.silentMs !== undefined) {
    const name = engine.id ? `the cloud engine ${engine.id}` : 'the cloud engine';
    engineText = `${name} has not been heard from for ${round(engine.silentMs / 1000, 1)} s`;
  } else {
    const upMs = e.now - e.startedAt;
    if (upMs < e.graceMs) return { down: false };
    engineText = `no cloud engine has been heard from since this engine started ${round(upMs / 1000, 1)} s ago`;
  }
  const nodesText = e.cloudNodes.length
    ? `nor any cloud node (${e.cloudNodes
        .map((n) => `${n.id} ${n.status}${n.statusReason ? `: ${n.statusReason}` : ''}`)
        .join('; ')})`
    : 'and no cloud node is known here';
  return { down: true, because: `${engineText} ${nodesText}` };
}

/**
 * `uplinkState` from what a site engine has at hand: its engines' view of the cloud engine
 * (`EnginesService.cloudEvidence`) and its catalogue's nodes (the cloud tier's are evidence).
 */
export function siteUplinkState(input: {
  site: string;
  now: number;
  cloud: Pick<UplinkEvidence, 'cloudEngine' | 'startedAt' | 'graceMs'>;
  nodes: readonly { id: string; tier: NodeTier; status: NodeStatus; statusReason?: string }[];
  /** Overrides the cloud evidence's grace (0 when a request across the uplink has just failed). */
  graceMs?: number;
}): UplinkState {
  return uplinkState({
    site: input.site,
    now: input.now,
    ...input.cloud,
    graceMs: input.graceMs ?? input.cloud.graceMs,
    cloudNodes: input.nodes
      .filter((n) => n.tier === 'cloud')
      .map((n) => ({ id: n.id, status: n.status, statusReason: n.statusReason })),
  });
}

/** An instance of a step's service in a site engine's catalogue view, with where its node is. */
export interface ServiceInstanceWhere {
  id: string;
  nodeId: string;
  /** The node's site and tier (absent: the node is not in the view). */
  site?: string;
  tier?: NodeTier;
  status: string;
}

/**
 * A site engine's refusal to place a step, with the uplink's evidence: when the step's
 * service has no instance at this site — every one it knows runs across the uplink (in the
 * cloud, or at another site), or none is known — and `uplink` is down, the step needs the
 * unreachable uplink, and the error says so (UNAVAILABLE: the step waits out its retries,
 * then fails with it) instead of placement's own refusal (kept in `details.placement`).
 * Undefined when the uplink is up or the service has an instance here (the refusal is the
 * site's own). Pure.
 */
export function uplinkPlacementError(input: {
  site: string;
  /** The step's service as written (`name@range`). */
  service: string;
  /** Placement's refusal. */
  error: ErrorBody;
  instances: readonly ServiceInstanceWhere[];
  uplink: UplinkState;
}): ErrorBody | undefined {
  if (!input.uplink.down) return undefined;
  if (input.instances.some((i) => i.site === input.site)) return undefined;
  const where = (i: ServiceInstanceWhere) =>
    `${i.id} on ${i.nodeId}${i.site ? ` (${i.tier ? `${i.tier}, ` : ''}site ${i.site})` : ''}, ${i.status}`;
  const shown = input.instances.slice(0, 5).map(where);
  if (input.instances.length > 5) shown.push(`${input.instances.length - 5} more`);
  const elsewhere = input.instances.length
    ? `its instances all run across the uplink (${shown.join('; ')})`
    : 'none is known elsewhere either';
  return {
    code: 'UNAVAILABLE',
    message: `${input.service} has no instance at site ${input.site}: ${elsewhere}, but the uplink of site ${input.site} to the cloud is down: ${input.uplink.because}; the step fails once its retries are spent unless the link returns — run an instance of ${input.service} at ${input.site} to keep it local`,
    details: {
      uplink: 'down',
      site: input.site,
      service: input.service,
      instances: input.instances.map((i) => ({ id: i.id, nodeId: i.nodeId, site: i.site })),
      placement: input.error,
    },
  };
}
