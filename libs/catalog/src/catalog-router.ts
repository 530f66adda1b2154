import { PassiveBandwidth, passiveBandwidthSample, type TimedExchange } from '@yunbian/common';
import {
  serviceRef,
  YunbianError,
  type ModelAliasSource,
  type InstanceRecord,
  type NodeRecord,
  type ServiceDescriptor,
} from '@yunbian/contracts';
import type { RouteDecision, RouteRequest, StepRouter } from '@yunbian/engine';
import {
  candidatesFromCatalog,
  ComputeProfiles,
  matchingVersions,
  NetworkModel,
  nodeClassOf,
  parseObjective,
  PlacementInputError,
  placeStep,
  versionedService,
  versionRange,
  type PlacementCandidate,
  type PlacementHints as PlacementEngineHints,
  type VersionRange,
} from '@yunbian/placement';
import semver from 'semver';
import {
  parseModelRef,
  parseRef,
  resolveModelRef,
  servedModelRef,
  servesTarget,
  type ModelRef,
  type ModelTarget,
  type PlacementHints,
} from '@yunbian/workflow';
import type { CatalogView } from './catalog-view';

const NETWORK_REFRESH_MS = 1_000;

interface MatchedVersions {
  /** The catalogue's `serviceRevision` these were matched at. */
  revision: number;
  name: string;
  versions: ServiceDescriptor[];
  /** `versionedService(versions)`; undefined when nothing matched. */
  service: ReturnType<typeof versionedService> | undefined;
}

/** What routing by model reads besides the catalogue. */
export interface ModelRoutingSources {
  /** Model aliases (`name@stable`, `name@canary`); without them a step naming an alias fails saying so. */
  aliases?: ModelAliasSource;
  /** The deployments whose instances serve `model` (a name), for the error when none is up. */
  deploymentsOf?(model: string): string[];
}

/**
 * Routes each step attempt with the placement library over a catalogue view: hard
 * constraints (tags, tier, site, memory, data tier), then the objective over estimated
 * latency (network + queue + compute) and cost. Compute times are learnt from every reply,
 * per node class (arch, tags and the CPU the instance gets: `nodeClassOf`). Counts what this
 * engine has sent but not heard back, since heartbeats lag. The orchestrator and the
 * embedded engine of `@yunbian/client` both place steps with it.
 */
export class CatalogRouter implements StepRouter {
  private readonly profiles = new ComputeProfiles();
  private readonly declared = new Set<string>();
  private readonly pending = new Map<string, number>();
  private network?: { model: NetworkModel; at: number };
  private readonly ranges = new Map<string, VersionRange>();
  private readonly matched = new Map<string, MatchedVersions>();
  private readonly passive = new PassiveBandwidth();
  private readonly modelRefs = new Map<string, ModelRef>();
  private readonly modelRanges = new Map<string, semver.Range>();

  constructor(
    private readonly catalog: CatalogView,
    private models: ModelRoutingSources = {},
  ) {}

  /** Where aliases (and the deployments serving a model) are read from; replaces what was given. */
  useModelSources(models: ModelRoutingSources): void {
    this.models = models;
  }

  route(request: RouteRequest): RouteDecision {
    const { name, versions, service } = this.versionsOf(request.service);
    let instances = this.catalog.instancesOfService(name);
    // A step naming a model: only the instances serving a version it accepts are candidates.
    let model: ModelTarget | undefined;
    if (request.model !== undefined) {
      model = resolveModelRef(this.modelRef(request.model), this.models.aliases, request.splitKey ?? request.service);
      const range = model.range === undefined ? undefined : this.modelRange(model.range);
      const target = model;
      const serving = instances.filter((i) => servesTarget(i.model, target, range));
      if (serving.length === 0) throw this.noInstanceServing(request, model, instances);
      instances = serving;
    }
    // Only the nodes that host an instance: this runs for every step attempt, whatever the fleet's size.
    const nodes = this.nodesOf(instances);
    let candidates: PlacementCandidate[] = [];
    for (const descriptor of versions) candidates.push(...candidatesFromCatalog(descriptor, nodes, instances));
    if (candidates.length === 0) {
      throw new YunbianError(
        'UNAVAILABLE',
        `no instance of ${request.service} is running; start one with POST /instances`,
        {
          service: request.service,
        },
      );
    }
    // The candidates were built for this call: count what was sent but not heard back in
    // place (a spread copy of a 15-field object costs more than the rest of the decision).
    for (const c of candidates) if (c.instanceId) c.queued += this.pending.get(c.instanceId) ?? 0;
    const avoided = candidates.filter((c) => !request.avoid?.includes(c.instanceId ?? ''));
    if (avoided.length > 0) candidates = avoided;

    const hints = request.hints;
    let decision;
    try {
      // Field by field, not a spread of versionedService's result: the spread built the request
      // (read all through placeStep) as a slow dictionary object, ≈ 5 µs a decision.
      decision = placeStep(
        {
          service: service!.service,
          requirements: service!.requirements,
          versions: service!.versions,
          inputBytes: request.inputBytes ?? 0,
          origin: request.origin,
          dataTier: request.dataTier ?? hints?.dataTier,
          hints: this.engineHints(hints),
        },
        candidates,
        { network: this.networkModel(), profiles: this.profiles },
      );
    } catch (err) {
      if (err instanceof PlacementInputError) throw new YunbianError('BAD_REQUEST', err.message, err.details);
      throw err;
    }
    const several = versions.length > 1;
    const summary = decision.candidates.map((c) => ({
      instanceId: c.instanceId,
      nodeId: c.nodeId,
      // Which version, when the step's range matched several (each is judged by its own).
      service: several ? c.service : undefined,
      latencyMs: c.estimate ? Math.round(c.estimate.latencyMs * 100) / 100 : undefined,
      // The compute figure behind the latency (learnt from replies, declared or the default).
      computeMs: c.estimate ? Math.round(c.estimate.computeMs * 100) / 100 : undefined,
      computeSource: c.estimate?.computeSource,
      cost: c.estimate?.costPerCall,
      bandwidthMbps:
        c.estimate && Number.isFinite(c.estimate.bandwidthMbps)
          ? Math.round(c.estimate.bandwidthMbps * 1000) / 1000
          : undefined,
      bandwidthSource: c.estimate?.bandwidthSource,
      bandwidthAgeMs: c.estimate?.bandwidthAgeMs === undefined ? undefined : Math.round(c.estimate.bandwidthAgeMs),
      score: c.score,
      rejected: c.rejections.length ? c.rejections.map((r) => r.message).join('; ') : undefined,
    }));
    if (!decision.ok) {
      // Waiting-curable refusals (a starting instance, a dead node, a full queue) are retried.
      const code = decision.retryable ? 'UNAVAILABLE' : 'UNSATISFIABLE';
      throw new YunbianError(code, decision.error.message, { ...decision.error.details, candidates: summary });
    }
    const instance = this.catalog.instance(decision.chosen.instanceId!);
    return {
      instance,
      node: this.catalog.node(instance.nodeId),
      strategy: decision.strategy,
      reason: model ? `model ${model.description}; ${decision.reason}` : decision.reason,
      candidates: summary,
      model: model && instance.model ? servedModelRef(instance.model) : undefined,
    };
  }

  private modelRef(text: string): ModelRef {
    let ref = this.modelRefs.get(text);
    if (!ref) {
      ref = parseModelRef(text);
      if (this.modelRefs.size >= 1_000) this.modelRefs.clear();
      this.modelRefs.set(text, ref);
    }
    return ref;
  }

  private modelRange(text: string): semver.Range {
    let range = this.modelRanges.get(text);
    if (!range) {
      range = new semver.Range(text);
      if (this.modelRanges.size >= 1_000) this.modelRanges.clear();
      this.modelRanges.set(text, range);
    }
    return range;
  }

  /**
   * No instance of the service serves the model version the step asks for: says so, which
   * instances serve which model versions, and which deployments serve that model (their
   * reconciler starts replicas; a step does not start instances itself).
   */
  private noInstanceServing(request: RouteRequest, model: ModelTarget, instances: InstanceRecord[]): YunbianError {
    const byModel = new Map<string, string[]>();
    // By instance id, so the sentence is the same whatever order the catalogue holds them in.
    for (const i of [...instances].sort((a, b) => a.id.localeCompare(b.id))) {
      const key = i.model ? servedModelRef(i.model) : 'no registered model';
      byModel.set(key, [
        ...(byModel.get(key) ?? []),
        `${i.id} on ${i.nodeId}${i.status === 'ready' ? '' : ` (${i.status})`}`,
      ]);
    }
    const serving = [...byModel.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([m, list]) => `${m}: ${list.join(', ')}`);
    const deployments = this.models.deploymentsOf?.(model.name) ?? [];
    const what = instances.length
      ? `instances of ${request.service} serve ${serving.join('; ')}`
      : `no instance of ${request.service} is running`;
    const deployed = deployments.length
      ? `deployment${deployments.length > 1 ? 's' : ''} ${deployments.join(', ')} serve${deployments.length > 1 ? '' : 's'} model ${model.name}: its replicas may still be starting, or serve another version`
      : `no deployment serves model ${model.name}`;
    return new YunbianError(
      'UNAVAILABLE',
      `no instance serves model ${model.description}: ${what}; ${deployed}. Start one with POST /instances {"service": "${parseRef(request.service).name}", "nodeId": …, "config": {"model": "${model.name}@<version>"}} or a deployment`,
      {
        model: request.model,
        resolved: { name: model.name, version: model.version, range: model.range, canary: model.canary },
        instances: instances.map((i) => ({
          id: i.id,
          nodeId: i.nodeId,
          status: i.status,
          model: i.model ? servedModelRef(i.model) : undefined,
        })),
        deployments,
      },
    );
  }

  private nodesOf(instances: InstanceRecord[]): NodeRecord[] {
    const nodes = new Map<string, NodeRecord>();
    for (const instance of instances) {
      if (nodes.has(instance.nodeId)) continue;
      try {
        nodes.set(instance.nodeId, this.catalog.node(instance.nodeId));
      } catch {
        // An instance whose node left: candidatesFromCatalog skips it.
      }
    }
    return [...nodes.values()];
  }

  /**
   * The descriptors a step's `name@range` matches (newest first, their compute profiles
   * declared) and the placement request's service part, kept until a descriptor changes:
   * matching tests every version against the range (a SemVer parsed per test), for every
   * attempt, while descriptors change only when a node announces a new one.
   */
  private versionsOf(ref: string): MatchedVersions {
    const revision = this.catalog.serviceRevision;
    const known = this.matched.get(ref);
    if (known && known.revision === revision) return known;
    const { name, range } = parseRef(ref);
    const versions = matchingVersions(this.catalog.serviceVersions(name), this.range(range));
    for (const descriptor of versions) this.declare(descriptor);
    const matched: MatchedVersions = {
      revision,
      name,
      versions,
      service: versions.length > 0 ? versionedService(versions) : undefined,
    };
    if (this.matched.size >= 1_000) this.matched.clear();
    this.matched.set(ref, matched);
    return matched;
  }

  /** Parsed semver ranges, kept: parsing one costs more than the rest of a routing decision. */
  private range(text: string): VersionRange {
    let range = this.ranges.get(text);
    if (!range) {
      range = versionRange(text);
      if (this.ranges.size >= 1_000) this.ranges.clear();
      this.ranges.set(text, range);
    }
    return range;
  }

  private engineHints(hints: PlacementHints | undefined): PlacementEngineHints | undefined {
    if (!hints) return undefined;
    return {
      tier: hints.tier,
      site: hints.site,
      tags: hints.tags || hints.anyTags ? { allOf: hints.tags, anyOf: hints.anyTags } : undefined,
      objective: parseObjective(hints.objective),
      maxLatencyMs: hints.maxLatencyMs,
      strategy: hints.strategy,
    };
  }

  /**
   * A step request this engine timed: when it was large and one-way enough, its transfer
   * time (elapsed − the node's handler time − the node's RTT to the orchestrator) gives a
   * passive sample of the node's orchestrator link (`passiveBandwidthSample`). It goes into
   * this engine's own view only: an embedded engine's samples describe its own link.
   */
  private timedTransfer(node: NodeRecord, exchange: TimedExchange): void {
    const sample = passiveBandwidthSample(exchange, node.rtt?.orchestratorMs);
    if (!sample.ok) return;
    const figure = this.passive.add(node.id, sample, Date.now());
    if (!figure) return;
    this.catalog.notePassiveBandwidth(node.id, {
      mbps: figure.mbps,
      measuredAt: figure.measuredAt,
      ageMs: 0,
      samples: figure.samples,
      source: 'passive',
      direction: figure.direction,
    });
  }

  /** Compute profiles, with the declared profiles of `descriptors` registered (for planning). */
  computeProfiles(descriptors: ServiceDescriptor[] = []): ComputeProfiles {
    for (const descriptor of descriptors) this.declare(descriptor);
    return this.profiles;
  }

  private declare(descriptor: ServiceDescriptor): void {
    const ref = serviceRef(descriptor);
    if (descriptor.computeProfile && !this.declared.has(ref)) {
      this.profiles.declare(ref, descriptor.computeProfile);
      this.declared.add(ref);
    }
  }

  /** The network model of the whole fleet, rebuilt at most once a second (or from `nodes` when given). */
  networkModel(nodes?: NodeRecord[]): NetworkModel {
    const now = Date.now();
    if (nodes || !this.network || now - this.network.at > NETWORK_REFRESH_MS) {
      this.network = { model: NetworkModel.fromNodes(nodes ?? this.catalog.listNodes()), at: now };
    }
    return this.network.model;
  }

  siteOf(nodeId: string): string | undefined {
    try {
      return this.catalog.node(nodeId).site;
    } catch {
      return undefined;
    }
  }

  instance(instanceId: string): InstanceRecord | undefined {
    try {
      const instance = this.catalog.instance(instanceId);
      return instance.status === 'failed' ? undefined : instance;
    } catch {
      return undefined;
    }
  }

  sent(instanceId: string): void {
    this.pending.set(instanceId, (this.pending.get(instanceId) ?? 0) + 1);
  }

  settled(instanceId: string, durationMs?: number, exchange?: TimedExchange): void {
    const n = (this.pending.get(instanceId) ?? 1) - 1;
    if (n <= 0) this.pending.delete(instanceId);
    else this.pending.set(instanceId, n);
    if (durationMs === undefined) return;
    try {
      const instance = this.catalog.instance(instanceId);
      const node = this.catalog.node(instance.nodeId);
      this.profiles.record(
        `${instance.service}@${instance.version}`,
        nodeClassOf(node, instance.resources),
        durationMs,
      );
      if (exchange) this.timedTransfer(node, exchange);
    } catch {
      // The instance (or its node) left the catalogue meanwhile; its timing no longer matters.
    }
  }
}
