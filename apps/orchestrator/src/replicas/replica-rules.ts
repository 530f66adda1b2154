import { round } from '@yunbian/common';
import type { LeaseValue } from '@yunbian/transport';
import type { RunRecord } from '@yunbian/workflow';

/** The lease of the replica deciding what is decided once. */
export const LEADER_KEY = 'leader';

/** The engine id a single orchestrator has by default (runs stored without `executedBy` were its). */
export const DEFAULT_CLOUD_ENGINE_ID = 'cloud-cloud';

/** The lease key of a replica. */
export function engineLeaseKey(engineId: string): string {
  return `engine.${engineId}`;
}

/** The replica a lease key is of. */
export function replicaOfKey(key: string): string {
  return key.slice('engine.'.length);
}

/**
 * Whether the cloud replica `engineId` executes the run: its `executedBy` names that cloud
 * engine (a record without one was written by a single orchestrator with the default id).
 * Embedded and site engines' runs are never a cloud replica's.
 */
export function executedByReplica(run: RunRecord, engineId: string): boolean {
  const by = run.executedBy;
  if (!by) return engineId === DEFAULT_CLOUD_ENGINE_ID;
  return by.kind === 'cloud' && by.id === engineId;
}

/** The cloud engines that running runs name (for the takeover of replicas that stopped while nobody watched). */
export function executingReplicas(runs: RunRecord[]): string[] {
  const ids = new Set<string>();
  for (const run of runs) {
    if (run.status !== 'running') continue;
    if (!run.executedBy) ids.add(DEFAULT_CLOUD_ENGINE_ID);
    else if (run.executedBy.kind === 'cloud') ids.add(run.executedBy.id);
  }
  return [...ids].sort();
}

/** Why a replica's runs are taken over, from what its lease key shows. */
export function takeoverReason(
  engineId: string,
  value: LeaseValue | undefined,
  silentMs: number,
  leaseMs: number,
): string {
  if (value?.left) return `replica ${engineId} left (clean shutdown)`;
  if (value?.takenOverBy)
    return `replica ${value.takenOverBy} began taking over the runs of ${engineId} but did not finish within the lease (${round(leaseMs / 1000, 1)} s)`;
  return `the lease of replica ${engineId} was not renewed for ${round(silentMs / 1000, 1)} s (lease ${round(leaseMs / 1000, 1)} s): it died or hangs`;
}

/** The refusal of a second live process announcing an engine id another live process holds. */
export function duplicateEngineMessage(engineId: string, holder: LeaseValue): string {
  const where = [
    holder.host && `host ${holder.host}`,
    holder.pid && `pid ${holder.pid}`,
    holder.startedAt && `started ${holder.startedAt}`,
  ]
    .filter(Boolean)
    .join(', ');
  return `engine id ${engineId} is held by another live orchestrator (${where || 'another process'}), which renews its lease: every orchestrator replica needs its own id — set distinct YUNBIAN_ENGINE_IDs (e.g. cloud-a, cloud-b)`;
}
