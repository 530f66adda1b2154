import { BYTES_PER_MS_PER_MBPS } from './network';

/** Milliseconds to push `bytes` through a link of `bandwidthMbps` (Infinity: same node, nothing moves). */
export function transferMs(bytes: number, bandwidthMbps: number): number {
  return bytes === 0 || bandwidthMbps === Infinity ? 0 : bytes / (bandwidthMbps * BYTES_PER_MS_PER_MBPS);
}

/**
 * Expected wait for a free slot. Requests beyond the free slots (running + queued + this one −
 * concurrency) are served `concurrency` at a time, each taking about `serviceMs`. A deterministic
 * approximation of an M/D/c queue: it ignores variance, which is enough to steer away from backlogs.
 */
export function queueWaitMs(inFlight: number, queued: number, concurrency: number, serviceMs: number): number {
  const ahead = inFlight + queued + 1 - concurrency;
  return ahead > 0 ? (ahead * serviceMs) / concurrency : 0;
}

/** A node's price for `computeMs` of its time. */
export function computeCost(costPerHour: number, computeMs: number): number {
  return (costPerHour / 3_600_000) * computeMs;
}
