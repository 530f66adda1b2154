import type { Subscription } from '@nats-io/transport-node';
import { RecentMedian, round, type JsonLogger } from '@yunbian/common';
import {
  Subjects,
  type InstanceReport,
  type InstanceStatusEvent,
  type LimitsEnforcement,
  type NodeAnnouncement,
  type NodeDescriptor,
  type NodeHeartbeat,
  type NodeLoad,
  type OrchestratorPingReply,
  type PingRequest,
  type ProfileModelsReply,
  type ProfileModelsRequest,
  type RoundTrips,
  type ServiceDescriptor,
  type ServiceLibraryProblem,
  type ServiceLibraryReloadReply,
  type StartInstanceCommand,
  type StopInstanceCommand,
} from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import {
  BandwidthProber,
  ORCHESTRATOR_LINK,
  serveBandwidthProbes,
  type BandwidthProbeOptions,
} from './bandwidth-prober';
import { LoadSampler } from './load-sampler';

/** What the agent needs from whatever runs its instances (worker processes, or none). */
export interface InstanceHost {
  start(command: StartInstanceCommand): InstanceReport;
  stop(instanceId: string, drainTimeoutMs?: number): Promise<void>;
  stopAll(drainTimeoutMs?: number): Promise<void>;
  reports(): InstanceReport[];
  /** Resident memory of a worker process shared by several instances (counted once), MiB. */
  sharedWorkerMemoryMb?(): number | undefined;
}

export interface AgentOptions {
  heartbeatIntervalMs: number;
  /** How often round trips are probed (default: every heartbeat). */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Bandwidth probes to the orchestrator and one peer per other site; absent: bandwidth is not measured. */
  bandwidth?: BandwidthProbeOptions;
  logger: JsonLogger;
  /** Whether the node's limits and instance resources are enforced here (announced to the catalogue). */
  limitsEnforcement?: LimitsEnforcement;
  /** Rescans the service directories on request (`Subjects.nodeReloadServices`); absent: the command is not served. */
  reloadServices?: () => Promise<ServiceLibraryReloadReply>;
  /** Times models on request (the registry's compression reports); absent: the node does not profile. */
  profiler?: { profile(request: ProfileModelsRequest): Promise<ProfileModelsReply> };
}

/**
 * The node's side of the catalogue: announce, heartbeat with live load, probe round
 * trips (and, when configured, bandwidth) to the orchestrator and to one peer per other
 * site, and carry out instance commands. Plain TypeScript so that many can share a process (the scale benchmark).
 */
export class NodeAgent {
  private timers: NodeJS.Timeout[] = [];
  private subscriptions: Subscription[] = [];
  private seq = 0;
  private readonly startedAt = new Date().toISOString();
  private readonly sampler = new LoadSampler();
  // Medians of recent round trips: a ping queued behind a transfer (a bandwidth probe, real
  // traffic) is an outlier a moving average would carry for several probes.
  private readonly orchestratorRtt = new RecentMedian();
  private readonly siteRtt = new Map<string, { median: RecentMedian; viaNode: string }>();
  private readonly bandwidth?: BandwidthProber;
  private probing = false;
  private stopped = false;

  constructor(
    private readonly transport: NatsTransport,
    readonly node: NodeDescriptor,
    private services: ServiceDescriptor[],
    private readonly instances: InstanceHost,
    private readonly options: AgentOptions,
    private serviceProblems: ServiceLibraryProblem[] = [],
  ) {
    // A confirmed bandwidth step is published at once: the plans that follow the link (split
    // steps) re-decide on the catalogue's figure, which otherwise waits for the next heartbeat.
    if (options.bandwidth)
      this.bandwidth = new BandwidthProber(transport, node, options.bandwidth, options.logger, () => {
        if (!this.stopped) this.heartbeat();
      });
  }

  async start(): Promise<void> {
    const t = this.transport;
    const id = this.node.id;
    this.subscriptions.push(
      t.serve<StartInstanceCommand, InstanceReport>(Subjects.nodeStartInstance(id), (cmd) => this.startInstance(cmd)),
      t.serve<StopInstanceCommand, { instanceId: string; status: string }>(Subjects.nodeStopInstance(id), (cmd) => {
        // Answer at once; the drain runs on, and its end is announced as an instance event.
        this.instances
          .stop(cmd.instanceId, cmd.drainTimeoutMs)
          .catch((err: Error) =>
            this.options.logger.warn('stop failed', { instance_id: cmd.instanceId, error: err.message }),
          );
        return { instanceId: cmd.instanceId, status: 'draining' };
      }),
      t.serve(Subjects.nodeReannounce(id), () => {
        this.announce();
        return { ok: true };
      }),
      t.serve<PingRequest, { nodeId: string; at: number }>(Subjects.nodePing(id), () => ({
        nodeId: id,
        at: Date.now(),
      })),
      t.subscribe(Subjects.orchestratorOnline, () => this.announce()),
    );
    const reload = this.options.reloadServices;
    if (reload) {
      this.subscriptions.push(
        t.serve<unknown, ServiceLibraryReloadReply>(Subjects.nodeReloadServices(id), () => reload()),
      );
    }
    this.subscriptions.push(serveBandwidthProbes(t, id));
    const profiler = this.options.profiler;
    if (profiler) {
      this.subscriptions.push(
        t.serve<ProfileModelsRequest, ProfileModelsReply>(Subjects.nodeProfileModels(id), (request) =>
          profiler.profile(request),
        ),
      );
    }
    await t.flush();
    this.announce();
    this.timers.push(setInterval(() => this.heartbeat(), this.options.heartbeatIntervalMs));
    const probeEvery = this.options.probeIntervalMs ?? this.options.heartbeatIntervalMs;
    this.timers.push(setInterval(() => void this.probe(), probeEvery));
    void this.probe();
  }

  private startInstance(command: StartInstanceCommand): InstanceReport {
    if (this.stopped) throw new YunbianError('UNAVAILABLE', `node ${this.node.id} is shutting down`);
    if (!this.services.some((s) => s.name === command.service && s.version === command.version)) {
      throw new YunbianError(
        'NOT_FOUND',
        `node ${this.node.id} has no service ${command.service}@${command.version} in its library`,
      );
    }
    return this.instances.start(command);
  }

  /**
   * The service library changed (a service added, rebuilt or removed): announce it. Running
   * instances keep the code they loaded; new instances get the new files.
   */
  setServiceLibrary(services: ServiceDescriptor[], problems: ServiceLibraryProblem[]): void {
    this.services = services;
    this.serviceProblems = problems;
    if (!this.stopped) this.announce();
  }

  /** Called by the instance host on every status change. */
  instanceChanged(instance: InstanceReport, removed: boolean): void {
    if (this.stopped && !removed) return;
    const event: InstanceStatusEvent = { nodeId: this.node.id, instance, removed };
    this.safePublish(Subjects.instanceStatus(this.node.id), event);
  }

  announce(): void {
    const announcement: NodeAnnouncement = {
      node: this.node,
      agentStartedAt: this.startedAt,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      services: this.services,
      ...(this.serviceProblems.length > 0 ? { serviceProblems: this.serviceProblems } : {}),
      instances: this.instances.reports(),
      limitsEnforcement: this.options.limitsEnforcement,
    };
    this.safePublish(Subjects.nodeAnnounce(this.node.id), announcement);
  }

  heartbeat(): void {
    const instances = this.instances.reports();
    const heartbeat: NodeHeartbeat = {
      nodeId: this.node.id,
      seq: ++this.seq,
      sentAt: Date.now(),
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      load: {
        ...this.sampler.sample(this.node.memoryMb, 0),
        ...nodeMemory(process.memoryUsage().rss / 1024 / 1024, instances, this.instances.sharedWorkerMemoryMb?.()),
      },
      instances,
      rtt: this.roundTrips(),
    };
    if (this.bandwidth) heartbeat.bandwidth = this.bandwidth.report();
    this.safePublish(Subjects.nodeHeartbeat(this.node.id), heartbeat);
  }

  roundTrips(): RoundTrips {
    const sites: RoundTrips['sites'] = {};
    const now = Date.now();
    for (const [site, { median, viaNode }] of this.siteRtt) {
      sites[site] = { ms: round(median.value ?? 0, 3), viaNode, ageMs: now - (median.lastAt ?? now) };
    }
    const o = this.orchestratorRtt.value;
    return { orchestratorMs: o === undefined ? undefined : round(o, 3), sites };
  }

  /**
   * One ping to the orchestrator, then one to the named peer of every other site; then, when
   * a round is due, the bandwidth probes (after the pings, so that they do not queue behind them).
   */
  async probe(): Promise<void> {
    if (this.stopped || this.probing) return;
    this.probing = true;
    try {
      await this.probeOnce();
    } finally {
      this.probing = false;
    }
  }

  private async probeOnce(): Promise<void> {
    const timeoutMs = this.options.probeTimeoutMs ?? 2_000;
    const request: PingRequest = { nodeId: this.node.id, site: this.node.site, sentAt: Date.now() };
    let reply: OrchestratorPingReply;
    try {
      const started = performance.now();
      reply = await this.transport.request<OrchestratorPingReply>(Subjects.orchestratorPing, request, { timeoutMs });
      this.orchestratorRtt.add(performance.now() - started);
    } catch {
      return; // The orchestrator is away; liveness is its concern, we keep heartbeating.
    }
    await Promise.all(
      reply.peers.map(async (peer) => {
        try {
          const started = performance.now();
          await this.transport.request(Subjects.nodePing(peer.nodeId), request, { timeoutMs });
          const ms = performance.now() - started;
          const entry = this.siteRtt.get(peer.site);
          if (entry) {
            entry.median.add(ms);
            entry.viaNode = peer.nodeId;
          } else {
            const median = new RecentMedian();
            median.add(ms);
            this.siteRtt.set(peer.site, { median, viaNode: peer.nodeId });
          }
        } catch {
          // An unreachable peer keeps its last figure; the orchestrator tracks its liveness.
        }
      }),
    );
    if (this.bandwidth?.due() && !this.stopped) await this.bandwidth.round(reply.peers, (link) => this.rttOf(link));
  }

  private rttOf(link: string): number | undefined {
    return link === ORCHESTRATOR_LINK ? this.orchestratorRtt.value : this.siteRtt.get(link)?.median.value;
  }

  private safePublish(subject: string, value: unknown): void {
    try {
      this.transport.publish(subject, value);
    } catch (err) {
      this.options.logger.warn('publish failed', { subject, error: (err as Error).message });
    }
  }

  /** Drains every instance, says goodbye, and stops. */
  async stop(reason: string, drainTimeoutMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.instances.stopAll(drainTimeoutMs);
    this.safePublish(Subjects.nodeLeaving(this.node.id), { nodeId: this.node.id, reason });
    for (const s of this.subscriptions) s.unsubscribe();
    await this.transport.flush().catch(() => undefined);
  }
}

/**
 * The node's memory figures: the agent's own RSS, each instance's, and their sum (a shared
 * worker counted once, as its instances' shares add up to it, give or take rounding).
 */
export function nodeMemory(
  agentMb: number,
  instances: InstanceReport[],
  sharedWorkerMb?: number,
): Pick<NodeLoad, 'memoryUsedMb' | 'agentMemoryMb' | 'instanceMemoryMb' | 'sharedWorkerMemoryMb'> {
  const instanceMemoryMb: Record<string, number> = {};
  let own = 0;
  for (const i of instances) {
    if (i.memoryMb === undefined) continue;
    instanceMemoryMb[i.id] = i.memoryMb;
    if (i.isolation !== 'shared') own += i.memoryMb;
  }
  return {
    memoryUsedMb: Math.round(agentMb + own + (sharedWorkerMb ?? 0)),
    agentMemoryMb: Math.round(agentMb),
    instanceMemoryMb,
    ...(sharedWorkerMb !== undefined ? { sharedWorkerMemoryMb: Math.round(sharedWorkerMb) } : {}),
  };
}

/** For agents that host no worker processes (simulated nodes). */
export const noInstances: InstanceHost = {
  start: () => {
    throw new YunbianError('UNAVAILABLE', 'this node runs no instances');
  },
  stop: () => Promise.resolve(),
  stopAll: () => Promise.resolve(),
  reports: () => [],
};
