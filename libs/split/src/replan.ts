/**
 * When a split plan is decided again: the link's measured bandwidth moved by more than a
 * threshold from the bandwidth the plan was made for, switching cuts at most once per
 * bandwidth-measurement interval; and, once re-decided, whether the new best cut replaces the running one
 * (hysteresis: only when it is better by a margin, so a bandwidth hovering at the boundary
 * between two cuts does not flip the plan at every measurement).
 */

export interface ReplanOptions {
  /** Relative move of the bandwidth that re-decides the plan (0.3: ×1.3 up or ÷1.3 down). */
  threshold: number;
  /** Relative gain the new best cut must have over the running one to replace it (0.05: 5 % faster). */
  hysteresis: number;
  /** Absolute gain (ms) that also suffices: small figures are noisy as fractions. */
  minGainMs: number;
  /** The bandwidth measurement interval (ms): no more than one re-plan per interval. */
  intervalMs: number;
}

export const DEFAULT_REPLAN: ReplanOptions = { threshold: 0.3, hysteresis: 0.05, minGainMs: 2, intervalMs: 10_000 };

/** The plan in force: the bandwidth it was decided for and when. */
export interface PlanBasis {
  mbps: number;
  rttMs: number;
  decidedAt: number;
  /**
   * When the running cut was adopted (default `decidedAt`). A re-decision that kept the cut (an
   * RTT wobble, a move the hysteresis absorbed) does not start the interval again: the limit is
   * on switching cuts, what flapping would be, so such a decision just before a bandwidth step
   * does not hold the step's switch back by an interval.
   */
  switchedAt?: number;
}

export type ReplanVerdict = { replan: false; reason: string } | { replan: true; reason: string; ratio: number };

/**
 * Whether to decide the plan again now. The move is measured as a ratio (max/min of the two
 * bandwidths), so halving and doubling count alike. An RTT change counts as the same relative
 * move of the RTT (it shifts every split placement against all-first alike).
 */
export function shouldReplan(
  basis: PlanBasis | undefined,
  link: { mbps: number; rttMs: number },
  now: number,
  options: ReplanOptions = DEFAULT_REPLAN,
): ReplanVerdict {
  if (!basis) return { replan: true, reason: 'no plan yet', ratio: Infinity };
  const ratio = Math.max(link.mbps, basis.mbps) / Math.max(1e-9, Math.min(link.mbps, basis.mbps));
  const rttMoved = Math.abs(link.rttMs - basis.rttMs) > Math.max(1, options.threshold * basis.rttMs);
  if (ratio <= 1 + options.threshold && !rttMoved)
    return {
      replan: false,
      reason: `bandwidth ${fmt(link.mbps)} Mbit/s is within ${Math.round(options.threshold * 100)} % of the planned ${fmt(basis.mbps)}`,
    };
  const since = now - (basis.switchedAt ?? basis.decidedAt);
  if (since < options.intervalMs)
    return {
      replan: false,
      reason: `the link moved (${fmt(basis.mbps)} → ${fmt(link.mbps)} Mbit/s) but the running cut was chosen ${Math.round(since)} ms ago, less than one measurement interval (${options.intervalMs} ms)`,
    };
  return {
    replan: true,
    ratio,
    reason: rttMoved
      ? `RTT moved ${fmt(basis.rttMs)} → ${fmt(link.rttMs)} ms`
      : `bandwidth moved ${fmt(basis.mbps)} → ${fmt(link.mbps)} Mbit/s (×${fmt(link.mbps / basis.mbps)})`,
  };
}

/**
 * After re-deciding: the cut to run. The best cut replaces the running one only when its
 * estimate beats the running cut's estimate (both at the new link) by the hysteresis margin
 * or by `minGainMs`; a running cut no longer among the candidates is always replaced.
 */
export function adoptCut(
  running: { id: string; totalMs: number } | undefined,
  best: { id: string; totalMs: number },
  options: Pick<ReplanOptions, 'hysteresis' | 'minGainMs'> = DEFAULT_REPLAN,
): { id: string; switched: boolean; reason: string } {
  if (!running) return { id: best.id, switched: true, reason: `${best.id} is the best cut` };
  if (running.id === best.id) return { id: best.id, switched: false, reason: `${best.id} is still the best cut` };
  const gain = running.totalMs - best.totalMs;
  if (gain > options.minGainMs || gain > options.hysteresis * running.totalMs)
    return {
      id: best.id,
      switched: true,
      reason: `${best.id} (${fmt(best.totalMs)} ms) beats ${running.id} (${fmt(running.totalMs)} ms) by ${fmt(gain)} ms`,
    };
  return {
    id: running.id,
    switched: false,
    reason: `${best.id} is better by ${fmt(gain)} ms only, within the hysteresis (${Math.round(options.hysteresis * 100)} % or ${options.minGainMs} ms): ${running.id} stays`,
  };
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
