import type { InstanceRecord, NodeRecord } from '@yunbian/contracts';
import type { TimedExchange } from '@yunbian/common';
import type { PlacementHints } from '@yunbian/workflow';

/** What routing needs to know about one step attempt. */
export interface RouteRequest {
  /** `name@range`. */
  service: string;
  hints?: PlacementHints;
  /** Instances that already failed this task: avoided while others exist. */
  avoid?: string[];
  inputBytes?: number;
  /** Where the step's input is (the node that produced it, or the run's origin). */
  origin?: { nodeId?: string; site: string };
  dataTier?: 'public' | 'edge-private' | 'user-private';
}

export interface RouteCandidate {
  instanceId?: string;
  nodeId: string;
  /** Estimated latency (ms) and cost of running the step there. */
  latencyMs?: number;
  cost?: number;
  /** The link bandwidth the estimate used (absent on the same node: nothing moves), Mbit/s… */
  bandwidthMbps?: number;
  /** …where that figure came from: measured, declared, default, lan or same-node… */
  bandwidthSource?: 'measured' | 'declared' | 'default' | 'lan' | 'same-node';
  /** …and how old a measured figure was, ms. */
  bandwidthAgeMs?: number;
  score?: number;
  rejected?: string;
}

export interface RouteDecision {
  instance: InstanceRecord;
  node: NodeRecord;
  strategy: string;
  reason: string;
  candidates: RouteCandidate[];
}

/** The placement seam the engine routes every step attempt through. */
export interface StepRouter {
  /** Chooses an instance, or throws a YunbianError saying why none fits. */
  route(request: RouteRequest): RouteDecision;
  /**
   * The engine tells the router when it sends to and hears back from an instance, with the
   * request's timing when it succeeded (for the passive bandwidth of the node's link).
   */
  sent(instanceId: string): void;
  settled(instanceId: string, durationMs?: number, exchange?: TimedExchange): void;
}

export const STEP_ROUTER = Symbol('STEP_ROUTER');
