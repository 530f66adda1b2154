import type { NodeTier } from '@yunbian/contracts';
import { PlacementInputError } from './errors';
import { DATA_TIERS } from './types';
import type {
  DataOrigin,
  DataTier,
  PlacementCandidate,
  Rejection,
  StepPlacementRequest,
  UserPrivateScope,
} from './types';

/** The hard constraints of one step: its service's requirements and its hints, merged once per decision. */
export interface StepConstraints {
  service: string;
  tier?: NodeTier;
  site?: string;
  allOf: readonly string[];
  anyOf: readonly string[];
  memoryMb: number;
  dataTier: DataTier;
  origin?: DataOrigin;
  userPrivateScope: UserPrivateScope;
  allowSuspectNodes: boolean;
}

export interface ConstraintOptions {
  userPrivateScope?: UserPrivateScope;
  /** Suspect nodes missed a heartbeat or two; they are refused unless this is set. */
  allowSuspectNodes?: boolean;
}

const list = (values: readonly string[]) => values.join(', ') || 'none';

/** Checks the step's own consistency and merges what its service requires with what it hints. */
export function resolveConstraints(step: StepPlacementRequest, options: ConstraintOptions = {}): StepConstraints {
  const hints = step.hints ?? {};
  const required = step.requirements ?? {};
  if (hints.tier && required.tier && hints.tier !== required.tier) {
    throw new PlacementInputError(
      `step asks for a ${hints.tier} node but ${step.service} must run on a ${required.tier} node; drop the hint or set it to ${required.tier}`,
      { service: step.service, hintTier: hints.tier, requiredTier: required.tier },
    );
  }
  const dataTier = step.dataTier ?? 'public';
  if (!DATA_TIERS.includes(dataTier)) {
    throw new PlacementInputError(`unknown data tier "${dataTier}"; use one of ${DATA_TIERS.join(', ')}`, {
      dataTier,
    });
  }
  const userPrivateScope = options.userPrivateScope ?? 'node';
  if (dataTier !== 'public' && step.origin === undefined) {
    throw new PlacementInputError(
      `${step.service}: ${dataTier} input needs its origin; set origin to the node and site the data came from`,
      { service: step.service, dataTier },
    );
  }
  if (dataTier === 'user-private' && userPrivateScope === 'node' && step.origin?.nodeId === undefined) {
    throw new PlacementInputError(
      `${step.service}: user-private input stays on the node it came from, but origin names only site ${step.origin?.site}; set origin.nodeId, or use userPrivateScope 'site'`,
      { service: step.service, origin: step.origin },
    );
  }
  if (!(step.inputBytes >= 0) || !Number.isFinite(step.inputBytes)) {
    throw new PlacementInputError(
      `${step.service}: inputBytes must be a finite number of 0 or more (got ${step.inputBytes})`,
    );
  }
  return {
    service: step.service,
    tier: hints.tier ?? required.tier,
    site: hints.site,
    allOf: [...new Set([...(required.tags ?? []), ...(hints.tags?.allOf ?? [])])],
    anyOf: hints.tags?.anyOf ?? [],
    memoryMb: required.memoryMb ?? 0,
    dataTier,
    origin: step.origin,
    userPrivateScope,
    allowSuspectNodes: options.allowSuspectNodes ?? false,
  };
}

/** Whether running on (nodeId, site) keeps the data within its tier. */
export function dataTierAllows(
  dataTier: DataTier,
  origin: DataOrigin | undefined,
  nodeId: string,
  site: string,
  userPrivateScope: UserPrivateScope,
): boolean {
  if (dataTier === 'public' || origin === undefined) return true;
  if (dataTier === 'edge-private' || userPrivateScope === 'site' || origin.nodeId === undefined)
    return site === origin.site;
  return nodeId === origin.nodeId;
}

/** Why running on (nodeId, site) would move data against its tier, or undefined when it may run there. */
export function dataTierViolation(
  dataTier: DataTier,
  origin: DataOrigin | undefined,
  nodeId: string,
  site: string,
  userPrivateScope: UserPrivateScope,
): string | undefined {
  if (dataTierAllows(dataTier, origin, nodeId, site, userPrivateScope)) return undefined;
  if (dataTier === 'edge-private') {
    return `would move edge-private data from site ${origin!.site} to site ${site}: edge-private data stays at its edge site`;
  }
  if (userPrivateScope === 'site' || origin!.nodeId === undefined) {
    return `would move user-private data from site ${origin!.site} to site ${site}: user-private data stays at its origin's site`;
  }
  return `would move user-private data from node ${origin!.nodeId} to node ${nodeId}: user-private data stays on the node it came from`;
}

function tagsMissing(tags: readonly string[], allOf: readonly string[]): boolean {
  for (let i = 0; i < allOf.length; i++) if (!tags.includes(allOf[i])) return true;
  return false;
}

function tagsHaveAny(tags: readonly string[], anyOf: readonly string[]): boolean {
  for (let i = 0; i < anyOf.length; i++) if (tags.includes(anyOf[i])) return true;
  return false;
}

// One predicate per hard constraint, shared by the fast check (called directly, so the calls stay
// monomorphic and inline) and by the explained one (through the table below, with its sentence).
const nodeUnavailable = (c: PlacementCandidate, k: StepConstraints) =>
  c.nodeStatus !== 'alive' && !(c.nodeStatus === 'suspect' && k.allowSuspectNodes);
const instanceNotReady = (c: PlacementCandidate) => c.instanceId !== undefined && c.instanceStatus !== 'ready';
const queueFull = (c: PlacementCandidate) => c.maxQueue !== undefined && c.queued >= c.maxQueue;
const dataWouldMove = (c: PlacementCandidate, k: StepConstraints) =>
  k.dataTier !== 'public' && !dataTierAllows(k.dataTier, k.origin, c.nodeId, c.site, k.userPrivateScope);
const wrongTier = (c: PlacementCandidate, k: StepConstraints) => k.tier !== undefined && c.tier !== k.tier;
const wrongSite = (c: PlacementCandidate, k: StepConstraints) => k.site !== undefined && c.site !== k.site;
const lacksAllOf = (c: PlacementCandidate, k: StepConstraints) => k.allOf.length > 0 && tagsMissing(c.tags, k.allOf);
const lacksAnyOf = (c: PlacementCandidate, k: StepConstraints) => k.anyOf.length > 0 && !tagsHaveAny(c.tags, k.anyOf);
const tooLittleMemory = (c: PlacementCandidate, k: StepConstraints) => c.memoryMb < k.memoryMb;

/** One hard constraint: its test, and the sentence written only when a candidate fails it. */
interface ConstraintCheck {
  constraint: Rejection['constraint'];
  fails(candidate: PlacementCandidate, constraints: StepConstraints): boolean;
  message(candidate: PlacementCandidate, constraints: StepConstraints): string;
}

/** In the order `meetsConstraints` tests them: cheapest and most decisive first. */
const CHECKS: readonly ConstraintCheck[] = [
  { constraint: 'node-status', fails: nodeUnavailable, message: (c) => `node ${c.nodeId} is ${c.nodeStatus}` },
  {
    constraint: 'instance-status',
    fails: instanceNotReady,
    message: (c) => `instance ${c.instanceId} is ${c.instanceStatus ?? 'of unknown status'}, not ready`,
  },
  {
    constraint: 'saturated',
    fails: queueFull,
    message: (c) => `instance ${c.instanceId} on ${c.nodeId} is saturated: ${c.queued} queued (limit ${c.maxQueue})`,
  },
  {
    constraint: 'data-tier',
    fails: dataWouldMove,
    message: (c, k) => dataTierViolation(k.dataTier, k.origin, c.nodeId, c.site, k.userPrivateScope) ?? '',
  },
  {
    constraint: 'tier',
    fails: wrongTier,
    message: (c, k) => `node ${c.nodeId} is ${c.tier}; the step needs a ${k.tier} node`,
  },
  {
    constraint: 'site',
    fails: wrongSite,
    message: (c, k) => `node ${c.nodeId} is at site ${c.site}; the step needs site ${k.site}`,
  },
  {
    constraint: 'tags',
    fails: lacksAllOf,
    message: (c, k) =>
      `node ${c.nodeId} lacks tag ${list(k.allOf.filter((t) => !c.tags.includes(t)))} (needs all of ${list(k.allOf)}; has ${list(c.tags)})`,
  },
  {
    constraint: 'tags',
    fails: lacksAnyOf,
    message: (c, k) => `node ${c.nodeId} has none of ${list(k.anyOf)} (needs one; has ${list(c.tags)})`,
  },
  {
    constraint: 'memory',
    fails: tooLittleMemory,
    message: (c, k) => `node ${c.nodeId} offers ${c.memoryMb} MiB; ${k.service} needs ${k.memoryMb} MiB`,
  },
];

/** Whether the candidate meets every hard constraint; stops at the first failure and writes nothing. */
export function meetsConstraints(c: PlacementCandidate, k: StepConstraints): boolean {
  return !(
    nodeUnavailable(c, k) ||
    instanceNotReady(c) ||
    queueFull(c) ||
    dataWouldMove(c, k) ||
    wrongTier(c, k) ||
    wrongSite(c, k) ||
    lacksAllOf(c, k) ||
    lacksAnyOf(c, k) ||
    tooLittleMemory(c, k)
  );
}

/** Every hard constraint the candidate fails, with a sentence for each; empty when it is eligible. */
export function rejectionsOf(candidate: PlacementCandidate, constraints: StepConstraints): Rejection[] {
  const rejections: Rejection[] = [];
  for (const check of CHECKS) {
    if (check.fails(candidate, constraints)) {
      rejections.push({ constraint: check.constraint, message: check.message(candidate, constraints) });
    }
  }
  return rejections;
}

/** The first hard constraint the candidate fails, without a message (for counting many of them). */
export function firstFailedConstraint(
  candidate: PlacementCandidate,
  constraints: StepConstraints,
): Rejection['constraint'] | undefined {
  for (let i = 0; i < CHECKS.length; i++) if (CHECKS[i].fails(candidate, constraints)) return CHECKS[i].constraint;
  return undefined;
}
