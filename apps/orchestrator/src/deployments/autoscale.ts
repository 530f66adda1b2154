import type { AutoscalePolicy } from '@yunbian/contracts';

export const DEFAULT_SCALE_UP_AFTER_MS = 5_000;
export const DEFAULT_SCALE_DOWN_AFTER_MS = 30_000;
/** Load must fall below this fraction of every target before a replica is removed (the hysteresis band). */
export const SCALE_DOWN_BELOW = 0.5;

/** Where an autoscaled scope stands; kept with the deployment between reconciles. */
export interface ScaleState {
  replicas: number;
  /** Since when the load has been above a target (epoch ms). */
  aboveSince?: number;
  /** Since when the load has been below half of every target. */
  belowSince?: number;
}

/** What the ready replicas of one scope report (heartbeat means). */
export interface LoadObservation {
  /** Ready replicas the figures come from; 0: nothing to judge by. */
  ready: number;
  /** Mean requests waiting per ready replica. */
  queued: number;
  /** Mean request time of the ready replicas that report one, ms. */
  latencyMs?: number;
}

/** The load against the targets: above 1 is too much, below `SCALE_DOWN_BELOW` is room to shrink. */
export function loadRatio(policy: AutoscalePolicy, load: LoadObservation): number | undefined {
  const ratios: number[] = [];
  if (policy.queueDepth !== undefined) ratios.push(load.queued / policy.queueDepth);
  if (policy.latencyMs !== undefined && load.latencyMs !== undefined) ratios.push(load.latencyMs / policy.latencyMs);
  return ratios.length ? Math.max(...ratios) : undefined;
}

/**
 * The next replica count of an autoscaled scope, with hysteresis: a target exceeded for
 * `scaleUpAfterMs` grows the scope in proportion (at least one more: 3 replicas at twice the
 * target become 6); load below half of every target for `scaleDownAfterMs` removes one. Each
 * change restarts the clock, so changes are at least that far apart. Always within min..max.
 */
export function autoscaleStep(
  previous: ScaleState | undefined,
  bounds: { min: number; max: number; autoscale: AutoscalePolicy },
  load: LoadObservation,
  now: number,
): ScaleState {
  const clamp = (n: number) => Math.min(bounds.max, Math.max(bounds.min, n));
  const state: ScaleState = { ...(previous ?? { replicas: bounds.min }) };
  state.replicas = clamp(state.replicas);
  const ratio = load.ready > 0 ? loadRatio(bounds.autoscale, load) : undefined;
  if (ratio === undefined) return { replicas: state.replicas }; // nothing to judge by: hold
  const upAfter = bounds.autoscale.scaleUpAfterMs ?? DEFAULT_SCALE_UP_AFTER_MS;
  const downAfter = bounds.autoscale.scaleDownAfterMs ?? DEFAULT_SCALE_DOWN_AFTER_MS;
  if (ratio > 1) {
    state.belowSince = undefined;
    state.aboveSince ??= now;
    if (now - state.aboveSince >= upAfter && state.replicas < bounds.max) {
      return { replicas: clamp(Math.max(state.replicas + 1, Math.ceil(load.ready * ratio))) };
    }
    return state;
  }
  state.aboveSince = undefined;
  if (ratio < SCALE_DOWN_BELOW && state.replicas > bounds.min) {
    state.belowSince ??= now;
    if (now - state.belowSince >= downAfter) return { replicas: state.replicas - 1 };
    return state;
  }
  state.belowSince = undefined;
  return state;
}
