import type { NodeStatus } from '@yunbian/contracts';

export interface LivenessPolicy {
  /** Missed intervals after which a node is suspect (a late heartbeat is not yet a death). */
  suspectAfterIntervals: number;
  /** Missed intervals after which a node is dead and its instances unavailable. */
  deadAfterIntervals: number;
}

export const DEFAULT_LIVENESS: LivenessPolicy = { suspectAfterIntervals: 1.5, deadAfterIntervals: 3 };

/** A node's status from the time since its last heartbeat (orchestrator clock). */
export function nodeLiveness(sinceHeartbeatMs: number, intervalMs: number, policy = DEFAULT_LIVENESS): NodeStatus {
  if (sinceHeartbeatMs > policy.deadAfterIntervals * intervalMs) return 'dead';
  if (sinceHeartbeatMs > policy.suspectAfterIntervals * intervalMs) return 'suspect';
  return 'alive';
}
