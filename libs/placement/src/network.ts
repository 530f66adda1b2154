import type {
  MeasuredBandwidth,
  MeasuredBandwidths,
  NetworkLinkView,
  NetworkView,
  NodeRecord,
} from '@yunbian/contracts';
import { PlacementInputError } from './errors';
import type { BandwidthSource, DataOrigin, RttSource } from './types';

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
  /** Which figure `bandwidthMbps` is: measured by agents, declared by nodes, the default, the LAN's, or the same node. */
  bandwidthSource: BandwidthSource;
  /** Age of a measured figure when the model was built (ms); undefined for the other sources. */
  bandwidthAgeMs: number | undefined;
}

/** A measured figure and how old it was when it was set. */
export interface MeasuredFigure {
  value: number;
  ageMs: number;
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

function setIn<T>(table: Map<string, Map<string, T>>, from: string, to: string, value: T): void {
  let row = table.get(from);
  if (!row) table.set(from, (row = new Map()));
  row.set(to, value);
}

/**
 * Round trips and bandwidths between sites, nodes and the orchestrator: what agents measured
 * (`rtt.sites[site].ms`, `rtt.orchestratorMs`, `bandwidth.sites[site]`, `bandwidth.orchestrator`)
 * and what nodes declared (`bandwidthMbps`). A measured bandwidth is preferred to a declared
 * one; ages are as of when the figure was set (the model is rebuilt from heartbeats, often).
 */
export class NetworkModel {
  readonly defaults: NetworkDefaults;
  /** RTTs as measured, per direction. */
  private readonly measuredRtt = new Map<string, Map<string, number>>();
  /** What lookups read: the measured direction, else the other one (filled in when set, so a lookup is one read). */
  private readonly siteRtt = new Map<string, Map<string, number>>();
  private readonly rttAge = new Map<string, Map<string, number>>();
  /** Bandwidths as measured, per direction. */
  private readonly measuredBandwidthDirect = new Map<string, Map<string, MeasuredFigure>>();
  /** What lookups read: the measured direction, else the other one. */
  private readonly measuredBandwidth = new Map<string, Map<string, MeasuredFigure>>();
  private readonly orchestratorRtt = new Map<string, number>();
  private readonly orchestratorBandwidth = new Map<string, MeasuredFigure>();
  private readonly declaredBandwidth = new Map<string, number>();
  /** Every site the model heard of, with the largest uplink a node there declared (for the matrix). */
  private readonly siteDeclared = new Map<string, number | undefined>();
  private readonly egressPerByte = new Map<string, number>();

  constructor(defaults: Partial<NetworkDefaults> = {}) {
    this.defaults = { ...DEFAULT_NETWORK, ...defaults };
  }

  /**
   * Builds the model from catalogue nodes. The RTT (bandwidth) from site A to site B is the mean
   * of what A's nodes measured to B (each agent probes one node per other site); its age is the
   * youngest of theirs. Ages count from `now` (the orchestrator's clock): a figure's age in the
   *heartbeat plus the time since the heartbeat arrived (a dead node's figures age on).
   */
  static fromNodes(
    nodes: readonly NodeRecord[],
    defaults: Partial<NetworkDefaults> = {},
    now = Date.now(),
  ): NetworkModel {
    const model = new NetworkModel(defaults);
    const rtts = new Map<string, Map<string, Mean>>();
    const bandwidths = new Map<string, Map<string, Mean>>();
    for (const node of nodes) {
      model.noteSite(node.site, node.bandwidthMbps);
      if (node.bandwidthMbps !== undefined) model.setNodeBandwidth(node.id, node.bandwidthMbps);
      const sinceHeartbeat = Math.max(0, now - (Date.parse(node.lastHeartbeatAt) || now));
      if (node.rtt?.orchestratorMs !== undefined) model.setOrchestratorRtt(node.id, node.rtt.orchestratorMs);
      for (const [site, { ms, ageMs }] of Object.entries(node.rtt?.sites ?? {})) {
        if (site !== node.site) addTo(rtts, node.site, site, ms, (ageMs ?? 0) + sinceHeartbeat);
      }
      const measured = node.bandwidth;
      if (measured?.orchestrator) {
        const { mbps, ageMs, measuredAt, source } = measured.orchestrator;
        // A passive figure was timed by the orchestrator, on this clock, between heartbeats.
        const age = source === 'passive' ? Math.max(0, now - measuredAt) : ageMs + sinceHeartbeat;
        model.setOrchestratorBandwidth(node.id, mbps, age);
      }
      for (const [site, { mbps, ageMs }] of Object.entries(measured?.sites ?? {})) {
        if (site !== node.site) addTo(bandwidths, node.site, site, mbps, ageMs + sinceHeartbeat);
      }
    }
    for (const [from, row] of rtts) for (const [to, m] of row) model.setSiteRtt(from, to, m.total / m.count, m.ageMs);
    for (const [from, row] of bandwidths) {
      for (const [to, m] of row) model.setLinkBandwidth(from, to, m.total / m.count, m.ageMs);
    }
    return model;
  }

  private noteSite(site: string, declaredMbps: number | undefined): void {
    const current = this.siteDeclared.get(site);
    const best =
      current === undefined ? declaredMbps : declaredMbps === undefined ? current : Math.max(current, declaredMbps);
    this.siteDeclared.set(site, best);
  }

  /**
   * Smoothed RTT measured from `fromSite` to `toSite` (`ageMs` old); used for the reverse
   * direction too when that is unmeasured.
   */
  setSiteRtt(fromSite: string, toSite: string, ms: number, ageMs = 0): this {
    setIn(this.measuredRtt, fromSite, toSite, checkedMeasure(ms, `RTT from site ${fromSite} to ${toSite}`));
    setIn(this.siteRtt, fromSite, toSite, ms);
    setIn(this.rttAge, fromSite, toSite, ageMs);
    if (!this.measuredRtt.get(toSite)?.has(fromSite)) {
      setIn(this.siteRtt, toSite, fromSite, ms);
      setIn(this.rttAge, toSite, fromSite, ageMs);
    }
    this.noteSiteOnly(fromSite);
    this.noteSiteOnly(toSite);
    return this;
  }

  private noteSiteOnly(site: string): void {
    if (!this.siteDeclared.has(site)) this.siteDeclared.set(site, undefined);
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

  /**
   * Bandwidth measured from `fromSite` to `toSite` (`ageMs` old); it replaces what the nodes
   * declared, and stands for the reverse direction too while that is unmeasured.
   */
  setLinkBandwidth(fromSite: string, toSite: string, mbps: number, ageMs = 0): this {
    checkedMeasure(mbps, `bandwidth from site ${fromSite} to ${toSite} (Mbit/s)`, true);
    const figure: MeasuredFigure = { value: mbps, ageMs: checkedMeasure(ageMs, 'age of a measured bandwidth (ms)') };
    setIn(this.measuredBandwidthDirect, fromSite, toSite, figure);
    setIn(this.measuredBandwidth, fromSite, toSite, figure);
    if (!this.measuredBandwidthDirect.get(toSite)?.has(fromSite))
      setIn(this.measuredBandwidth, toSite, fromSite, figure);
    this.noteSiteOnly(fromSite);
    this.noteSiteOnly(toSite);
    return this;
  }

  /** Bandwidth measured between a node and the orchestrator (`ageMs` old); it replaces what the node declared. */
  setOrchestratorBandwidth(nodeId: string, mbps: number, ageMs = 0): this {
    checkedMeasure(mbps, `bandwidth between node ${nodeId} and the orchestrator (Mbit/s)`, true);
    this.orchestratorBandwidth.set(nodeId, {
      value: mbps,
      ageMs: checkedMeasure(ageMs, 'age of a measured bandwidth (ms)'),
    });
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
      const measured = this.orchestratorBandwidth.get(nodeId);
      if (measured !== undefined) return measuredInto(out, measured);
      out.bandwidthMbps = declared ?? defaults.unknownBandwidthMbps;
      out.bandwidthSource = declared === undefined ? 'default' : 'declared';
      out.bandwidthAgeMs = undefined;
      return out;
    }
    out.bandwidthAgeMs = undefined;
    if (from.nodeId === nodeId) {
      out.rttMs = 0;
      out.rttSource = 'same-node';
      out.bandwidthMbps = Infinity;
      out.bandwidthSource = 'same-node';
      return out;
    }
    if (from.site === site) {
      out.rttMs = defaults.lanRttMs;
      out.rttSource = 'lan';
      out.bandwidthMbps = defaults.lanBandwidthMbps;
      out.bandwidthSource = 'lan';
      return out;
    }
    const rtt = view.rttBySite?.get(site);
    out.rttMs = rtt ?? defaults.unknownRttMs;
    out.rttSource = rtt === undefined ? 'default' : 'measured';
    const measured = view.measuredBandwidthBySite?.get(site);
    if (measured !== undefined) return measuredInto(out, measured);
    const originDeclared = view.declaredBandwidthMbps;
    out.bandwidthSource = declared === undefined && originDeclared === undefined ? 'default' : 'declared';
    if (declared === undefined) out.bandwidthMbps = originDeclared ?? defaults.unknownBandwidthMbps;
    else out.bandwidthMbps = originDeclared === undefined ? declared : Math.min(declared, originDeclared);
    return out;
  }

  /**
   * The site × site matrix (`GET /network`): every ordered pair of the sites the model heard of,
   * with the RTT and bandwidth placement would use between them and where each came from. An
   * unmeasured bandwidth is the smaller of the two sites' largest declared uplinks, else the default.
   */
  view(generatedAt: Date = new Date()): NetworkView {
    const sites = [...this.siteDeclared.keys()].sort();
    const links: NetworkLinkView[] = [];
    for (const from of sites) {
      for (const to of sites) {
        if (from === to) continue;
        const rtt = this.siteRtt.get(from)?.get(to);
        const link: NetworkLinkView = {
          from,
          to,
          rttSource: rtt === undefined ? 'default' : 'measured',
          rttMs: rtt ?? this.defaults.unknownRttMs,
          bandwidthSource: 'default',
        };
        if (rtt !== undefined) link.rttAgeMs = Math.round(this.rttAge.get(from)?.get(to) ?? 0);
        const measured = this.measuredBandwidth.get(from)?.get(to);
        if (measured !== undefined) {
          link.bandwidthMbps = measured.value;
          link.bandwidthSource = 'measured';
          link.bandwidthAgeMs = Math.round(measured.ageMs);
        } else {
          const a = this.siteDeclared.get(from);
          const b = this.siteDeclared.get(to);
          const declared = a === undefined ? b : b === undefined ? a : Math.min(a, b);
          link.bandwidthMbps = declared ?? this.defaults.unknownBandwidthMbps;
          link.bandwidthSource = declared === undefined ? 'default' : 'declared';
        }
        links.push(link);
      }
    }
    return { generatedAt: generatedAt.toISOString(), sites, links };
  }
}

/**
 * A node's measured bandwidths with the orchestrator link's figure replaced by the passive
 * one (`passive`, timed by the orchestrator, `measuredAt` on its clock) when that is younger
 * than what the agent measured. `ageMs` is as of `heartbeatAt` (the node's last heartbeat,
 * orchestrator clock), as the agent's figures' are.
 */
export function withPassiveOrchestratorBandwidth(
  bandwidth: MeasuredBandwidths | undefined,
  passive: MeasuredBandwidth | undefined,
  heartbeatAt: number,
): MeasuredBandwidths | undefined {
  if (!passive) return bandwidth;
  const active = bandwidth?.orchestrator;
  if (active && active.source !== 'passive' && active.measuredAt >= passive.measuredAt) return bandwidth;
  const orchestrator = { ...passive, ageMs: Math.max(0, heartbeatAt - passive.measuredAt) };
  return { ...bandwidth, sites: bandwidth?.sites ?? {}, orchestrator };
}

/** A decision's origin with its rows of the RTT and bandwidth tables (see `NetworkModel.viewFrom`). */
export interface OriginView {
  origin: DataOrigin | undefined;
  rttBySite: ReadonlyMap<string, number> | undefined;
  measuredBandwidthBySite: ReadonlyMap<string, MeasuredFigure> | undefined;
  declaredBandwidthMbps?: number;
}

function measuredInto(out: LinkEstimate, measured: MeasuredFigure): LinkEstimate {
  out.bandwidthMbps = measured.value;
  out.bandwidthSource = 'measured';
  out.bandwidthAgeMs = measured.ageMs;
  return out;
}

/** A running mean of figures between two sites, with the youngest age among them. */
interface Mean {
  total: number;
  count: number;
  ageMs: number;
}

function addTo(table: Map<string, Map<string, Mean>>, from: string, to: string, value: number, ageMs: number): void {
  let row = table.get(from);
  if (!row) table.set(from, (row = new Map()));
  const mean = row.get(to);
  if (mean) {
    mean.total += value;
    mean.count++;
    mean.ageMs = Math.min(mean.ageMs, ageMs);
  } else row.set(to, { total: value, count: 1, ageMs });
}
