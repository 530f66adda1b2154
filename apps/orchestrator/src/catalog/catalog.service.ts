import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { envInt, JsonLogger } from '@yunbian/common';
import { CatalogView, DEFAULT_LIVENESS, followCatalog } from '@yunbian/catalog';
import { yunbianMetrics } from '@yunbian/observability';
import {
  Subjects,
  type BandwidthProbeAck,
  type BandwidthProbeChunk,
  type InstanceRecord,
  type LivenessDecision,
  type MeasuredBandwidth,
  type NodeHeartbeat,
  type NodeRecord,
  type NodeStatus,
  type OrchestratorPingReply,
  type PingRequest,
  type ServiceDescriptor,
} from '@yunbian/contracts';
import { NatsTransport, SiteCopy, YunbianError } from '@yunbian/transport';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { ReplicaService } from '../replicas/replicas.service';
import { CatalogStore } from './catalog.store';
import {
  catalogCopyEntries,
  catalogFingerprint,
  SITE_CATALOG_BUCKET,
  SITE_CATALOG_COPY_MS,
  snapshotFromCopy,
} from './site-catalog-copy';

export type { CatalogStats } from '@yunbian/catalog';

/**
 * The live catalogue of nodes, service types and instances: the catalogue view of
 * `@yunbian/catalog` (agents' events update it; its liveness sweep, run here, is the
 * authority that marks silent nodes suspect, then dead) with every change that matters after
 * a restart written through to JetStream KV, heartbeat metrics, and the probes agents send
 * the orchestrator.
 */
/** One change of the catalogue: what changed (its current record is read when it is sent). */
export interface CatalogChange {
  kind: 'node' | 'instance' | 'service';
  id: string;
  removed?: boolean;
}

@Injectable()
export class CatalogService extends CatalogView implements OnModuleInit, OnApplicationShutdown {
  private subscriptions: Subscription[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private store!: CatalogStore;
  /** A site engine's copy of its view in its site's domain (`SITE_CATALOG_BUCKET`), written every few seconds. */
  private siteCopy?: SiteCopy;
  private copyWriter?: { stop(): Promise<void> };
  /**
   * A site engine keeps a view, not the catalogue: it hears the same agent events (the leaf
   * carries the whole fleet's while the uplink is up) and sweeps liveness for its own routing,
   * but writes nothing to the catalogue store, answers no agent probes meant for the cloud
   * (their RTT to the orchestrator would be the site's), and deploys nothing.
   */
  readonly authority: boolean;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
    @Inject(ReplicaService) private readonly replicas: ReplicaService,
  ) {
    super({
      logger: new JsonLogger('catalog'),
      liveness: {
        ...DEFAULT_LIVENESS,
        deadAfterIntervals: envInt('YUNBIAN_DEAD_AFTER_MISSED', DEFAULT_LIVENESS.deadAfterIntervals),
      },
    });
    this.authority = engine.mode === 'cloud';
  }

  async onModuleInit(): Promise<void> {
    const logger = this.logger!;
    this.store = this.authority
      ? await CatalogStore.open(this.transport, logger)
      : await CatalogStore.openReadOnly(this.transport, logger);
    let snapshot = await this.store.load();
    let from = this.authority ? 'store' : 'cloud';
    if (!this.authority) {
      // The site's copy: what a restart with the uplink cut starts from (then agents announce again).
      this.siteCopy = await SiteCopy.open(this.transport, SITE_CATALOG_BUCKET, this.engine.runDomain, {
        fingerprint: catalogFingerprint,
      });
      const copied = snapshotFromCopy(await this.siteCopy.entries());
      if (!this.store.loaded) {
        snapshot = copied;
        from = 'site copy';
      }
    }
    this.restoreFrom(snapshot);
    logger.info('catalogue restored', {
      from,
      nodes: snapshot.nodes.length,
      instances: snapshot.instances.length,
      services: snapshot.services.length,
    });
    const t = this.transport;
    if (this.authority) {
      this.subscriptions.push(
        t.serve<PingRequest, OrchestratorPingReply>(Subjects.orchestratorPing, (p) => this.onPing(p)),
        // Agents' bandwidth probes to the cloud: a tiny ack per chunk, nothing kept.
        t.serve<BandwidthProbeChunk, BandwidthProbeAck>(Subjects.orchestratorBandwidthProbe, (chunk) => ({
          bytes: typeof chunk?.pad === 'string' ? chunk.pad.length : 0,
        })),
      );
    }
    this.subscriptions.push(
      ...(await followCatalog(t, this, (err, subject) =>
        logger.warn('bad catalogue event', { subject, error: (err as Error).message }),
      )),
    );
    if (this.authority) {
      // Liveness is decided once, by the leading replica: the others apply its decisions, with
      // what follows from them here too (a dead node's instances fail; their attempts retry).
      this.subscriptions.push(
        t.subscribe<LivenessDecision>(
          Subjects.catalogLiveness,
          (d) => {
            if (d && d.by !== this.engine.id && typeof d.nodeId === 'string')
              this.applyLiveness(d.nodeId, d.status, d.reason);
          },
          (err) => logger.warn('bad liveness decision', { error: (err as Error).message }),
        ),
      );
    }
    // Nodes are not judged by a silence that was this process's own (NATS away from it).
    t.onConnection((state) => (state === 'lost' ? this.connectionLost() : this.connectionBack()));
    this.sweepTimer = setInterval(() => this.sweep(), envInt('YUNBIAN_LIVENESS_SWEEP_MS', 200));
    // On the leaf's JetStream: written with the uplink cut too.
    this.copyWriter = this.siteCopy?.keepWriting(
      () => catalogCopyEntries(this.view()),
      SITE_CATALOG_COPY_MS,
      (err) => logger.warn('site copy of the catalogue not written', { error: err.message }),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const s of this.subscriptions) s.unsubscribe();
    await this.store?.flush();
    await this.copyWriter?.stop();
  }

  /** Only the leading replica judges silence (a site engine judges for its own routing). */
  override sweep(now = Date.now()): void {
    if (this.authority && !this.replicas.decides()) return;
    super.sweep(now);
  }

  protected override livenessDecided(record: NodeRecord, reason: string): void {
    if (!this.authority) return;
    try {
      this.transport.publish(Subjects.catalogLiveness, {
        nodeId: record.id,
        status: record.status as NodeStatus,
        reason,
        by: this.engine.id,
        at: new Date().toISOString(),
      } satisfies LivenessDecision);
    } catch (err) {
      this.logger?.warn('liveness decision not published', { node_id: record.id, error: (err as Error).message });
    }
  }

  // ---- written through to the store ----------------------------------------

  protected override nodeChanged(record: NodeRecord): void {
    this.store.saveNode(record);
    this.changed({ kind: 'node', id: record.id });
  }
  protected override serviceChanged(descriptor: ServiceDescriptor): void {
    this.store.saveService(descriptor);
    this.changed({ kind: 'service', id: `${descriptor.name}@${descriptor.version}` });
  }
  protected override instanceChanged(record: InstanceRecord): void {
    this.store.saveInstance(record);
    this.changed({ kind: 'instance', id: record.id });
  }
  protected override instanceRemoved(id: string): void {
    this.store.deleteInstance(id);
    this.changed({ kind: 'instance', id, removed: true });
  }
  protected override nodeRemoved(id: string): void {
    this.store.deleteNode(id);
    this.changed({ kind: 'node', id, removed: true });
  }

  // ---- a feed of changes for this process (GET /events) ---------------------

  private readonly changeListeners = new Set<(change: CatalogChange) => void>();

  /** Calls `listener` on every change of a node, instance or service here; returns the unsubscribe. */
  onChange(listener: (change: CatalogChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(change: CatalogChange): void {
    for (const listener of this.changeListeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own (a closed stream): the catalogue goes on.
      }
    }
  }

  override onHeartbeat(h: NodeHeartbeat, subject: string): boolean {
    if (!super.onHeartbeat(h, subject)) return false;
    const metrics = yunbianMetrics();
    metrics.heartbeatLag.observe({ node: h.nodeId }, Math.max(0, Date.now() - h.sentAt) / 1000);
    for (const i of h.instances) {
      metrics.instanceQueueDepth.set(
        { service: `${i.service}@${i.version}`, node: h.nodeId, instance: i.id },
        i.queued,
      );
    }
    return true;
  }

  /** A site engine's step requests time the site's links, not the node's link to the cloud. */
  override notePassiveBandwidth(nodeId: string, figure: MeasuredBandwidth): void {
    if (this.authority) super.notePassiveBandwidth(nodeId, figure);
  }

  /** Refuses what only the cloud's catalogue does (deployments) on a site engine, saying where to go. */
  assertAuthority(what: string): void {
    if (this.authority) return;
    throw new YunbianError(
      'BAD_REQUEST',
      `this is the site engine of ${this.engine.site}: it executes runs but does not ${what}; ask the cloud orchestrator`,
    );
  }

  onPing(p: PingRequest): OrchestratorPingReply {
    return { at: Date.now(), peers: this.peers(p.site) };
  }

  async isStoreReachable(): Promise<boolean> {
    return this.store ? this.store.isReachable() : false;
  }
}
