import semver from 'semver';
import {
  ownerKey,
  type DeploymentRecord,
  type DeploymentSpec,
  type DeploymentStatus,
  type InstanceRecord,
  type NodeRecord,
  type OwnedInstance,
  type ServiceDescriptor,
} from '@yunbian/contracts';
import { checkAdmission, reservationOf } from '../catalog/instance-admission';
import { autoscaleStep, type LoadObservation, type ScaleState } from './autoscale';

export interface ReconcilePolicy {
  /** How long the replicas of a dead node stay counted before they are started elsewhere (ms). */
  replaceGraceMs: number;
  /** Nodes of one site that fell silent within this window of each other: the site's uplink is taken as cut (ms). */
  siteCutWindowMs: number;
  /** The catalogue's dead threshold in missed heartbeat intervals (when the grace period starts). */
  deadAfterIntervals: number;
}

/** What the reconciler keeps per deployment between passes (stored with it). */
export interface DeploymentMemory {
  /** Replicas per node as last planned: a replica lost with its agent is started on that node again. */
  homes: Record<string, number>;
  /** Per scope (`pool` or a site) of an autoscaled deployment. */
  scale: Record<string, ScaleState>;
}

export const emptyMemory = (): DeploymentMemory => ({ homes: {}, scale: {} });

/** The catalogue as the reconciler sees it. */
export interface ObservedCatalogue {
  nodes: NodeRecord[];
  instances: InstanceRecord[];
  /** Catalogued versions of a service (by name). */
  versions(name: string): ServiceDescriptor[];
  descriptor(ref: string): ServiceDescriptor | undefined;
  now: number;
}

export interface PlannedStart {
  deployment: string;
  service: ServiceDescriptor;
  nodeId: string;
  site: string;
  revision: number;
  reason: string;
}

export interface PlannedDrain {
  deployment: string;
  instanceId: string;
  service: string;
  nodeId: string;
  site: string;
  reason: string;
}

export interface DeploymentPlan {
  name: string;
  starts: PlannedStart[];
  drains: PlannedDrain[];
  status: DeploymentStatus;
  memory: DeploymentMemory;
}

export interface ReconcilePlan {
  deployments: DeploymentPlan[];
  /** Instances of deployments that no longer exist, to drain. */
  orphans: PlannedDrain[];
}

const POOL = 'pool';

/**
 * Starts and drains that bring the catalogue to what the deployments declare, and each
 * deployment's status. Pure: the catalogue, the deployments and what was remembered from the
 * last pass in; a plan out. Only instances a deployment owns are counted or drained for it;
 * instances of other owners and one-off instances only take up room on their nodes.
 *
 * An owned replica counts toward the desired number while its node is alive or suspect; on a
 * dead node, for `replaceGraceMs` after the node was declared dead, and for as long as the
 * node's site is cut off when the deployment is pinned to that site (autonomy needs no
 * restarts). Replicas lost with their agent (gone from the catalogue) are started again on the
 * node they were on when it can take them. Surplus (a site back after its replicas were
 * re-placed, a lower count) is drained newest first, only where the node can be reached.
 * A changed template (service, config, resources) replaces the replicas: new ones start first,
 * the old ones drain once the new ones are ready.
 */
export function planReconcile(
  deployments: { record: DeploymentRecord; memory?: DeploymentMemory }[],
  catalogue: ObservedCatalogue,
  policy: ReconcilePolicy,
): ReconcilePlan {
  const world = new World(catalogue, policy);
  const plans = [...deployments]
    .sort((a, b) => a.record.spec.name.localeCompare(b.record.spec.name))
    .map(({ record, memory }) => planOne(record, memory ?? emptyMemory(), world));
  const known = new Set(deployments.map((d) => d.record.spec.name));
  const orphans: PlannedDrain[] = [];
  for (const i of catalogue.instances) {
    if (i.owner?.kind !== 'deployment' || known.has(i.owner.name) || i.status === 'draining') continue;
    const node = world.nodes.get(i.nodeId);
    if (node?.status !== 'alive') continue; // drained when its node can be reached again
    orphans.push({
      deployment: i.owner.name,
      instanceId: i.id,
      service: `${i.service}@${i.version}`,
      nodeId: i.nodeId,
      site: node.site,
      reason: `deployment ${i.owner.name} was deleted`,
    });
  }
  return { deployments: plans, orphans };
}

class World {
  readonly nodes: Map<string, NodeRecord>;
  /** Instances as they will be once the planned starts run (admission sees each start). */
  readonly instances: InstanceRecord[];
  readonly cutOff: Map<string, string>;

  constructor(
    readonly catalogue: ObservedCatalogue,
    readonly policy: ReconcilePolicy,
  ) {
    this.nodes = new Map(catalogue.nodes.map((n) => [n.id, n]));
    this.instances = [...catalogue.instances];
    this.cutOff = cutOffSites(catalogue.nodes, policy.siteCutWindowMs);
  }

  /** When a dead node was declared dead (its last heartbeat plus the dead threshold). */
  deadSince(node: NodeRecord): number {
    return Date.parse(node.lastHeartbeatAt) + this.policy.deadAfterIntervals * node.heartbeatIntervalMs;
  }
}

/**
 * Sites whose uplink is taken as cut, with why: none of the site's nodes is alive, and the
 * nodes heard from last fell silent within `windowMs` of each other — two or more of them at
 * once, or the site's only node (one silent node cannot be told from a cut uplink, and a
 * replica pinned to its site has nowhere else to go). Nodes dying one by one are failures.
 */
export function cutOffSites(nodes: NodeRecord[], windowMs: number): Map<string, string> {
  const bySite = new Map<string, NodeRecord[]>();
  for (const n of nodes) bySite.set(n.site, [...(bySite.get(n.site) ?? []), n]);
  const cut = new Map<string, string>();
  for (const [site, members] of bySite) {
    if (members.some((n) => n.status === 'alive')) continue;
    const last = Math.max(...members.map((n) => Date.parse(n.lastHeartbeatAt)));
    const together = members.filter((n) => Date.parse(n.lastHeartbeatAt) >= last - windowMs);
    if (together.length >= 2 || members.length === 1) {
      cut.set(
        site,
        `all ${members.length} node${members.length === 1 ? '' : 's'} of site ${site} fell silent at ${new Date(last).toISOString()}`,
      );
    }
  }
  return cut;
}

/** Whether a node is in the deployment's pool. */
export function inPool(spec: DeploymentSpec, node: NodeRecord): boolean {
  const s = spec.selector;
  if (!s) return true;
  if (s.sites && !s.sites.includes(node.site)) return false;
  if (s.tier && s.tier !== node.tier) return false;
  if (s.tags && !s.tags.every((t) => node.tags.includes(t))) return false;
  if (s.nodes && !s.nodes.includes(node.id)) return false;
  return true;
}

/** The newest catalogued version in the spec's range, or a sentence saying why there is none. */
export function resolveSpecService(spec: DeploymentSpec, versions: ServiceDescriptor[]): ServiceDescriptor | string {
  const at = spec.service.indexOf('@');
  const name = at < 0 ? spec.service : spec.service.slice(0, at);
  const range = at < 0 ? '*' : spec.service.slice(at + 1);
  if (!versions.length) return `no node has joined with service ${name} in its library yet`;
  const best = semver.maxSatisfying(
    versions.map((v) => v.version),
    range,
  );
  if (!best)
    return `no catalogued version of ${name} satisfies "${range}" (catalogued: ${versions.map((v) => v.version).join(', ')})`;
  return versions.find((v) => v.version === best)!;
}

const serviceName = (spec: DeploymentSpec) => spec.service.split('@')[0];
const serviceRange = (spec: DeploymentSpec) => (spec.service.includes('@') ? spec.service.split('@')[1] : '*');

function planOne(record: DeploymentRecord, memory: DeploymentMemory, world: World): DeploymentPlan {
  const { spec, revision } = record;
  const now = world.catalogue.now;
  const problems: string[] = [];
  const starts: PlannedStart[] = [];
  const drains: PlannedDrain[] = [];
  const owner = ownerKey({ kind: 'deployment', name: spec.name });
  const poolNodes = world.catalogue.nodes.filter((n) => inPool(spec, n));
  const pinnedSite = spec.selector?.sites?.length === 1 ? spec.selector.sites[0] : undefined;

  // Every owned instance, judged: counted toward the desired replicas, or not (and why).
  const owned: (OwnedInstance & { record: InstanceRecord; current: boolean; reachable: boolean })[] = [];
  for (const i of world.instances) {
    if (!i.owner || ownerKey(i.owner) !== owner) continue;
    const node = world.nodes.get(i.nodeId);
    const site = node?.site ?? '?';
    const current = i.owner.revision === revision && semver.satisfies(i.version, serviceRange(spec));
    let counted = i.status !== 'draining' && node !== undefined;
    let note: string | undefined = node ? undefined : `node ${i.nodeId} is not in the catalogue`;
    if (counted && node?.status === 'dead') {
      const pinned = spec.perSite || pinnedSite === site;
      const cut = world.cutOff.get(site);
      const graceLeft = world.deadSince(node) + world.policy.replaceGraceMs - now;
      if (pinned && cut) note = `kept where it is: ${cut} (the uplink is taken as cut)`;
      else if (graceLeft > 0)
        note = `node ${node.id} is dead; re-placed in ${Math.ceil(graceLeft / 1000)} s unless it returns`;
      else {
        counted = false;
        note = `node ${node.id} is dead; re-placed elsewhere`;
      }
    }
    owned.push({
      id: i.id,
      nodeId: i.nodeId,
      site,
      version: i.version,
      status: i.status,
      nodeStatus: node?.status ?? 'dead',
      revision: i.owner.revision,
      counted,
      ...(note ? { note } : {}),
      record: i,
      current,
      reachable: node?.status === 'alive',
    });
  }

  const resolved = resolveSpecService(spec, world.catalogue.versions(serviceName(spec)));
  if (typeof resolved === 'string') problems.push(`cannot start replicas: ${resolved}`);

  // The scopes: the whole pool, or each site of the pool (sites of instances it owns included).
  const scopeOf = (site: string) => (spec.perSite ? site : POOL);
  const scopes = spec.perSite
    ? [...new Set([...poolNodes.map((n) => n.site), ...owned.map((o) => o.site)])].sort()
    : [POOL];
  if (!poolNodes.length)
    problems.push(`no node in the catalogue matches the selector ${JSON.stringify(spec.selector)}`);

  const nextMemory: DeploymentMemory = { homes: {}, scale: {} };
  const scopeStatus: DeploymentStatus['scopes'] = [];
  for (const scope of scopes) {
    const here = owned.filter((o) => scopeOf(o.site) === scope);
    const counted = here.filter((o) => o.counted);
    const current = counted.filter((o) => o.current);
    const outdated = counted.filter((o) => !o.current);
    const ready = current.filter((o) => o.status === 'ready' && o.reachable);

    let desired: number;
    if ('count' in spec.replicas) desired = spec.replicas.count;
    else {
      const state = autoscaleStep(memory.scale[scope], spec.replicas, observe(ready), now);
      nextMemory.scale[scope] = state;
      desired = state.replicas;
    }
    scopeStatus.push({ scope, desired, counted: counted.length, ready: ready.length });

    // Missing replicas: start them, on their old nodes first.
    const missing = desired - current.length;
    if (missing > 0 && typeof resolved !== 'string') {
      const candidates = poolNodes.filter((n) => scopeOf(n.site) === scope);
      const cut = spec.perSite ? world.cutOff.get(scope) : pinnedSite ? world.cutOff.get(pinnedSite) : undefined;
      if (cut && !candidates.some((n) => n.status === 'alive')) {
        problems.push(`${scopeLabel(scope)}: ${missing} replica${missing === 1 ? '' : 's'} not started: ${cut}`);
      } else {
        for (let k = 0; k < missing; k++) {
          const choice = chooseNode(spec, resolved, candidates, memory.homes, owner, world);
          if (typeof choice === 'string') {
            problems.push(
              `${scopeLabel(scope)}: ${missing - k} of ${desired} replica${desired === 1 ? '' : 's'} cannot start: ${choice}`,
            );
            break;
          }
          const reason = choice.home
            ? `replica lost from node ${choice.node.id} (its agent restarted or the instance stopped): started there again`
            : `${current.length + k} of ${desired} replicas`;
          starts.push({
            deployment: spec.name,
            service: resolved,
            nodeId: choice.node.id,
            site: choice.node.site,
            revision,
            reason,
          });
          world.instances.push(plannedInstance(spec, resolved, choice.node.id, revision, starts.length));
        }
      }
    }

    // Surplus current replicas: drain the newest where the node answers, never below desired reachable ones.
    const surplus = current.length - desired;
    if (surplus > 0) {
      const reachable = current.filter((o) => o.reachable);
      const drainable = Math.min(surplus, reachable.length - Math.min(desired, reachable.length));
      const perNode = countBy(current, (o) => o.nodeId);
      const order = [...reachable].sort(
        (a, b) =>
          perNode(b.nodeId) - perNode(a.nodeId) ||
          Number(a.status === 'ready') - Number(b.status === 'ready') ||
          b.record.createdAt.localeCompare(a.record.createdAt) ||
          b.id.localeCompare(a.id),
      );
      for (const o of order.slice(0, drainable)) {
        drains.push(drainOf(spec, o, `surplus: ${current.length} replicas for ${desired} desired`));
        o.counted = false;
      }
    }
    // Replicas of an older template: drained once enough new ones are ready.
    if (outdated.length && ready.length >= desired) {
      for (const o of outdated.filter((x) => x.reachable)) {
        drains.push(
          drainOf(spec, o, `replaced: started from revision ${o.revision ?? '?'}, the deployment is at ${revision}`),
        );
        o.counted = false;
      }
    }
  }

  for (const o of owned) if (o.counted) nextMemory.homes[o.nodeId] = (nextMemory.homes[o.nodeId] ?? 0) + 1;
  for (const s of starts) nextMemory.homes[s.nodeId] = (nextMemory.homes[s.nodeId] ?? 0) + 1;

  const status: DeploymentStatus = {
    scopes: scopeStatus,
    desired: scopeStatus.reduce((sum, s) => sum + s.desired, 0),
    ready: scopeStatus.reduce((sum, s) => sum + s.ready, 0),
    instances: owned.map(({ record: _r, current: _c, reachable: _x, ...rest }) => rest),
    problems,
  };
  return { name: spec.name, starts, drains, status, memory: nextMemory };
}

const scopeLabel = (scope: string) => (scope === POOL ? 'the pool' : `site ${scope}`);

function countBy<T>(items: T[], key: (item: T) => string): (k: string) => number {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return (k) => counts.get(k) ?? 0;
}

function observe(ready: { record: InstanceRecord }[]): LoadObservation {
  if (!ready.length) return { ready: 0, queued: 0 };
  const latencies = ready.map((o) => o.record.latencyMs).filter((l): l is number => l !== undefined);
  return {
    ready: ready.length,
    queued: ready.reduce((sum, o) => sum + o.record.queued, 0) / ready.length,
    latencyMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : undefined,
  };
}

function drainOf(spec: DeploymentSpec, o: OwnedInstance, reason: string): PlannedDrain {
  return {
    deployment: spec.name,
    instanceId: o.id,
    service: `${serviceName(spec)}@${o.version}`,
    nodeId: o.nodeId,
    site: o.site,
    reason,
  };
}

/** Stands for a planned start in the world, so admission of the next start counts its reservation. */
function plannedInstance(
  spec: DeploymentSpec,
  service: ServiceDescriptor,
  nodeId: string,
  revision: number,
  n: number,
): InstanceRecord {
  const at = new Date(0).toISOString();
  return {
    id: `(planned ${spec.name} ${n})`,
    nodeId,
    service: service.name,
    version: service.version,
    status: 'starting',
    subject: '',
    inFlight: 0,
    queued: 0,
    restarts: 0,
    startedAt: at,
    createdAt: at,
    updatedAt: at,
    ...(spec.resources ? { resources: spec.resources } : {}),
    owner: { kind: 'deployment', name: spec.name, revision },
  };
}

/**
 * The node for one more replica: alive, admitting the service with the deployment's resources
 * (`checkAdmission`: library, tier, tags, memory and CPU against the node's limits), under
 * `maxPerNode`; a node that lost a replica of this deployment first, then by the strategy —
 * `spread`: fewest replicas of this deployment, then fewest instances; `cost`: cheapest.
 * A string says why no node will do.
 */
function chooseNode(
  spec: DeploymentSpec,
  service: ServiceDescriptor,
  candidates: NodeRecord[],
  homes: Record<string, number>,
  owner: string,
  world: World,
): { node: NodeRecord; home: boolean } | string {
  if (!candidates.length) return 'no node of the pool is at this site';
  const refusals: string[] = [];
  const eligible: { node: NodeRecord; mine: number; total: number }[] = [];
  for (const node of candidates) {
    const onNode = world.instances.filter((i) => i.nodeId === node.id);
    const mine = onNode.filter((i) => i.owner && ownerKey(i.owner) === owner && i.status !== 'draining').length;
    if (spec.placement?.maxPerNode !== undefined && mine >= spec.placement.maxPerNode) {
      refusals.push(`node ${node.id} has ${mine} (placement.maxPerNode ${spec.placement.maxPerNode})`);
      continue;
    }
    const problems = checkAdmission(
      node,
      service,
      onNode,
      (i) => reservationOf(i, world.catalogue.descriptor(`${i.service}@${i.version}`)),
      spec.resources,
    );
    if (problems.length) {
      refusals.push(problems[0].message);
      continue;
    }
    eligible.push({ node, mine, total: onNode.length });
  }
  if (!eligible.length) return refusals.join('; ');
  const deficit = (e: { node: NodeRecord; mine: number }) => (homes[e.node.id] ?? 0) - e.mine;
  const byStrategy =
    spec.placement?.strategy === 'cost'
      ? (a: (typeof eligible)[0], b: (typeof eligible)[0]) => a.node.costPerHour - b.node.costPerHour || a.mine - b.mine
      : (a: (typeof eligible)[0], b: (typeof eligible)[0]) => a.mine - b.mine || a.total - b.total;
  eligible.sort(
    (a, b) => Number(deficit(b) > 0) - Number(deficit(a) > 0) || byStrategy(a, b) || a.node.id.localeCompare(b.node.id),
  );
  const [best] = eligible;
  return { node: best.node, home: deficit(best) > 0 };
}
