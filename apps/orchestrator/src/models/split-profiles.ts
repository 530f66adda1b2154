import type { ModelComputeProfiles, NodeComputeProfile, NodeRecord } from '@yunbian/contracts';
import { nodeClassOf } from '@yunbian/placement';

/** A model version someone asked a split plan for, at the input shape it was asked at. */
export interface ProfileWanted {
  name: string;
  version: number;
  sha256: string;
  inputShape: Record<string, number[]>;
}

/** One profile to take: a model on a node, stored under `nodeClass` (and the tier when it has none). */
export interface ProfileTask {
  want: ProfileWanted;
  node: NodeRecord;
  nodeClass: string;
  key: string;
}

/** Whether a stored profile was measured at this input shape (one without a shape counts for any). */
export function profileFits(profile: NodeComputeProfile | undefined, inputShape: Record<string, number[]>): boolean {
  if (!profile) return false;
  return !profile.inputShape || sameShape(profile.inputShape, inputShape);
}

function sameShape(a: Record<string, number[]>, b: Record<string, number[]>): boolean {
  const keys = Object.keys(a).sort();
  return (
    keys.length === Object.keys(b).length &&
    keys.every((k) => b[k] && a[k].length === b[k].length && a[k].every((d, i) => d === b[k][i]))
  );
}

/**
 * The profiles to take when nodes join: for every model version asked a split plan for and
 * every node class among the alive `nodes` (those that joined; placement's class key), one node of that class
 * (the first by id) when the version has no profile for the class at that input shape and the
 * task was not tried before. Bounded by what was asked: a catalogue of many models is not
 * profiled on every join, only what split planning needs.
 */
export function profilesToTake(
  wanted: readonly ProfileWanted[],
  nodes: readonly NodeRecord[],
  stored: (want: ProfileWanted) => ModelComputeProfiles | undefined,
  tried: ReadonlySet<string>,
): ProfileTask[] {
  const byClass = new Map<string, NodeRecord>();
  for (const node of [...nodes].filter((n) => n.status === 'alive').sort((a, b) => a.id.localeCompare(b.id))) {
    const cls = nodeClassOf(node);
    if (!byClass.has(cls)) byClass.set(cls, node);
  }
  const tasks: ProfileTask[] = [];
  for (const want of wanted) {
    const profiles = stored(want);
    for (const [nodeClass, node] of byClass) {
      if (profileFits(profiles?.[nodeClass], want.inputShape)) continue;
      const key = profileTaskKey(want, nodeClass);
      if (!tried.has(key)) tasks.push({ want, node, nodeClass, key });
    }
  }
  return tasks;
}

export function profileTaskKey(want: ProfileWanted, nodeClass: string): string {
  return `${want.sha256}|${nodeClass}|${JSON.stringify(want.inputShape)}`;
}
