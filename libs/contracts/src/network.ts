/** Where a bandwidth figure came from as an agent reports it: a probe it sent, or a real transfer it timed. */
export type MeasurementSource = 'active' | 'passive';

/** A link's bandwidth as one agent measured it. */
export interface MeasuredBandwidth {
  /** Robust estimate over the recent samples (median; restarts on a step change), Mbit/s. */
  mbps: number;
  /**
   * When the newest sample was taken, epoch ms. In a heartbeat on the agent's clock; in a
   * `NodeRecord` on the orchestrator's (received time − `ageMs`), so clock skew does not age it.
   */
  measuredAt: number;
  /** Age of the newest sample when the heartbeat was sent. */
  ageMs: number;
  /** Samples taken on this link since the agent started. */
  samples: number;
  /** Source of the newest sample. */
  source: MeasurementSource;
  /** The node the link was measured against (the peer of the other site). */
  viaNode?: string;
  /**
   * A passive figure of the orchestrator link only (the orchestrator times its own step
   * requests): which way the newest sample's bytes went. The link's one figure stands for both.
   */
  direction?: 'to-node' | 'from-node';
}

/** What an agent measured from its node: uploads to the orchestrator and to one peer of every other site. */
export interface MeasuredBandwidths {
  /** This node → the orchestrator (the cloud side of the NATS server and the object store). */
  orchestrator?: MeasuredBandwidth;
  /** This node's site → each other site, keyed by site name. */
  sites: Record<string, MeasuredBandwidth>;
}

/** One chunk of a bandwidth probe (`Subjects.nodeBandwidthProbe`, `Subjects.orchestratorBandwidthProbe`). */
export interface BandwidthProbeChunk {
  nodeId: string;
  site: string;
  /** Filler carrying the chunk's bytes. */
  pad: string;
}

/** The tiny reply to a probe chunk. */
export interface BandwidthProbeAck {
  bytes: number;
}

/** Where a figure in the network matrix came from. */
export type NetworkRttSource = 'measured' | 'default';
export type NetworkBandwidthSource = 'measured' | 'declared' | 'default';

/** One direction between two sites (`GET /network`). */
export interface NetworkLinkView {
  from: string;
  to: string;
  rttMs?: number;
  rttSource: NetworkRttSource;
  rttAgeMs?: number;
  bandwidthMbps?: number;
  bandwidthSource: NetworkBandwidthSource;
  bandwidthAgeMs?: number;
}

/** The site × site matrix the orchestrator's placement uses (`GET /network`). */
export interface NetworkView {
  generatedAt: string;
  sites: string[];
  links: NetworkLinkView[];
}
