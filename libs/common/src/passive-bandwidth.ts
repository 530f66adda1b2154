/**
 * Passive bandwidth between the orchestrator and a node, from the step requests the
 * orchestrator sends anyway: one clock (the orchestrator's) times the whole exchange, the
 * node's reply says how long it worked (a duration, so the clocks need not agree), and the
 * catalogue knows the round trip. What remains is the time the dominant direction's bytes
 * spent on the link. Plain functions and a small class, tested with synthetic samples.
 */
import { BandwidthEstimator, type EstimatorOptions, DEFAULT_ESTIMATOR } from './link-measurement';

const BYTES_PER_MS_PER_MBPS = 125;

/** One timed request/reply, as `NatsTransport.requestTimed` reports it. */
export interface TimedExchange {
  requestBytes: number;
  replyBytes: number;
  /** Requester's clock, from the write to the reply's arrival. */
  elapsedMs: number;
  /** The responder's own time; undefined when it did not say. */
  handlerMs: number | undefined;
}

/** Which way the bytes of a sample went: the request (orchestrator → node) or the reply (node → orchestrator). */
export type TransferDirection = 'to-node' | 'from-node';

export interface PassiveSampleOptions {
  /** Request + reply bytes below this say too little (timer resolution, the RTT's jitter). */
  minBytes: number;
  /** The larger direction must carry at least this share of the bytes, so the figure is one direction's. */
  dominantShare: number;
  /**
   * The transfer must be at least this share of the network time (elapsed − handler): when the
   * round trip is nearly all of it, a small error in the RTT is a large one in the figure.
   */
  minTransferShare: number;
  /** Figures above this (Mbit/s) are not a link but a clock error. */
  maxMbps: number;
}

/**
 * 128 KiB: step payloads travel inline only up to the object-store threshold (256 KiB,
 * `DEFAULT_OFFLOAD_BYTES`); above it they go through the object store, whose uploads are
 * round-trip bound per chunk (docs/placement.md, "Measured bandwidth"). So inline messages
 * of 128–256 KiB are the large ones there are.
 */
export const DEFAULT_PASSIVE_SAMPLE: PassiveSampleOptions = {
  minBytes: 128 * 1024,
  dominantShare: 0.9,
  minTransferShare: 0.1,
  maxMbps: 100_000,
};

export type PassiveSample =
  | { ok: true; mbps: number; direction: TransferDirection; bytes: number; transferMs: number }
  | { ok: false; reason: 'too-small' | 'mixed' | 'no-handler-time' | 'no-rtt' | 'inconsistent' | 'rtt-bound' };

/**
 * What one exchange says about the link: transfer time = elapsed − handler − RTT, and
 * bandwidth = the dominant direction's bytes × 8 ÷ that time. Rejected (with the reason)
 * when the exchange is small, both directions carry much, a figure is missing or impossible
 * (a handler longer than the exchange, a negative time), the round trip leaves too little
 * transfer time to measure, or the result is beyond any link.
 */
export function passiveBandwidthSample(
  exchange: TimedExchange,
  rttMs: number | undefined,
  options: PassiveSampleOptions = DEFAULT_PASSIVE_SAMPLE,
): PassiveSample {
  const { requestBytes, replyBytes, elapsedMs, handlerMs } = exchange;
  const total = requestBytes + replyBytes;
  if (!(total >= options.minBytes)) return { ok: false, reason: 'too-small' };
  const direction: TransferDirection = requestBytes >= replyBytes ? 'to-node' : 'from-node';
  const bytes = Math.max(requestBytes, replyBytes);
  if (bytes < total * options.dominantShare) return { ok: false, reason: 'mixed' };
  if (handlerMs === undefined) return { ok: false, reason: 'no-handler-time' };
  if (rttMs === undefined) return { ok: false, reason: 'no-rtt' };
  const finite = [elapsedMs, handlerMs, rttMs].every((v) => Number.isFinite(v) && v >= 0);
  if (!finite || handlerMs > elapsedMs) return { ok: false, reason: 'inconsistent' };
  const networkMs = elapsedMs - handlerMs;
  const transferMs = networkMs - rttMs;
  if (!(transferMs > 0) || transferMs < networkMs * options.minTransferShare) return { ok: false, reason: 'rtt-bound' };
  const mbps = bytes / (transferMs * BYTES_PER_MS_PER_MBPS);
  if (!(mbps <= options.maxMbps)) return { ok: false, reason: 'inconsistent' };
  return { ok: true, mbps, direction, bytes, transferMs };
}

/** A node's passive figure: the estimate over its recent samples and the newest one's time and direction. */
export interface PassiveFigure {
  mbps: number;
  /** Epoch ms of the newest sample. */
  measuredAt: number;
  samples: number;
  direction: TransferDirection;
}

/**
 * Passive samples per node, each node's through a `BandwidthEstimator` (median of the recent
 * samples, restarting on a step change), as the agents' probes are.
 */
export class PassiveBandwidth {
  private readonly links = new Map<string, { estimator: BandwidthEstimator; direction: TransferDirection }>();

  constructor(private readonly options: EstimatorOptions = DEFAULT_ESTIMATOR) {}

  /** Adds an accepted sample for `key` taken at `at` (epoch ms); returns the link's figure now. */
  add(key: string, sample: { mbps: number; direction: TransferDirection }, at: number): PassiveFigure | undefined {
    let link = this.links.get(key);
    if (!link) this.links.set(key, (link = { estimator: new BandwidthEstimator(this.options), direction: 'to-node' }));
    link.estimator.add(sample.mbps, at, 'passive');
    link.direction = sample.direction;
    return this.figure(key);
  }

  figure(key: string): PassiveFigure | undefined {
    const link = this.links.get(key);
    const mbps = link?.estimator.estimate;
    const last = link?.estimator.last;
    if (!link || mbps === undefined || !last) return undefined;
    return { mbps, measuredAt: last.at, samples: link.estimator.count, direction: link.direction };
  }

  forget(key: string): void {
    this.links.delete(key);
  }
}
