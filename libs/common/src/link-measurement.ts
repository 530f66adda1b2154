/**
 * Measuring the links between sites from the agents' side: how big a bandwidth probe should
 * be, what a probe's timing says about the link, a robust estimate over recent samples that
 * follows a step change, and the per-link byte budget probes stay within. Plain functions
 * and small classes so they can be tested with synthetic samples.
 */

/** Bytes per millisecond carried by one Mbit/s (10^6 bits/s ÷ 8 ÷ 1000). */
const BYTES_PER_MS_PER_MBPS = 125;

/** Where a bandwidth sample came from: a probe the agent sent, or a real transfer it timed. */
export type BandwidthSampleSource = 'active' | 'passive';

export interface ProbeSizing {
  /** Smallest probe worth sending (below it the timing says little). */
  minBytes: number;
  /** Largest probe (what the budget allows for one probe). */
  maxBytes: number;
  /** The probe's transfer should last at least this many round trips… */
  rttMultiple: number;
  /** …and at least this long, so that timer jitter and the shaper's burst are small beside it. */
  minTransferMs: number;
  /** Size of the first probe of a link (no estimate yet). */
  firstBytes: number;
}

export const DEFAULT_PROBE_SIZING: ProbeSizing = {
  minBytes: 32 * 1024,
  maxBytes: 1024 * 1024,
  rttMultiple: 4,
  minTransferMs: 200,
  firstBytes: 128 * 1024,
};

/**
 * Bytes for the next probe: enough that at the last estimate the transfer takes
 * max(rttMultiple × RTT, minTransferMs), within [minBytes, maxBytes].
 */
export function probeBytes(
  estimateMbps: number | undefined,
  rttMs: number | undefined,
  sizing: ProbeSizing = DEFAULT_PROBE_SIZING,
): number {
  const clamp = (bytes: number) => Math.round(Math.min(sizing.maxBytes, Math.max(sizing.minBytes, bytes)));
  if (estimateMbps === undefined || !(estimateMbps > 0)) return clamp(sizing.firstBytes);
  const targetMs = Math.max(sizing.rttMultiple * (rttMs ?? 0), sizing.minTransferMs);
  return clamp(estimateMbps * BYTES_PER_MS_PER_MBPS * targetMs);
}

/**
 * Mbit/s carried by a transfer of `bytes` that took `elapsedMs` from the first byte sent to the
 * last acknowledgement, one round trip (`rttMs`) of which is latency, not transfer. When the
 * round trip is most of the elapsed time (a fast link, a small probe) the transfer time is
 * taken as no less than a tenth of the elapsed time, so the figure stays finite — a lower
 * bound that is still far above any slow link's. Undefined when nothing can be said.
 */
export function bandwidthFromTransfer(bytes: number, elapsedMs: number, rttMs: number): number | undefined {
  if (!(bytes > 0) || !(elapsedMs > 0) || !Number.isFinite(elapsedMs)) return undefined;
  const transferMs = Math.max(elapsedMs - Math.max(0, rttMs), elapsedMs / 10);
  return bytes / (transferMs * BYTES_PER_MS_PER_MBPS);
}

/**
 * Mbit/s from a probe sent as equal chunks all at once, each acknowledged: `ackMs` are the
 * acks' times from the first byte sent, in arrival order. The acks leave the far end spaced by
 * the bottleneck, so the rate between the first ack and the last (the dispersion of the train)
 * excludes the round trip and the sender's ramp-up (TCP slow start after idle, the shaper's
 * burst), which the whole-transfer figure (`bandwidthFromTransfer`) counts as transfer time.
 * The dispersion is used when it is plausible: at least 4 acks, spread over at least half
 * the transfer time, and no more than twice the whole-transfer figure (acks bunched by a
 * stalled event loop would make it too high); otherwise the whole-transfer figure.
 */
export function bandwidthFromAcks(chunkBytes: number, ackMs: readonly number[], rttMs: number): number | undefined {
  const k = ackMs.length;
  if (k === 0) return undefined;
  const lastMs = ackMs[k - 1];
  const whole = bandwidthFromTransfer(chunkBytes * k, lastMs, rttMs);
  if (whole === undefined || k < 4) return whole;
  const spreadMs = lastMs - ackMs[0];
  const transferMs = lastMs - Math.max(0, rttMs);
  if (!(spreadMs > 0) || spreadMs < transferMs / 2) return whole;
  const dispersion = ((k - 1) * chunkBytes) / (spreadMs * BYTES_PER_MS_PER_MBPS);
  return dispersion <= 2 * whole ? Math.max(dispersion, whole) : whole;
}

export interface EstimatorOptions {
  /** Samples the median is taken over. */
  window: number;
  /** A sample this many times above or below the median is out of line… */
  stepRatio: number;
  /** …and this many out of line in a row, all on the same side, mean the link changed: the older samples are dropped. */
  stepSamples: number;
}

export const DEFAULT_ESTIMATOR: EstimatorOptions = { window: 5, stepRatio: 2, stepSamples: 2 };

export interface BandwidthSample {
  mbps: number;
  /** Epoch milliseconds. */
  at: number;
  source: BandwidthSampleSource;
}

/**
 * What one sample did to a link's estimate:
 * - `first`: the link's first sample (the estimate is it);
 * - `in-line`: within `stepRatio` of the estimate;
 * - `suspect`: out of line, fewer than `stepSamples` in a row on its side so far: a step is
 *   suspected, not yet believed (the estimate has not moved); the prober confirms it with
 *   another probe at once;
 * - `step`: the `stepSamples`-th out-of-line sample in a row on the same side: the estimate
 *   restarted from them (the figure moved; worth publishing at once);
 * - `ignored`: not a positive finite number.
 */
export type SampleVerdict = 'first' | 'in-line' | 'suspect' | 'step' | 'ignored';

/**
 * A link's bandwidth from its recent samples: the median of the last `window`, so one
 * disturbed probe (a burst of real traffic, a busy event loop) does not move it; when
 * `stepSamples` samples in a row are all `stepRatio`× above (or all below) the median the
 * link changed, and the estimate restarts from those samples — it follows a step within
 * `stepSamples` probes. `add` says which of these a sample was (`SampleVerdict`).
 */
export class BandwidthEstimator {
  private samples: BandwidthSample[] = [];
  private outOfLine = 0;
  private outOfLineSide = 0;
  /** Samples taken since the estimator was made (the figure heartbeats report). */
  count = 0;

  constructor(private readonly options: EstimatorOptions = DEFAULT_ESTIMATOR) {}

  add(mbps: number, at: number, source: BandwidthSampleSource): SampleVerdict {
    if (!(mbps > 0) || !Number.isFinite(mbps)) return 'ignored';
    const sample = { mbps, at, source };
    const median = this.estimate;
    this.count++;
    let verdict: SampleVerdict = 'first';
    if (median !== undefined) {
      const side = mbps > median * this.options.stepRatio ? 1 : mbps < median / this.options.stepRatio ? -1 : 0;
      if (side !== 0 && side === this.outOfLineSide) this.outOfLine++;
      else this.outOfLine = side === 0 ? 0 : 1;
      this.outOfLineSide = side;
      verdict = this.outOfLine === 0 ? 'in-line' : 'suspect';
      if (this.outOfLine >= this.options.stepSamples) {
        this.samples = this.samples.slice(this.samples.length - (this.options.stepSamples - 1));
        this.outOfLine = 0;
        this.outOfLineSide = 0;
        verdict = 'step';
      }
    }
    this.samples.push(sample);
    if (this.samples.length > this.options.window) this.samples.shift();
    return verdict;
  }

  /** True while a step is suspected: the last samples were out of line, too few yet to move the estimate. */
  get suspected(): boolean {
    return this.outOfLine > 0;
  }

  /** Median of the recent samples, Mbit/s; undefined before the first. */
  get estimate(): number | undefined {
    const n = this.samples.length;
    if (n === 0) return undefined;
    const sorted = this.samples.map((s) => s.mbps).sort((a, b) => a - b);
    return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** The newest sample. */
  get last(): BandwidthSample | undefined {
    return this.samples[this.samples.length - 1];
  }
}

/**
 * Bytes a link may still spend on probes: at most `bytesPerMinute` in any sliding minute.
 * Real transfers are not counted; only probes are.
 */
export class ProbeBudget {
  private spent: { at: number; bytes: number }[] = [];

  constructor(
    readonly bytesPerMinute: number,
    private readonly windowMs = 60_000,
  ) {
    if (!(bytesPerMinute > 0) || !Number.isFinite(bytesPerMinute)) {
      throw new Error(`the probe budget must be a number of bytes above 0 per minute (got ${bytesPerMinute})`);
    }
  }

  /** Bytes that may be sent at `now` without going over the budget. */
  available(now: number): number {
    this.expire(now);
    let used = 0;
    for (const s of this.spent) used += s.bytes;
    return Math.max(0, this.bytesPerMinute - used);
  }

  /** Records `bytes` sent at `now`; refuses (false) what the budget does not allow. */
  spend(bytes: number, now: number): boolean {
    if (bytes > this.available(now)) return false;
    this.spent.push({ at: now, bytes });
    return true;
  }

  private expire(now: number): void {
    while (this.spent.length > 0 && now - this.spent[0].at >= this.windowMs) this.spent.shift();
  }
}

/**
 * Size of the next probe on a link, or 0 to skip it: what `probeBytes` asks for, cut to the
 * larger of the budget's share of one probe interval and a quarter of the budget, and to what
 * the budget still allows; 0 when that is below the smallest useful probe. A quarter: on a fast
 * link a probe the size of one interval's share would be over before it says much (TCP's ramp
 * after idle and the shaper's burst weigh on it), so fewer, larger probes are sent instead.
 */
export function plannedProbeBytes(
  estimateMbps: number | undefined,
  rttMs: number | undefined,
  budget: ProbeBudget,
  intervalMs: number,
  now: number,
  sizing: ProbeSizing = DEFAULT_PROBE_SIZING,
): number {
  const share = Math.floor(
    Math.max((budget.bytesPerMinute * Math.min(intervalMs, 60_000)) / 60_000, budget.bytesPerMinute / 4),
  );
  const wanted = Math.min(probeBytes(estimateMbps, rttMs, sizing), Math.max(share, sizing.minBytes));
  const bytes = Math.min(wanted, budget.available(now));
  return bytes >= sizing.minBytes ? bytes : 0;
}

/**
 * Size of the probe that confirms (or refutes) a suspected step at once, or 0 for none: only
 * while the estimator suspects a step (its last sample was out of line), sized for the
 * suspected rate (the last sample, not the estimate it disagrees with: after a step up a
 * probe sized for the old rate would be over before it says much), within what the budget
 * allows as for any probe (`plannedProbeBytes`). The estimate still moves only on the second
 * out-of-line sample: one disturbed probe followed by an in-line confirmation leaves it.
 */
export function confirmationProbeBytes(
  estimator: BandwidthEstimator,
  rttMs: number | undefined,
  budget: ProbeBudget,
  intervalMs: number,
  now: number,
  sizing: ProbeSizing = DEFAULT_PROBE_SIZING,
): number {
  if (!estimator.suspected || !estimator.last) return 0;
  return plannedProbeBytes(estimator.last.mbps, rttMs, budget, intervalMs, now, sizing);
}

/**
 * When the probe round after one that began at `now` is due, the previous one having been due
 * at `dueAt`: one interval after `dueAt` (a fixed rate, so rounds run by a coarser timer — the
 * agent's ping tick — are not each a tick late, which would stretch a 3 s interval to 4), or one
 * interval from now when the round is more than an interval behind (a stalled process does not
 * catch up with a burst of rounds).
 */
export function nextRoundDue(dueAt: number, now: number, intervalMs: number): number {
  return Number.isFinite(dueAt) && now - dueAt < intervalMs ? dueAt + intervalMs : now + intervalMs;
}
