import type { InstanceOwner } from './deployment';
import type { ServedModel } from './model';
import type { MeasuredBandwidths } from './network';
import type { InstanceResources, LimitsEnforcement, NodeDescriptor } from './node';
import type { ServiceDescriptor, ServiceIsolation } from './service';

export const INSTANCE_STATUSES = ['starting', 'ready', 'draining', 'failed'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export const NODE_STATUSES = ['alive', 'suspect', 'dead'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** A node's liveness as the leading orchestrator replica judged it (`Subjects.catalogLiveness`). */
export interface LivenessDecision {
  nodeId: string;
  status: NodeStatus;
  reason?: string;
  /** The replica (engine id) that decided. */
  by: string;
  at: string;
}

/** One instance as its agent reports it. */
export interface InstanceReport {
  id: string;
  service: string;
  version: string;
  status: InstanceStatus;
  /** Subject pinned to this instance. */
  subject: string;
  pid?: number;
  inFlight: number;
  queued: number;
  /** Mean time of the requests it answered in the last few seconds, arrival to reply (queue wait included), ms. */
  latencyMs?: number;
  restarts: number;
  startedAt: string;
  /** Why the instance is failed or was last restarted. */
  lastError?: string;
  /**
   * Resident memory of its worker process in MiB; for an instance in the node's shared
   * worker, an equal share of that process (its RSS divided by the instances in it).
   */
  memoryMb?: number;
  /** `shared` when it runs in the node's shared worker process (pid is then that process). */
  isolation?: ServiceIsolation;
  /** CPU share and memory cap the instance was started with (POST /instances `resources`). */
  resources?: InstanceResources;
  /** The deployment or plan that started it; absent for a one-off instance. */
  owner?: InstanceOwner;
  /** The registered model version it serves (model-serving services, once loaded; follows hot swaps). */
  model?: ServedModel;
}

export interface NodeLoad {
  cpuPercent: number;
  /** The agent, its worker processes and nothing else. */
  memoryUsedMb: number;
  memoryTotalMb: number;
  loadAverage1m: number;
  /** Resident memory of the agent process itself, MiB. */
  agentMemoryMb?: number;
  /** Resident memory of each instance, MiB, by instance id (shares of the shared worker for shared ones). */
  instanceMemoryMb?: Record<string, number>;
  /** Resident memory of the node's shared worker process, MiB, while it runs. */
  sharedWorkerMemoryMb?: number;
}

/** Smoothed round trips measured by an agent, in milliseconds. */
export interface RoundTrips {
  orchestratorMs?: number;
  /** Per other site: the smoothed RTT, the node it was measured against, and the age of its newest sample. */
  sites: Record<string, { ms: number; viaNode: string; ageMs?: number }>;
}

/**
 * Something in a node's service directories that is not served, and why. `missing-directory`:
 * a directory of YUNBIAN_SERVICE_PATH does not exist; `typescript`: a `.service.ts` file
 * without its build; `load`: the file threw when loaded; `invalid`: a descriptor breaks the
 * rules; `duplicate`: a `name@version` another file defines already (the first one is kept).
 */
export const SERVICE_LIBRARY_PROBLEM_KINDS = [
  'missing-directory',
  'typescript',
  'load',
  'invalid',
  'duplicate',
] as const;
export interface ServiceLibraryProblem {
  kind: (typeof SERVICE_LIBRARY_PROBLEM_KINDS)[number];
  /** The file or directory concerned, on the node. */
  path: string;
  message: string;
}

/** What an agent answers on `Subjects.nodeReloadServices`: its library after the scan. */
export interface ServiceLibraryReloadReply {
  nodeId: string;
  /** `name@version` of every service the node can run now. */
  services: string[];
  problems: ServiceLibraryProblem[];
  /** Whether the scan changed the library (the node then announced itself again). */
  changed: boolean;
}

export interface NodeAnnouncement {
  node: NodeDescriptor;
  agentStartedAt: string;
  heartbeatIntervalMs: number;
  /** Services this node's library can run. */
  services: ServiceDescriptor[];
  /** What the agent found in its service directories but does not serve (absent or empty: nothing). */
  serviceProblems?: ServiceLibraryProblem[];
  instances: InstanceReport[];
  /** Whether the agent enforces `node.limits` and instance resources, and why not. */
  limitsEnforcement?: LimitsEnforcement;
}

export interface NodeHeartbeat {
  nodeId: string;
  seq: number;
  sentAt: number;
  heartbeatIntervalMs: number;
  load: NodeLoad;
  instances: InstanceReport[];
  rtt: RoundTrips;
  /** Measured bandwidths (absent from agents that do not measure them). */
  bandwidth?: MeasuredBandwidths;
}

export interface InstanceStatusEvent {
  nodeId: string;
  instance: InstanceReport;
  /** True when the instance stopped and is gone from the node. */
  removed?: boolean;
}

export interface NodeLeavingEvent {
  nodeId: string;
  reason: string;
}

export interface StartInstanceCommand {
  instanceId: string;
  service: string;
  version: string;
  config?: Record<string, unknown>;
  resources?: InstanceResources;
  /** Carried into the instance's reports, so the catalogue knows who owns it across restarts. */
  owner?: InstanceOwner;
}

export interface StopInstanceCommand {
  instanceId: string;
  /** 0…`MAX_DRAIN_TIMEOUT_MS`; agents clamp other values (default 10000). */
  drainTimeoutMs?: number;
}

/** How long running requests get to finish when an instance stops, unless the stop says otherwise. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/**
 * The longest drain a stop may ask for: one day. Far below setTimeout's limit (2³¹−1 ms,
 * ~24.8 days), past which a timer fires at once and the worker would be killed mid-request.
 */
export const MAX_DRAIN_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export interface PingRequest {
  nodeId: string;
  site: string;
  sentAt: number;
}

export interface OrchestratorPingReply {
  at: number;
  /** One alive node per other site for the agent to probe. */
  peers: { nodeId: string; site: string }[];
}

/** A node as the catalogue lists it (GET /nodes). */
export interface NodeRecord extends NodeDescriptor {
  status: NodeStatus;
  /** Why the node is suspect or dead. */
  statusReason?: string;
  heartbeatIntervalMs: number;
  lastHeartbeatAt: string;
  joinedAt: string;
  agentStartedAt: string;
  /** Services this node's library can run (`name@version`). */
  services: string[];
  /** Files of its service directories the node does not serve, and why (from its latest announcement). */
  serviceProblems?: ServiceLibraryProblem[];
  load?: NodeLoad;
  rtt?: RoundTrips;
  /** What the agent measured (`measuredAt` on the orchestrator's clock); placement prefers it to `bandwidthMbps`. */
  bandwidth?: MeasuredBandwidths;
  /** From the agent's announcement; absent for agents that do not report it. */
  limitsEnforcement?: LimitsEnforcement;
}

/** An instance as the catalogue lists it (GET /instances). */
export interface InstanceRecord extends InstanceReport {
  nodeId: string;
  createdAt: string;
  updatedAt: string;
}

/** A service type with where it can run and where it runs (GET /services). */
export interface ServiceRecord extends ServiceDescriptor {
  /** Nodes whose library has this service. */
  nodes: string[];
  instances: { total: number; ready: number };
}

/** Request on `Subjects.workflowRun`. */
export interface RunWorkflowCommand {
  workflow: string;
  input?: unknown;
  version?: number;
  durability?: 'durable' | 'none';
  /** Milliseconds to wait for the run to finish before replying (default 30000; 0 replies at once). */
  waitMs?: number;
  /** The node the input comes from (placement keeps private data at its site). */
  origin?: { nodeId?: string };
  dataTier?: 'public' | 'edge-private' | 'user-private';
  /**
   * Which engine executes the run: `auto` (default: the site engine of the site where every
   * step places, else the cloud), `cloud` (the cloud engine, whatever the placement), or
   * `site` (the site engine of the origin's site, refused when a step cannot place there).
   */
  engine?: RunEngineChoice;
  /** `summary` (default): the run's summary and output; `record`: `{ record }`, the whole run record. */
  reply?: 'summary' | 'record';
  /**
   * Set by an engine forwarding a start to the engine that executes it: who forwarded it and
   * why it runs there (the run's `executedBy.reason`). A forwarded start is never forwarded again.
   */
  forwarded?: { by: string; reason: string };
}

export const RUN_ENGINE_CHOICES = ['auto', 'cloud', 'site'] as const;
export type RunEngineChoice = (typeof RUN_ENGINE_CHOICES)[number];
