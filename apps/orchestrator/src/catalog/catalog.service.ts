import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { envInt, JsonLogger, round, SampleWindow } from '@yunbian/common';
import { yunbianMetrics } from '@yunbian/observability';
import {
  nodeIdOfEventSubject,
  serviceRef,
  Subjects,
  type InstanceRecord,
  type InstanceReport,
  type InstanceStatusEvent,
  type BandwidthProbeAck,
  type BandwidthProbeChunk,
  type MeasuredBandwidth,
  type MeasuredBandwidths,
  type NodeAnnouncement,
  type NodeHeartbeat,
  type NodeLeavingEvent,
  type NodeRecord,
  type NodeStatus,
  type OrchestratorPingReply,
  type PingRequest,
  type ServiceDescriptor,
  type ServiceRecord,
} from '@yunbian/contracts';
import { withPassiveOrchestratorBandwidth } from '@yunbian/placement';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogStore } from './catalog.store';
import { DEFAULT_LIVENESS, nodeLiveness, type LivenessPolicy } from './node-liveness';

interface NodeState {
  record: NodeRecord;
  /** Orchestrator clock (ms) of the last heartbeat or announcement. */
  lastSeen: number;
}

export interface CatalogStats {
  nodes: Record<NodeStatus, number>;
  instances: Record<string, number>;
  heartbeats: { received: number; delayMs: { p50?: number; p99?: number; max?: number } };
  /** Times a node went to dead since this orchestrator started. */
  deadMarks: number;
}

/**
 * The live catalogue of nodes, service types and instances. Agents' events update it;
 * a liveness sweep marks silent nodes suspect, then dead (their instances failed). Every
 * change that matters after a restart is written through to JetStream KV.
 */
@Injectable()
export class CatalogService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('catalog');
  private readonly nodes = new Map<string, NodeState>();
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly services = new Map<string, ServiceDescriptor>();
  private subscriptions: Subscription[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private peersBySite = new Map<string, string>();
  private readonly heartbeatDelays = new SampleWindow(20_000);
  private deadMarks = 0;
  private store!: CatalogStore;
  /** Orchestrator-link figures this orchestrator timed from its own step requests, per node. */
  private readonly passiveBandwidth = new Map<string, MeasuredBandwidth>();
  private readonly lostListeners: ((instance: InstanceRecord, reason: string) => void)[] = [];
  readonly liveness: LivenessPolicy = {
    ...DEFAULT_LIVENESS,
    deadAfterIntervals: envInt('YUNBIAN_DEAD_AFTER_MISSED', DEFAULT_LIVENESS.deadAfterIntervals),
  };

  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async onModuleInit(): Promise<void> {
    this.store = await CatalogStore.open(this.transport, this.logger);
    await this.restore();
    const t = this.transport;
    const onError = (err: unknown, subject: string) =>
      this.logger.warn('bad catalogue event', { subject, error: (err as Error).message });
    this.subscriptions.push(
      t.subscribe<NodeAnnouncement>(Subjects.nodeAnnounceAll, (a) => this.onAnnounce(a), onError),
      t.subscribe<NodeHeartbeat>(Subjects.nodeHeartbeatAll, (h, s) => this.onHeartbeat(h, s), onError),
      t.subscribe<InstanceStatusEvent>(Subjects.instanceStatusAll, (e) => this.onInstanceEvent(e), onError),
      t.subscribe<NodeLeavingEvent>(Subjects.nodeLeavingAll, (e) => this.onLeaving(e), onError),
      t.serve<PingRequest, OrchestratorPingReply>(Subjects.orchestratorPing, (p) => this.onPing(p)),
      // Agents' bandwidth probes to the cloud: a tiny ack per chunk, nothing kept.
      t.serve<BandwidthProbeChunk, BandwidthProbeAck>(Subjects.orchestratorBandwidthProbe, (chunk) => ({
        bytes: typeof chunk?.pad === 'string' ? chunk.pad.length : 0,
      })),
    );
    await t.flush();
    // Agents answer by announcing again, which refreshes anything that changed while we were away.
    t.publish(Subjects.orchestratorOnline, { at: Date.now() });
    this.sweepTimer = setInterval(() => this.sweep(), envInt('YUNBIAN_LIVENESS_SWEEP_MS', 200));
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const s of this.subscriptions) s.unsubscribe();
    await this.store?.flush();
  }

  private async restore(): Promise<void> {
    const snapshot = await this.store.load();
    const now = Date.now();
    for (const service of snapshot.services) this.services.set(serviceRef(service), service);
    // Nodes that were alive get a fresh grace period: silence while we were down is not theirs.
    for (const record of snapshot.nodes) this.nodes.set(record.id, { record, lastSeen: now });
    for (const instance of snapshot.instances) this.instances.set(instance.id, instance);
    this.logger.info('catalogue restored', {
      nodes: snapshot.nodes.length,
      instances: snapshot.instances.length,
      services: snapshot.services.length,
    });
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
      load: existing?.load,
      rtt: existing?.rtt,
      bandwidth: existing?.bandwidth,
      limitsEnforcement: a.limitsEnforcement,
    };
    if (!existing || existing.status !== 'alive')
      this.logger.info('node joined', { node_id: record.id, site: record.site });
    this.nodes.set(record.id, { record, lastSeen: now });
    this.store.saveNode(record);
    for (const service of a.services) {
      const ref = serviceRef(service);
      if (JSON.stringify(this.services.get(ref)) !== JSON.stringify(service)) {
        this.services.set(ref, service);
        this.store.saveService(service);
      }
    }
    this.reconcileInstances(record.id, a.instances);
    this.refreshPeers();
  }

  onHeartbeat(h: NodeHeartbeat, subject: string): void {
    const nodeId = nodeIdOfEventSubject(subject);
    const state = this.nodes.get(nodeId);
    if (!state || h.nodeId !== nodeId) {
      // We do not know this node (yet): ask it to announce itself.
      this.transport.request(Subjects.nodeReannounce(nodeId), {}, { timeoutMs: 2_000 }).catch(() => undefined);
      return;
    }
    const now = Date.now();
    const lagMs = Math.max(0, now - h.sentAt);
    this.heartbeatDelays.add(lagMs);
    const metrics = yunbianMetrics();
    metrics.heartbeatLag.observe({ node: nodeId }, lagMs / 1000);
    for (const i of h.instances) {
      metrics.instanceQueueDepth.set({ service: `${i.service}@${i.version}`, node: nodeId, instance: i.id }, i.queued);
    }
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
  }

  /**
   * A passive figure of the link between this orchestrator and `nodeId` (timed by PlacementRouter from step replies):
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

  onPing(p: PingRequest): OrchestratorPingReply {
    const peers: OrchestratorPingReply['peers'] = [];
    for (const [site, nodeId] of this.peersBySite) if (site !== p.site) peers.push({ site, nodeId });
    return { at: Date.now(), peers };
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
    if (changed) this.store.saveInstance(record);
    if (existing && existing.status !== 'failed' && record.status === 'failed') {
      this.emitLost(record, record.lastError ?? 'instance failed');
    }
    return record;
  }

  removeInstance(id: string): void {
    // A removed instance drained first: whatever it was sent, it answered.
    if (this.instances.delete(id)) this.store.deleteInstance(id);
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
    this.store.saveInstance(instance);
    if (status === 'failed' && previous !== 'failed') this.emitLost(instance, reason ?? 'instance failed');
  }

  // ---- liveness -----------------------------------------------------------

  private sweep(): void {
    const now = Date.now();
    for (const state of this.nodes.values()) {
      if (state.record.status === 'dead') continue;
      const silentMs = now - state.lastSeen;
      const status = nodeLiveness(silentMs, state.record.heartbeatIntervalMs, this.liveness);
      if (status !== state.record.status) {
        this.setNodeStatus(state, status, `no heartbeat for ${round(silentMs / 1000, 1)} s`);
      }
    }
  }

  private setNodeStatus(state: NodeState, status: NodeStatus, reason?: string): void {
    const r = state.record;
    const previous = r.status;
    r.status = status;
    r.statusReason = status === 'alive' ? undefined : reason;
    this.logger[status === 'alive' ? 'info' : 'warn']('node status changed', {
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
    this.store.saveNode(r);
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

  async isStoreReachable(): Promise<boolean> {
    return this.store ? this.store.isReachable() : false;
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
