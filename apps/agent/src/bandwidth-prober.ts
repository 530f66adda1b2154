import type { Subscription } from '@nats-io/transport-node';
import {
  BandwidthEstimator,
  bandwidthFromAcks,
  confirmationProbeBytes,
  nextRoundDue,
  DEFAULT_PROBE_SIZING,
  plannedProbeBytes,
  ProbeBudget,
  round,
  type JsonLogger,
  type ProbeSizing,
  type SampleVerdict,
} from '@yunbian/common';
import {
  Subjects,
  type BandwidthProbeAck,
  type BandwidthProbeChunk,
  type MeasuredBandwidth,
  type MeasuredBandwidths,
  type MeasurementSource,
} from '@yunbian/contracts';
import type { NatsTransport } from '@yunbian/transport';

export interface BandwidthProbeOptions {
  /** Time between probe rounds (one probe per link per round at most). */
  intervalMs: number;
  /** Probe bytes each link may carry in any sliding minute. */
  budgetBytesPerMinute: number;
  /** Largest probe chunk (one NATS message); cut further to the server's max_payload. */
  chunkBytes?: number;
  sizing?: Partial<ProbeSizing>;
}

export const DEFAULT_BANDWIDTH_PROBE: BandwidthProbeOptions = {
  intervalMs: 10_000,
  budgetBytesPerMinute: 2_000_000,
};

/** The orchestrator's link, beside the site names. */
export const ORCHESTRATOR_LINK = '@orchestrator';

interface Link {
  estimator: BandwidthEstimator;
  budget: ProbeBudget;
  viaNode?: string;
  /** Earliest next probe (epoch ms): a large probe waits long enough for the budget to pay for it. */
  nextAt: number;
}

const MAX_CHUNK_BYTES = 64 * 1024;
const MIN_CHUNK_BYTES = 8 * 1024;
/** Room left for the chunk's JSON envelope and headers under max_payload. */
const ENVELOPE_BYTES = 8 * 1024;

/**
 * Measures the upload bandwidth from this node to the orchestrator and to one peer of every
 * other site. A probe is a burst of chunks sent at once, each answered by a tiny ack; the
 * bandwidth is read from the spacing of the acks, or the bytes acknowledged ÷ (time to the
 * last ack − one round trip) when the spacing is implausible (`bandwidthFromAcks`). Probes are
 * sized to last several round trips at the last estimate, within a per-link byte budget per
 * minute. (Passive samples of the orchestrator link are the orchestrator's: docs/placement.md, "Measured bandwidth".)
 */
export class BandwidthProber {
  private readonly links = new Map<string, Link>();
  private readonly sizing: ProbeSizing;
  private pads = new Map<number, string>();
  /** When the next round is due (epoch ms): at a fixed rate (`nextRoundDue`). */
  private roundDueAt = -Infinity;

  constructor(
    private readonly transport: NatsTransport,
    private readonly self: { id: string; site: string },
    private readonly options: BandwidthProbeOptions,
    private readonly logger: JsonLogger,
    /** Called when a link's estimate moved on a confirmed step (the agent heartbeats at once). */
    private readonly onStep?: (link: string) => void,
  ) {
    this.sizing = { ...DEFAULT_PROBE_SIZING, ...options.sizing };
    if (options.budgetBytesPerMinute < this.sizing.minBytes) {
      throw new Error(
        `the bandwidth probe budget (${options.budgetBytesPerMinute} bytes a minute per link) is below the smallest useful probe (${this.sizing.minBytes} bytes); raise YUNBIAN_BANDWIDTH_BUDGET_BYTES`,
      );
    }
  }

  /** True when a round is due at `now`. */
  due(now = Date.now()): boolean {
    return now >= this.roundDueAt;
  }

  /**
   * One round: a probe to the orchestrator, then to each peer, one after the other (probes
   * that run at once share this node's uplink and would each see a part of it).
   */
  async round(
    peers: readonly { nodeId: string; site: string }[],
    rttOf: (link: string) => number | undefined,
  ): Promise<void> {
    const now = Date.now();
    this.roundDueAt = nextRoundDue(this.roundDueAt, now, this.options.intervalMs);
    await this.probeLink(ORCHESTRATOR_LINK, Subjects.orchestratorBandwidthProbe, undefined, rttOf(ORCHESTRATOR_LINK));
    for (const peer of peers) {
      if (peer.site === this.self.site) continue;
      await this.probeLink(peer.site, Subjects.nodeBandwidthProbe(peer.nodeId), peer.nodeId, rttOf(peer.site));
    }
  }

  private link(name: string): Link {
    let link = this.links.get(name);
    if (!link) {
      link = {
        estimator: new BandwidthEstimator(),
        budget: new ProbeBudget(this.options.budgetBytesPerMinute),
        nextAt: -Infinity,
      };
      this.links.set(name, link);
    }
    return link;
  }

  /**
   * One probe of a link, at most one per interval (and as the budget spreads them); when it is
   * out of line with the estimate (a suspected step) a second one at once, sized for the
   * suspected rate and within the budget (`confirmationProbeBytes`), so a step is believed
   * within one probe of being seen rather than one interval later. A confirmed step is
   * published at once (`onStep`), not at the next heartbeat.
   */
  private async probeLink(name: string, subject: string, viaNode: string | undefined, rttMs: number | undefined) {
    if (rttMs === undefined) return; // not reachable yet (the RTT probe goes first)
    const link = this.link(name);
    const now = Date.now();
    if (now < link.nextAt) return;
    const bytes = plannedProbeBytes(
      link.estimator.estimate,
      rttMs,
      link.budget,
      this.options.intervalMs,
      now,
      this.sizing,
    );
    let verdict = await this.measure(link, name, subject, viaNode, rttMs, bytes, link.estimator.estimate);
    if (verdict === 'suspect') {
      const suspected = link.estimator.last!.mbps;
      const confirm = confirmationProbeBytes(
        link.estimator,
        rttMs,
        link.budget,
        this.options.intervalMs,
        Date.now(),
        this.sizing,
      );
      if (confirm > 0) verdict = await this.measure(link, name, subject, viaNode, rttMs, confirm, suspected);
      else this.logger.info('bandwidth step left to the next probe: the budget is spent', { link: name });
    }
    if (verdict === 'step') this.onStep?.(name);
  }

  /** Sends one probe of `bytes` (0: none), adds its figure; what the sample did to the estimate. */
  private async measure(
    link: Link,
    name: string,
    subject: string,
    viaNode: string | undefined,
    rttMs: number,
    bytes: number,
    sizedForMbps: number | undefined,
  ): Promise<SampleVerdict | undefined> {
    const now = Date.now();
    if (bytes === 0 || !link.budget.spend(bytes, now)) return undefined;
    // Spread the budget over the minute instead of spending it in the first probes of each one.
    link.nextAt = now + Math.max(0, (60_000 * bytes) / link.budget.bytesPerMinute - this.options.intervalMs / 2);
    try {
      const before = link.estimator.estimate;
      const mbps = await this.send(subject, bytes, rttMs, sizedForMbps);
      if (mbps === undefined) return undefined;
      const verdict = link.estimator.add(mbps, Date.now(), 'active');
      link.viaNode = viaNode;
      if (verdict === 'suspect' || verdict === 'step')
        this.logger.info(verdict === 'step' ? 'bandwidth step confirmed' : 'bandwidth step suspected', {
          link: name,
          probe_bytes: bytes,
          sample_mbps: round(mbps, 3),
          estimate_before_mbps: before === undefined ? undefined : round(before, 3),
          estimate_mbps: round(link.estimator.estimate!, 3),
        });
      return verdict;
    } catch (err) {
      this.logger.debug('bandwidth probe failed', { link: name, error: (err as Error).message });
      return undefined;
    }
  }

  /** Sends `bytes` in chunks at once; Mbit/s from the acknowledged bytes and the time of the last ack. */
  private async send(
    subject: string,
    bytes: number,
    rttMs: number,
    estimateMbps: number | undefined,
  ): Promise<number | undefined> {
    // About 16 chunks: enough acks to read their spacing (see bandwidthFromAcks), each one NATS message.
    const maxChunk = Math.min(this.options.chunkBytes ?? MAX_CHUNK_BYTES, this.transport.maxPayload - ENVELOPE_BYTES);
    const chunkBytes = Math.max(1024, Math.min(maxChunk, Math.max(MIN_CHUNK_BYTES, Math.ceil(bytes / 16))));
    const chunks = Math.max(1, Math.ceil(bytes / chunkBytes));
    const chunk: BandwidthProbeChunk = { nodeId: this.self.id, site: this.self.site, pad: this.pad(chunkBytes) };
    const wireBytes = JSON.stringify(chunk).length;
    // A slower link than estimated still finishes, within reason; what arrived by then counts.
    const expectedMs = estimateMbps ? (bytes * 8) / (estimateMbps * 1000) : (bytes * 8) / 1000; // else 1 Mbit/s
    const timeoutMs = Math.min(30_000, Math.max(5_000, 3 * expectedMs + 4 * rttMs));
    const acks: number[] = [];
    const started = performance.now();
    await Promise.allSettled(
      Array.from({ length: chunks }, () =>
        this.transport
          .request<BandwidthProbeAck>(subject, chunk, { timeoutMs })
          .then(() => void acks.push(performance.now() - started)),
      ),
    );
    return bandwidthFromAcks(wireBytes, acks, rttMs);
  }

  private pad(length: number): string {
    let pad = this.pads.get(length);
    if (!pad) {
      if (this.pads.size > 16) this.pads.clear();
      this.pads.set(length, (pad = 'x'.repeat(length)));
    }
    return pad;
  }

  /** The heartbeat's figures. */
  report(now = Date.now()): MeasuredBandwidths {
    const sites: Record<string, MeasuredBandwidth> = {};
    let orchestrator: MeasuredBandwidth | undefined;
    for (const [name, link] of this.links) {
      const last = link.estimator.last;
      const mbps = link.estimator.estimate;
      if (!last || mbps === undefined) continue;
      const figure: MeasuredBandwidth = {
        mbps: round(mbps, 3),
        measuredAt: last.at,
        ageMs: Math.max(0, now - last.at),
        samples: link.estimator.count,
        source: last.source satisfies MeasurementSource,
      };
      if (link.viaNode) figure.viaNode = link.viaNode;
      if (name === ORCHESTRATOR_LINK) orchestrator = figure;
      else sites[name] = figure;
    }
    return orchestrator ? { orchestrator, sites } : { sites };
  }
}

/** Answers the chunks of other agents' probes to `nodeId` (every agent does, probing or not). */
export function serveBandwidthProbes(transport: NatsTransport, nodeId: string): Subscription {
  return transport.serve<BandwidthProbeChunk, BandwidthProbeAck>(Subjects.nodeBandwidthProbe(nodeId), (chunk) => ({
    bytes: typeof chunk?.pad === 'string' ? chunk.pad.length : 0,
  }));
}
