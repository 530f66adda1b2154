import { round } from '@yunbian/common';
import type { NodeStatus } from '@yunbian/contracts';

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
