import { DEFAULT_DRAIN_TIMEOUT_MS, MAX_DRAIN_TIMEOUT_MS } from '@yunbian/contracts';

/**
 * The drain a stop command gets on this node. The orchestrator refuses other values at
 * REST, but anything on the bus can send a stop: a value past setTimeout's limit would fire
 * the kill timer at once, so it is clamped to `MAX_DRAIN_TIMEOUT_MS`; a value that is no
 * number of ms (negative, NaN, a string) gets the default.
 */
export function effectiveDrainTimeoutMs(requested: unknown): number {
  if (requested === undefined || typeof requested !== 'number' || !Number.isFinite(requested) || requested < 0)
    return DEFAULT_DRAIN_TIMEOUT_MS;
  return Math.min(Math.floor(requested), MAX_DRAIN_TIMEOUT_MS);
}
