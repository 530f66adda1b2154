import type { SplitCutEstimate, SplitObjective } from '@yunbian/contracts';

/**
 * What a cut's cost depends on apart from the bandwidth, per objective:
 * - latency: `head + tail + RTT` and the bytes sent. The estimate is
 *   `(head + tail + RTT) + bytes / bandwidth`, a line in 1 / bandwidth;
 * - throughput: head, tail and the bytes sent (the period is `max(head, bytes / bandwidth, tail)`).
 * A cut no worse than another in every figure is at least as good at every bandwidth.
 */
export function bandwidthFreeCost(estimate: SplitCutEstimate, objective: SplitObjective): number[] {
  return objective === 'latency'
    ? [estimate.headMs + estimate.tailMs + estimate.rttMs, estimate.transferBytes]
    : [estimate.headMs, estimate.tailMs, estimate.transferBytes];
}

/** `a` is at most `b` in every figure and below it in one. */
function dominates(a: readonly number[], b: readonly number[]): boolean {
  let strict = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strict = true;
  }
  return strict;
}

/**
 * For each estimate dominated by another (see `bandwidthFreeCost`; exact ties are not
 * dominance), the id of the one dominating it that comes first in `estimates`. A dominated
 * cut is never strictly the best at any bandwidth of the same RTT, profiles and sizes: for the
 * latency objective its line lies on or above the dominating one's everywhere. The estimates
 * must share one problem (one link RTT, lossy mode and pair of profiles).
 */
export function dominatedBy(
  estimates: readonly SplitCutEstimate[],
  objective: SplitObjective = 'latency',
): Map<string, string> {
  const costs = estimates.map((e) => bandwidthFreeCost(e, objective));
  const out = new Map<string, string>();
  estimates.forEach((e, i) => {
    const j = costs.findIndex((c, k) => k !== i && dominates(c, costs[i]));
    if (j >= 0) out.set(e.id, estimates[j].id);
  });
  return out;
}

/**
 * The cuts worth measuring for an objective: the two trivial placements and every cut no other
 * dominates, in the order given. For latency these are the lower envelope's candidates: every
 * cut that could be the best at some bandwidth.
 */
export function nonDominated(
  estimates: readonly SplitCutEstimate[],
  objective: SplitObjective = 'latency',
): SplitCutEstimate[] {
  const dominated = dominatedBy(estimates, objective);
  return estimates.filter((e) => e.kind === 'all-first' || e.kind === 'all-second' || !dominated.has(e.id));
}
