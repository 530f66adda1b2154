import type { NodeRecord } from '@yunbian/contracts';
import { PlacementInputError } from './errors';
import type { DataOrigin, RttSource } from './types';

/** What the model assumes where nothing was declared or measured. */
export interface NetworkDefaults {
  /** Round trip between two nodes of one site (they share a LAN). */
  lanRttMs: number;
  lanBandwidthMbps: number;
  /** Round trip between sites (or to the orchestrator) that nobody has measured yet. */
  unknownRttMs: number;
  /** Bandwidth of a link when no end declares one and nothing was measured. */
  unknownBandwidthMbps: number;
}

export const DEFAULT_NETWORK: NetworkDefaults = {
  lanRttMs: 1,
  lanBandwidthMbps: 1000,
  unknownRttMs: 100,
  unknownBandwidthMbps: 100,
};

/** The network between a step's data and one candidate. Filled in place so routing allocates nothing. */
export interface LinkEstimate {
  rttMs: number;
  rttSource: RttSource;
  /** Infinity on the same node: nothing is transferred. */
  bandwidthMbps: number;
}

/** Bytes per millisecond carried by one Mbit/s. */
export const BYTES_PER_MS_PER_MBPS = 125;

function checkedMeasure(value: number, what: string, mustBePositive = false): number {
  if (!Number.isFinite(value) || value < 0 || (mustBePositive && value === 0)) {
    throw new PlacementInputError(
      `${what} must be a finite number ${mustBePositive ? 'above 0' : 'of 0 or more'} (got ${value})`,
      { value },
    );
  }
  return value;
}

function setIn(table: Map<string, Map<string, number>>, from: string, to: string, value: number): void {
  let row = table.get(from);
  if (!row) table.set(from, (row = new Map()));
  row.set(to, value);
}

/**
 * Round trips and bandwidths between sites, nodes and the orchestrator: what agents measured
 * (`rtt.sites[site].ms`, `rtt.orchestratorMs`) and what nodes declared (`bandwidthMbps`).
 * Rebuild it, or update it with the setters, when heartbeats bring new figures.
 */
export class NetworkModel {
  readonly defaults: NetworkDefaults;
  /** RTTs as measured, per direction. */
  private readonly measuredRtt = new Map<string, Map<string, number>>();
  /** What lookups read: the measured direction, else the other one (filled in when set, so a lookup is one read). */
  private readonly siteRtt = new Map<string, Map<string, number>>();
  private readonly measuredBandwidth = new Map<string, Map<string, number>>();
  private readonly orchestratorRtt = new Map<string, number>();
  private readonly declaredBandwidth = new Map<string, number>();
  private readonly egressPerByte = new Map<string, number>();

  constructor(defaults: Partial<NetworkDefaults> = {}) {
    this.defaults = { ...DEFAULT_NETWORK, ...defaults };
  }

  /**
   * Builds the model from catalogue nodes. The RTT from site A to site B is the mean of what
   * A's nodes measured to B (each agent probes one node per other site).
   */
  static fromNodes(nodes: readonly NodeRecord[], defaults: Partial<NetworkDefaults> = {}): NetworkModel {
    const model = new NetworkModel(defaults);
    const sums = new Map<string, Map<string, { total: number; count: number }>>();
    for (const node of nodes) {
      if (node.bandwidthMbps !== undefined) model.setNodeBandwidth(node.id, node.bandwidthMbps);
      if (node.rtt?.orchestratorMs !== undefined) model.setOrchestratorRtt(node.id, node.rtt.orchestratorMs);
      for (const [site, { ms }] of Object.entries(node.rtt?.sites ?? {})) {
        if (site === node.site) continue;
        let row = sums.get(node.site);
        if (!row) sums.set(node.site, (row = new Map()));
        const sum = row.get(site) ?? { total: 0, count: 0 };
        sum.total += ms;
        sum.count++;
        row.set(site, sum);
      }
    }
    for (const [from, row] of sums) for (const [to, sum] of row) model.setSiteRtt(from, to, sum.total / sum.count);
    return model;
  }

  /** Smoothed RTT measured from `fromSite` to `toSite`; used for the reverse direction too when that is unmeasured. */
  setSiteRtt(fromSite: string, toSite: string, ms: number): this {
    setIn(this.measuredRtt, fromSite, toSite, checkedMeasure(ms, `RTT from site ${fromSite} to ${toSite}`));
    setIn(this.siteRtt, fromSite, toSite, ms);
    if (!this.measuredRtt.get(toSite)?.has(fromSite)) setIn(this.siteRtt, toSite, fromSite, ms);
    return this;
  }

  setOrchestratorRtt(nodeId: string, ms: number): this {
    this.orchestratorRtt.set(nodeId, checkedMeasure(ms, `RTT from node ${nodeId} to the orchestrator`));
    return this;
  }

  /** Declared uplink of a node (`bandwidthMbps` in its descriptor). */
  setNodeBandwidth(nodeId: string, mbps: number): this {
    this.declaredBandwidth.set(nodeId, checkedMeasure(mbps, `bandwidth of node ${nodeId} (Mbit/s)`, true));
    return this;
  }

  /** Measured bandwidth between two sites, both directions; it replaces what the nodes declared. */
  setLinkBandwidth(siteA: string, siteB: string, mbps: number): this {
    checkedMeasure(mbps, `bandwidth between sites ${siteA} and ${siteB} (Mbit/s)`, true);
    setIn(this.measuredBandwidth, siteA, siteB, mbps);
    setIn(this.measuredBandwidth, siteB, siteA, mbps);
    return this;
  }

  /** Price of data leaving a site (a metered uplink, cloud egress), per GB (10^9 bytes). */
  setEgressCost(site: string, costPerGb: number): this {
    this.egressPerByte.set(site, checkedMeasure(costPerGb, `egress cost of site ${site} per GB`) / 1e9);
    return this;
  }

  /** Measured RTT between two sites (either direction), or undefined. */
  siteRttMs(fromSite: string, toSite: string): number | undefined {
    return this.siteRtt.get(fromSite)?.get(toSite);
  }

  egressCostPerByte(site: string): number {
    return this.egressPerByte.get(site) ?? 0;
  }

  /** What a decision reads about its origin once, so the per-candidate link costs one or two map reads. */
  viewFrom(origin: DataOrigin | undefined): OriginView {
    if (origin === undefined) return { origin, rttBySite: undefined, measuredBandwidthBySite: undefined };
    return {
      origin,
      rttBySite: this.siteRtt.get(origin.site),
      measuredBandwidthBySite: this.measuredBandwidth.get(origin.site),
      declaredBandwidthMbps: origin.nodeId === undefined ? undefined : this.declaredBandwidth.get(origin.nodeId),
    };
  }

  /**
   * The link from a step's data to a node, written into `out`. Same node: nothing moves. Same
   * site: the LAN. Other site: measured RTT between the sites and the measured link bandwidth, else
   * the smaller declared uplink of the two ends. No origin: the orchestrator holds the data.
   */
  link(
    origin: DataOrigin | OriginView | undefined,
    nodeId: string,
    site: string,
    nodeBandwidthMbps: number | undefined,
    out: LinkEstimate,
  ): LinkEstimate {
    const view = origin !== undefined && 'rttBySite' in origin ? origin : this.viewFrom(origin);
    const defaults = this.defaults;
    const declared = nodeBandwidthMbps ?? this.declaredBandwidth.get(nodeId);
    const from = view.origin;
    if (from === undefined) {
      const rtt = this.orchestratorRtt.get(nodeId);
      out.rttMs = rtt ?? defaults.unknownRttMs;
      out.rttSource = rtt === undefined ? 'default' : 'measured';
      out.bandwidthMbps = declared ?? defaults.unknownBandwidthMbps;
      return out;
    }
    if (from.nodeId === nodeId) {
      out.rttMs = 0;
      out.rttSource = 'same-node';
      out.bandwidthMbps = Infinity;
      return out;
    }
    if (from.site === site) {
      out.rttMs = defaults.lanRttMs;
      out.rttSource = 'lan';
      out.bandwidthMbps = defaults.lanBandwidthMbps;
      return out;
    }
    const rtt = view.rttBySite?.get(site);
    out.rttMs = rtt ?? defaults.unknownRttMs;
    out.rttSource = rtt === undefined ? 'default' : 'measured';
    const measured = view.measuredBandwidthBySite?.get(site);
    if (measured !== undefined) {
      out.bandwidthMbps = measured;
      return out;
    }
    const originDeclared = view.declaredBandwidthMbps;
    if (declared === undefined) out.bandwidthMbps = originDeclared ?? defaults.unknownBandwidthMbps;
    else out.bandwidthMbps = originDeclared === undefined ? declared : Math.min(declared, originDeclared);
    return out;
  }
}

/** A decision's origin with its rows of the RTT and bandwidth tables (see `NetworkModel.viewFrom`). */
export interface OriginView {
  origin: DataOrigin | undefined;
  rttBySite: ReadonlyMap<string, number> | undefined;
  measuredBandwidthBySite: ReadonlyMap<string, number> | undefined;
  declaredBandwidthMbps?: number;
}
