import type { InstanceResources, NodeTier } from './node';
import type { InstanceStatus, NodeStatus } from './catalog';

/**
 * Who started an instance and answers for it. Deployments and applied placement plans label
 * what they start, and each changes only what it owns; a one-off `POST /instances` instance
 * has no owner and nothing drains it but its own `DELETE`.
 */
export interface InstanceOwner {
  kind: 'deployment' | 'plan';
  /** The deployment's name, or the workflow a plan was made for. */
  name: string;
  /** The deployment's template revision the instance was started from (service, config, resources). */
  revision?: number;
}

/** `deployment/echo-pool`, `plan/edge-report`: one owner as one string. */
export const ownerKey = (owner: Pick<InstanceOwner, 'kind' | 'name'>): string => `${owner.kind}/${owner.name}`;

/** Scale between `min` and `max` replicas on the load the instances report. */
export interface AutoscalePolicy {
  /** Requests waiting per replica (beyond its concurrency) to hold at or below. */
  queueDepth?: number;
  /** Mean request time (arrival to reply, queue wait included) per replica to hold at or below, ms. */
  latencyMs?: number;
  /** How long a target must be exceeded before adding replicas (default 5000 ms). */
  scaleUpAfterMs?: number;
  /** How long the load must stay below half the targets before removing one replica (default 30000 ms). */
  scaleDownAfterMs?: number;
}

export type DeploymentReplicas = { count: number } | { min: number; max: number; autoscale: AutoscalePolicy };

/** The nodes a deployment may use (all of the given conditions hold). */
export interface NodeSelector {
  /** Sites the nodes must be at. */
  sites?: string[];
  tier?: NodeTier;
  /** Hardware tags every node must have. */
  tags?: string[];
  /** Only these nodes. */
  nodes?: string[];
}

export interface DeploymentPlacement {
  /** At most this many replicas on one node. */
  maxPerNode?: number;
  /** `spread` (default): as few replicas on one node as possible; `cost`: the cheapest nodes first. */
  strategy?: 'spread' | 'cost';
}

/** What an operator declares (`POST /deployments`); the orchestrator keeps the catalogue so. */
export interface DeploymentSpec {
  /** Letters, digits, - and _. */
  name: string;
  /** `name`, `name@version` or `name@range`: new replicas run the newest catalogued version in range. */
  service: string;
  config?: Record<string, unknown>;
  resources?: InstanceResources;
  replicas: DeploymentReplicas;
  /** The replica count (or autoscale bounds) applies to each site of the pool rather than to the pool as a whole. */
  perSite?: boolean;
  selector?: NodeSelector;
  placement?: DeploymentPlacement;
}

/** A stored deployment: the spec and when it changed. */
export interface DeploymentRecord {
  spec: DeploymentSpec;
  /** Bumped when the instance template (service, config, resources) changes: older replicas are replaced. */
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** One start or drain the reconciler did or, in a dry run, would do. */
export interface DeploymentAction {
  action: 'start' | 'drain';
  deployment: string;
  /** `name@version`. */
  service: string;
  nodeId: string;
  site: string;
  /** The instance drained (drains) or started (starts that ran). */
  instanceId?: string;
  reason: string;
  /** Set when the action was tried and failed. */
  error?: string;
}

export interface OwnedInstance {
  id: string;
  nodeId: string;
  site: string;
  version: string;
  status: InstanceStatus;
  nodeStatus: NodeStatus;
  revision?: number;
  /** Counted toward the desired replicas: running, or unreachable but still within grace / at a cut-off site. */
  counted: boolean;
  note?: string;
}

export interface DeploymentStatus {
  /** `pool` for a deployment without `perSite`; else per site: how many replicas are desired and ready. */
  scopes: { scope: string; desired: number; counted: number; ready: number }[];
  desired: number;
  ready: number;
  instances: OwnedInstance[];
  lastReconcileAt?: string;
  /** Why the deployment is not (yet) as declared, in sentences an operator can act on. */
  problems: string[];
}

export interface DeploymentView extends DeploymentRecord {
  status: DeploymentStatus;
}
