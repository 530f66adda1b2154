import { round, SampleWindow, type JsonLogger } from '@yunbian/common';
import {
  nodeIdOfEventSubject,
  serviceRef,
  YunbianError,
  type InstanceRecord,
  type InstanceReport,
  type InstanceStatusEvent,
  type MeasuredBandwidth,
  type MeasuredBandwidths,
  type NodeAnnouncement,
  type NodeHeartbeat,
  type NodeLeavingEvent,
  type NodeRecord,
  type NodeStatus,
  type ServiceDescriptor,
  type ServiceRecord,
} from '@yunbian/contracts';
import { withPassiveOrchestratorBandwidth } from '@yunbian/placement';
import { DEFAULT_LIVENESS, nodeLiveness, type LivenessPolicy } from './node-liveness';

interface NodeState {
  record: NodeRecord;
  /** This process's clock (ms) at the last heartbeat or announcement. */
  lastSeen: number;
}

export interface CatalogStats {
  nodes: Record<NodeStatus, number>;
  instances: Record<string, number>;
  heartbeats: { received: number; delayMs: { p50?: number; p99?: number; max?: number } };
  /** Times a node went to dead since this view started. */
  deadMarks: number;
}

/** What a view restores from before agents announce again (the orchestrator's stored copy). */
export interface CatalogSnapshot {
  nodes: NodeRecord[];
  instances: InstanceRecord[];
  services: ServiceDescriptor[];
}

export interface CatalogViewOptions {
  liveness?: LivenessPolicy;
  /** Nodes joining and changing status are logged here (nothing is logged without one). */
  logger?: JsonLogger;
}

/**
 * The catalogue of nodes, service types and instances as the agents' events describe it:
 * announcements, heartbeats, instance events and leavings (`followCatalog` feeds them in).
 * A liveness sweep judges silent nodes suspect, then dead, and fails their instances;
 * `onInstanceLost` listeners hear of every instance that can no longer answer.
 *
 * The orchestrator's catalogue service is this view plus its store (it overrides the
 * `…Changed` hooks to write through), REST and the probes agents send it; an embedded
 * engine (`@yunbian/client`) uses the view as it is, to place steps in the caller's process.
 */
export class CatalogView {
  private readonly nodes = new Map<string, NodeState>();
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly services = new Map<string, ServiceDescriptor>();
  private descriptorRevision = 0;
  private peersBySite = new Map<string, string>();
  private readonly heartbeatDelays = new SampleWindow(20_000);
  private deadMarks = 0;
  /** This process's NATS connection is lost (see `connectionLost`). */
  private away = false;
  /** Figures of the link to this process timed from its own step requests, per node. */
  private readonly passiveBandwidth = new Map<string, MeasuredBandwidth>();
  private readonly lostListeners: ((instance: InstanceRecord, reason: string) => void)[] = [];
  readonly liveness: LivenessPolicy;
  protected readonly logger?: JsonLogger;

  constructor(options: CatalogViewOptions = {}) {
    this.liveness = options.liveness ?? DEFAULT_LIVENESS;
    this.logger = options.logger;
  }

  // ---- what changed (the orchestrator writes it through to its store) ----

  protected nodeChanged(_record: NodeRecord): void {}
  protected serviceChanged(_descriptor: ServiceDescriptor): void {}
  protected instanceChanged(_record: InstanceRecord): void {}
  protected instanceRemoved(_id: string): void {}
  protected nodeRemoved(_id: string): void {}

  /** Starts from a stored copy; nodes that were alive get a fresh grace period (silence while we were away is not theirs). */
  restoreFrom(snapshot: CatalogSnapshot, now = Date.now()): void {
    for (const service of snapshot.services) this.services.set(serviceRef(service), service);
    this.descriptorRevision++;
    for (const record of snapshot.nodes) this.nodes.set(record.id, { record, lastSeen: now });
    for (const instance of snapshot.instances) this.instances.set(instance.id, instance);
  }

  // ---- events from agents -------------------------------------------------

  onAnnounce(a: NodeAnnouncement): void {
    const now = Date.now();
    const existing = this.nodes.get(a.node.id)?.record;
    const record: NodeRecord = {
      ...a.node,
      status: 'alive',
      heartbeatIntervalMs: a.heartbeatIntervalMs,
      lastHeartbeatAt: new Date(now).toISOString(),
      joinedAt:
        existing && existing.agentStartedAt === a.agentStartedAt ? existing.joinedAt : new Date(now).toISOString(),
      agentStartedAt: a.agentStartedAt,
      services: a.services.map(serviceRef),
      ...(a.serviceProblems?.length ? { serviceProblems: a.serviceProblems } : {}),
      load: existing?.load,
      rtt: existing?.rtt,
      bandwidth: existing?.bandwidth,
      limitsEnforcement: a.limitsEnforcement,
    };
    if (!existing || existing.status !== 'alive')
      this.logger?.info('node joined', { node_id: record.id, site: record.site });
    this.nodes.set(record.id, { record, lastSeen: now });
    this.nodeChanged(record);
    for (const service of a.services) {
      const ref = serviceRef(service);
      if (JSON.stringify(this.services.get(ref)) !== JSON.stringify(service)) {
        this.services.set(ref, service);
        this.descriptorRevision++;
        this.serviceChanged(service);
      }
    }
    this.reconcileInstances(record.id, a.instances);
    this.refreshPeers();
  }

  /**
   * A heartbeat on `subject`. Returns false for a node this view does not know (yet): the
   * caller asks it to announce itself.
   */
  onHeartbeat(h: NodeHeartbeat, subject: string): boolean {
    const nodeId = nodeIdOfEventSubject(subject);
    const state = this.nodes.get(nodeId);
    if (!state || h.nodeId !== nodeId) return false;
    const now = Date.now();
    this.heartbeatDelays.add(Math.max(0, now - h.sentAt));
    state.lastSeen = now;
    const r = state.record;
    r.lastHeartbeatAt = new Date(now).toISOString();
    r.heartbeatIntervalMs = h.heartbeatIntervalMs;
    r.load = h.load;
    r.rtt = h.rtt;
    r.bandwidth = withPassiveOrchestratorBandwidth(
      h.bandwidth ? onOurClock(h.bandwidth, now) : undefined,
      this.passiveBandwidth.get(nodeId),
      now,
    );
    if (r.status !== 'alive') this.setNodeStatus(state, 'alive');
    this.reconcileInstances(nodeId, h.instances);
    return true;
  }

  /**
   * A passive figure of the link between this process and `nodeId` (timed by the router from step replies):
   * the node's `bandwidth.orchestrator` until the agent reports a younger one.
   */
  notePassiveBandwidth(nodeId: string, figure: MeasuredBandwidth): void {
    const state = this.nodes.get(nodeId);
    if (!state) return;
    this.passiveBandwidth.set(nodeId, figure);
    const r = state.record;
    r.bandwidth = withPassiveOrchestratorBandwidth(r.bandwidth, figure, Date.parse(r.lastHeartbeatAt) || Date.now());
  }

  onInstanceEvent(e: InstanceStatusEvent): void {
    if (!this.nodes.has(e.nodeId)) return;
    if (e.removed) this.removeInstance(e.instance.id);
    else this.upsertInstance(e.nodeId, e.instance);
  }

  onLeaving(e: NodeLeavingEvent): void {
    const state = this.nodes.get(e.nodeId);
    if (!state) return;
    this.setNodeStatus(state, 'dead', `left: ${e.reason}`);
  }

  /** The agent's list is the truth about its node: add, update, and drop what it no longer runs. */
  private reconcileInstances(nodeId: string, reports: InstanceReport[]): void {
    const present = new Set<string>();
    for (const report of reports) {
      present.add(report.id);
      this.upsertInstance(nodeId, report);
    }
    for (const instance of this.instances.values()) {
      if (instance.nodeId === nodeId && !present.has(instance.id)) this.removeInstance(instance.id);
    }
  }

  upsertInstance(nodeId: string, report: InstanceReport): InstanceRecord {
    const existing = this.instances.get(report.id);
    const now = new Date().toISOString();
    const record: InstanceRecord = {
      ...report,
      nodeId,
      createdAt: existing?.createdAt ?? now,
      updatedAt: existing?.updatedAt ?? now,
    };
    // A draining instance stays draining even if a heartbeat sent earlier says ready.
    if (existing?.status === 'draining' && report.status === 'ready') record.status = 'draining';
    const changed =
      !existing ||
      existing.status !== record.status ||
      existing.pid !== record.pid ||
      existing.restarts !== record.restarts ||
      existing.lastError !== record.lastError;
    if (changed) record.updatedAt = now;
    this.instances.set(record.id, record);
    if (changed) this.instanceChanged(record);
    if (existing && existing.status !== 'failed' && record.status === 'failed') {
      this.emitLost(record, record.lastError ?? 'instance failed');
    }
    return record;
  }

  removeInstance(id: string): void {
    // A removed instance drained first: whatever it was sent, it answered.
    if (this.instances.delete(id)) this.instanceRemoved(id);
  }

  /** Called when an instance can no longer answer requests it was sent (failed, gone, node dead). */
  onInstanceLost(listener: (instance: InstanceRecord, reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  private emitLost(instance: InstanceRecord, reason: string): void {
    for (const listener of this.lostListeners) listener(instance, reason);
  }

  markInstance(id: string, status: InstanceRecord['status'], reason?: string): void {
    const instance = this.instances.get(id);
    if (!instance) return;
    const previous = instance.status;
    instance.status = status;
    if (reason) instance.lastError = reason;
    instance.updatedAt = new Date().toISOString();
    this.instanceChanged(instance);
    if (status === 'failed' && previous !== 'failed') this.emitLost(instance, reason ?? 'instance failed');
  }

  /**
   * Forgets a dead node and the instances listed on it (`DELETE /nodes/{id}`); refused for a node
   * that is alive or suspect. Should its agent come back, it announces and joins afresh.
   */
  removeNode(id: string): NodeRecord {
    const record = this.node(id);
    if (record.status !== 'dead') {
      throw new YunbianError(
        'CONFLICT',
        `node ${id} is ${record.status} (last heartbeat ${record.lastHeartbeatAt}); only a dead node can be removed — stop its agent first, or wait until it is declared dead`,
        { node: id, status: record.status },
      );
    }
    for (const instance of [...this.instances.values()]) if (instance.nodeId === id) this.removeInstance(instance.id);
    this.nodes.delete(id);
    this.passiveBandwidth.delete(id);
    this.nodeRemoved(id);
    this.refreshPeers();
    this.logger?.info('node removed', { node_id: id });
    return record;
  }

  // ---- liveness -----------------------------------------------------------

  /**
   * This process lost its NATS connection: the silence of nodes says nothing about them now,
   * so none is judged until `connectionBack`.
   */
  connectionLost(): void {
    this.away = true;
  }

  /** The connection is back: every node not dead gets its full time to be heard from again. */
  connectionBack(now = Date.now()): void {
    this.away = false;
    for (const state of this.nodes.values()) if (state.record.status !== 'dead') state.lastSeen = now;
  }

  /** Judges every node by the time since it was last heard from (run on a timer). */
  sweep(now = Date.now()): void {
    if (this.away) return;
    for (const state of this.nodes.values()) {
      if (state.record.status === 'dead') continue;
      const silentMs = now - state.lastSeen;
      const status = nodeLiveness(silentMs, state.record.heartbeatIntervalMs, this.liveness);
      if (status !== state.record.status) {
        const reason = `no heartbeat for ${round(silentMs / 1000, 1)} s`;
        this.setNodeStatus(state, status, reason);
        this.livenessDecided(state.record, reason);
      }
    }
  }

  /** A status the sweep decided (orchestrator replicas publish it for the ones that do not sweep). */
  protected livenessDecided(_record: NodeRecord, _reason: string): void {}

  /**
   * Applies a liveness decision made elsewhere (the leading orchestrator replica's sweep), as
   * this view's own sweep would have: a dead node's instances fail. Nothing is applied to an
   * unknown node; a node heard from again is alive again, as after its own sweep.
   */
  applyLiveness(nodeId: string, status: NodeStatus, reason?: string): void {
    const state = this.nodes.get(nodeId);
    if (!state || state.record.status === status) return;
    this.setNodeStatus(state, status, reason);
  }

  private setNodeStatus(state: NodeState, status: NodeStatus, reason?: string): void {
    const r = state.record;
    const previous = r.status;
    r.status = status;
    r.statusReason = status === 'alive' ? undefined : reason;
    this.logger?.[status === 'alive' ? 'info' : 'warn']('node status changed', {
      node_id: r.id,
      from: previous,
      to: status,
      reason,
    });
    if (status === 'dead') {
      this.deadMarks++;
      for (const instance of this.instances.values()) {
        if (instance.nodeId === r.id && instance.status !== 'failed') {
          this.markInstance(instance.id, 'failed', `node ${r.id} is dead (${reason})`);
        }
      }
    }
    this.nodeChanged(r);
    this.refreshPeers();
  }

  /** One alive node per site, for agents' cross-site round-trip probes. */
  private refreshPeers(): void {
    const peers = new Map<string, string>();
    for (const { record } of this.nodes.values()) {
      if (record.status !== 'alive') continue;
      const current = peers.get(record.site);
      if (!current || record.id < current) peers.set(record.site, record.id);
    }
    this.peersBySite = peers;
  }

  // ---- reads --------------------------------------------------------------

  /** One alive node per site (the lowest id), but none of `site`. */
  peers(exceptSite?: string): { site: string; nodeId: string }[] {
    const peers: { site: string; nodeId: string }[] = [];
    for (const [site, nodeId] of this.peersBySite) if (site !== exceptSite) peers.push({ site, nodeId });
    return peers;
  }

  /** Every node, instance and service descriptor, unsorted (for decisions over the whole catalogue). */
  view(): { nodes: NodeRecord[]; instances: InstanceRecord[]; services: ServiceDescriptor[] } {
    return {
      nodes: [...this.nodes.values()].map((s) => s.record),
      instances: [...this.instances.values()],
      services: [...this.services.values()],
    };
  }

  listNodes(): NodeRecord[] {
    return [...this.nodes.values()].map((s) => s.record).sort((a, b) => a.id.localeCompare(b.id));
  }

  node(id: string): NodeRecord {
    const state = this.nodes.get(id);
    if (!state) {
      throw new YunbianError(
        'NOT_FOUND',
        `unknown node "${id}"; known nodes: ${[...this.nodes.keys()].sort().join(', ') || 'none'}`,
      );
    }
    return state.record;
  }

  listInstances(filter: { nodeId?: string; service?: string; status?: string } = {}): InstanceRecord[] {
    return [...this.instances.values()]
      .filter((i) => !filter.nodeId || i.nodeId === filter.nodeId)
      .filter((i) => !filter.service || i.service === filter.service || `${i.service}@${i.version}` === filter.service)
      .filter((i) => !filter.status || i.status === filter.status)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Instances of one service, unsorted (the router's hot path). */
  instancesOfService(name: string): InstanceRecord[] {
    const found: InstanceRecord[] = [];
    for (const instance of this.instances.values()) if (instance.service === name) found.push(instance);
    return found;
  }

  instance(id: string): InstanceRecord {
    const instance = this.instances.get(id);
    if (!instance) throw new YunbianError('NOT_FOUND', `unknown instance "${id}"`);
    return instance;
  }

  serviceDescriptor(ref: string): ServiceDescriptor | undefined {
    return this.services.get(ref);
  }

  /** Changes whenever a service descriptor is added or replaced (what is derived from them can be kept until then). */
  get serviceRevision(): number {
    return this.descriptorRevision;
  }

  serviceVersions(name: string): ServiceDescriptor[] {
    return [...this.services.values()].filter((s) => s.name === name);
  }

  listServices(): ServiceRecord[] {
    return [...this.services.values()]
      .map((d) => this.serviceRecord(d))
      .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  }

  serviceRecord(d: ServiceDescriptor): ServiceRecord {
    const ref = serviceRef(d);
    const instances = [...this.instances.values()].filter((i) => i.service === d.name && i.version === d.version);
    return {
      ...d,
      nodes: this.listNodes()
        .filter((n) => n.services.includes(ref))
        .map((n) => n.id),
      instances: { total: instances.length, ready: instances.filter((i) => i.status === 'ready').length },
    };
  }

  stats(): CatalogStats {
    const nodes: Record<NodeStatus, number> = { alive: 0, suspect: 0, dead: 0 };
    for (const { record } of this.nodes.values()) nodes[record.status]++;
    const instances: Record<string, number> = {};
    for (const i of this.instances.values()) instances[i.status] = (instances[i.status] ?? 0) + 1;
    const d = this.heartbeatDelays;
    return {
      nodes,
      instances,
      heartbeats: { received: d.count, delayMs: { p50: d.percentile(50), p99: d.percentile(99), max: d.max } },
      deadMarks: this.deadMarks,
    };
  }
}

/** Measured bandwidths with `measuredAt` on this process's clock (received − age), so agents' clock skew does not age them. */
function onOurClock(bandwidth: MeasuredBandwidths, receivedAt: number): MeasuredBandwidths {
  const rebase = <T extends { measuredAt: number; ageMs: number }>(figure: T): T => ({
    ...figure,
    measuredAt: receivedAt - figure.ageMs,
  });
  const sites: MeasuredBandwidths['sites'] = {};
  for (const [site, figure] of Object.entries(bandwidth.sites ?? {})) sites[site] = rebase(figure);
  return bandwidth.orchestrator ? { orchestrator: rebase(bandwidth.orchestrator), sites } : { sites };
}
