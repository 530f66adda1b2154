import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { JsonLogger } from '@yunbian/common';
import {
  serviceRef,
  Subjects,
  type DeploymentAction,
  type DeploymentRecord,
  type DeploymentStatus,
} from '@yunbian/contracts';
import { NatsTransport } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ReplicaService } from '../replicas/replicas.service';
import { DeploymentService } from '../catalog/deployment.service';
import { loadDeploymentsConfig, type DeploymentsConfig } from './deployments-config';
import { DeploymentsService } from './deployments.service';
import { planReconcile, type PlannedDrain, type PlannedStart, type ReconcilePlan } from './reconcile-plan';

/** Catalogue events are bursty (an agent announcing, instances coming up): one pass after the burst. */
const EVENT_DEBOUNCE_MS = 200;

/**
 * Runs `planReconcile` over the catalogue and the declared deployments — on every catalogue
 * event (announcements, instance changes, leavings) and on a timer (node liveness and
 * autoscaling change without events) — and carries out its starts and drains through the
 * deployment service. One pass at a time; a pass asked for while one runs follows it.
 * A site-mode orchestrator never reconciles: the cloud's reconciler is the only one.
 */
@Injectable()
export class ReconcilerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('reconciler');
  private readonly config: DeploymentsConfig = loadDeploymentsConfig();
  private readonly statuses = new Map<string, DeploymentStatus>();
  private readonly lastErrors = new Map<string, string[]>();
  private subscriptions: Subscription[] = [];
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private queued?: Promise<DeploymentAction[]>;
  private tail: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(DeploymentService) private readonly instances: DeploymentService,
    @Inject(DeploymentsService) private readonly deployments: DeploymentsService,
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ReplicaService) private readonly replicas: ReplicaService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.deployments.engine.mode === 'site') {
      this.logger.info('not reconciling deployments: site mode', { site: this.deployments.engine.site });
      return;
    }
    const kick = () => this.soon();
    this.subscriptions = [
      this.transport.subscribe(Subjects.nodeAnnounceAll, kick),
      this.transport.subscribe(Subjects.instanceStatusAll, kick),
      this.transport.subscribe(Subjects.nodeLeavingAll, kick),
    ];
    this.timer = setInterval(() => void this.reconcile(), this.config.reconcileIntervalMs);
    this.logger.info('reconciling deployments', { ...this.config });
    this.soon();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /** The plan for these deployments (the declared ones with some replaced or removed) over the catalogue now. */
  plan(records: DeploymentRecord[] = this.deployments.list()): ReconcilePlan {
    const catalog = this.catalog;
    return planReconcile(
      records.map((record) => ({ record, memory: this.deployments.memoryOf(record.spec.name) })),
      {
        nodes: catalog.listNodes(),
        instances: catalog.listInstances(),
        versions: (name) => catalog.serviceVersions(name),
        descriptor: (ref) => catalog.serviceDescriptor(ref),
        now: Date.now(),
      },
      { ...this.config, deadAfterIntervals: catalog.liveness.deadAfterIntervals },
    );
  }

  /** What the deployment's status was at the last pass, with the errors of its last actions. */
  status(name: string): DeploymentStatus {
    const status = this.statuses.get(name) ?? { scopes: [], desired: 0, ready: 0, instances: [], problems: [] };
    return { ...status, problems: [...status.problems, ...(this.lastErrors.get(name) ?? [])] };
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reconcile(), EVENT_DEBOUNCE_MS);
  }

  /**
   * A pass that starts after any running one (callers asking meanwhile share the queued pass,
   * so events and the timer do not pile passes up); resolves with the actions it took.
   */
  reconcile(): Promise<DeploymentAction[]> {
    if (this.stopped || this.deployments.engine.mode === 'site') return Promise.resolve([]);
    if (this.queued) return this.queued;
    const next = this.tail.then(() => {
      this.queued = undefined;
      return this.pass();
    });
    this.queued = next;
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async pass(): Promise<DeploymentAction[]> {
    // Reconciliation is decided once: by the leading orchestrator replica.
    if (!this.replicas.decides()) return [];
    let plan: ReconcilePlan;
    try {
      plan = this.plan();
    } catch (err) {
      this.logger.error('reconcile plan failed', { error: (err as Error).message });
      return [];
    }
    const at = new Date().toISOString();
    const work: Promise<DeploymentAction>[] = [];
    for (const d of plan.deployments) {
      this.statuses.set(d.name, { ...d.status, lastReconcileAt: at });
      this.deployments.remember(d.name, d.memory);
      for (const start of d.starts) work.push(this.start(start));
      for (const drain of d.drains) work.push(this.drain(drain));
    }
    for (const drain of plan.orphans) work.push(this.drain(drain));
    for (const name of [...this.statuses.keys()]) if (!this.deployments.has(name)) this.statuses.delete(name);
    const actions = await Promise.all(work);
    const errors = new Map<string, string[]>();
    for (const a of actions) {
      if (!a.error) continue;
      errors.set(a.deployment, [
        ...(errors.get(a.deployment) ?? []),
        `${a.action} on node ${a.nodeId} failed: ${a.error}`,
      ]);
    }
    this.lastErrors.clear();
    for (const [name, list] of errors) this.lastErrors.set(name, list);
    if (actions.length) {
      this.logger.info('reconciled', {
        starts: actions.filter((a) => a.action === 'start').length,
        drains: actions.filter((a) => a.action === 'drain').length,
        failed: actions.filter((a) => a.error).length,
      });
    }
    return actions;
  }

  private async start(s: PlannedStart): Promise<DeploymentAction> {
    const record = this.deployments.has(s.deployment) ? this.deployments.get(s.deployment) : undefined;
    const action = startAction(s);
    if (!record) return { ...action, error: 'the deployment was deleted meanwhile' };
    try {
      const started = await this.instances.start({
        service: serviceRef(s.service),
        nodeId: s.nodeId,
        config: record.spec.config,
        resources: record.spec.resources,
        owner: { kind: 'deployment', name: s.deployment, revision: s.revision },
      });
      this.logger.info('replica started', {
        deployment: s.deployment,
        instance_id: started.id,
        node_id: s.nodeId,
        reason: s.reason,
      });
      return { ...action, instanceId: started.id };
    } catch (err) {
      return { ...action, error: (err as Error).message };
    }
  }

  private async drain(d: PlannedDrain): Promise<DeploymentAction> {
    const action = drainAction(d);
    try {
      await this.instances.stop(d.instanceId);
      this.logger.info('replica drained', { deployment: d.deployment, instance_id: d.instanceId, reason: d.reason });
      return action;
    } catch (err) {
      return { ...action, error: (err as Error).message };
    }
  }
}

export const startAction = (s: PlannedStart): DeploymentAction => ({
  action: 'start',
  deployment: s.deployment,
  service: serviceRef(s.service),
  nodeId: s.nodeId,
  site: s.site,
  reason: s.reason,
});

export const drainAction = (d: PlannedDrain): DeploymentAction => ({
  action: 'drain',
  deployment: d.deployment,
  service: d.service,
  nodeId: d.nodeId,
  site: d.site,
  instanceId: d.instanceId,
  reason: d.reason,
});
