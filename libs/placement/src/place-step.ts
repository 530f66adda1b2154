import type { ComputeEstimate, ComputeProfiles, ServiceComputeProfile } from './compute-profiles';
import {
  meetsConstraints,
  rejectionsOf,
  resolveConstraints,
  type ConstraintOptions,
  type StepConstraints,
} from './constraints';
import { PlacementInputError } from './errors';
import { computeCost, queueWaitMs, transferMs } from './estimates';
import type { LinkEstimate, NetworkModel, OriginView } from './network';
import { resolveObjective } from './objective';
import { defaultStrategies, type StrategyRegistry } from './strategies/registry';
import type { PlacementStrategy, ScoringContext, ScoringInput } from './strategies/strategy';
import {
  TRANSIENT_CONSTRAINTS,
  type CandidateEstimate,
  type CandidateEvaluation,
  type PlacementCandidate,
  type PlacementDecision,
  type PlacementFailure,
  type Rejection,
  type StepPlacementRequest,
} from './types';

/** What placement knows about the world, kept up to date by its owner from heartbeats and step timings. */
export interface PlacementEnvironment {
  network: NetworkModel;
  profiles: ComputeProfiles;
  /** Defaults to the built-in strategies. */
  strategies?: StrategyRegistry;
}

export interface PlaceStepOptions extends ConstraintOptions {
  /** Build the evaluation of every candidate (default true); false returns only the chosen one. */
  explain?: boolean;
  /** Time to start an instance on a candidate that has none (a bare node). */
  instanceStartMs?: number;
}

export const DEFAULT_INSTANCE_START_MS = 2000;

/** Shared by every eligible candidate's evaluation: one allocation fewer per candidate. */
const NO_REJECTIONS: readonly Rejection[] = Object.freeze([]);

/** Per-decision inputs of the estimate, resolved once so the per-candidate work is arithmetic and map reads. */
interface EstimateContext {
  constraints: StepConstraints;
  network: NetworkModel;
  origin: OriginView;
  compute: ServiceComputeProfile;
  inputBytes: number;
  originEgressPerByte: number;
  instanceStartMs: number;
  link: LinkEstimate;
  computeEstimate: ComputeEstimate;
}

const newEstimate = (): CandidateEstimate => ({
  networkMs: 0,
  rttMs: 0,
  rttSource: 'default',
  transferMs: 0,
  bandwidthMbps: 0,
  bandwidthSource: 'default',
  bandwidthAgeMs: undefined,
  queueMs: 0,
  startMs: 0,
  computeMs: 0,
  computeSource: 'default',
  nodeClass: undefined,
  cpuSlowdown: 1,
  latencyMs: 0,
  costPerCall: 0,
});

function estimateInto(candidate: PlacementCandidate, context: EstimateContext, out: CandidateEstimate): void {
  const origin = context.constraints.origin;
  const link = context.network.link(
    context.origin,
    candidate.nodeId,
    candidate.site,
    candidate.bandwidthMbps,
    context.link,
  );
  const nodeClass = candidate.nodeClass ?? candidate.nodeId;
  const compute = context.compute.estimateInto(nodeClass, candidate.tags, context.computeEstimate, candidate.cpu);
  out.rttMs = link.rttMs;
  out.rttSource = link.rttSource;
  out.bandwidthMbps = link.bandwidthMbps;
  out.bandwidthSource = link.bandwidthSource;
  out.bandwidthAgeMs = link.bandwidthAgeMs;
  out.transferMs = transferMs(context.inputBytes, link.bandwidthMbps);
  out.networkMs = out.rttMs + out.transferMs;
  out.computeMs = compute.ms;
  out.computeSource = compute.source;
  out.nodeClass = nodeClass;
  out.cpuSlowdown = compute.cpuSlowdown ?? 1;
  const hasInstance = candidate.instanceId !== undefined;
  out.startMs = hasInstance ? 0 : context.instanceStartMs;
  out.queueMs = hasInstance ? queueWaitMs(candidate.inFlight, candidate.queued, candidate.concurrency, compute.ms) : 0;
  out.latencyMs = out.networkMs + out.startMs + out.queueMs + out.computeMs;
  const leavesOriginSite = origin !== undefined && origin.site !== candidate.site;
  out.costPerCall =
    computeCost(candidate.costPerHour, compute.ms) +
    (leavesOriginSite ? context.inputBytes * context.originEgressPerByte : 0);
}

/** Per-candidate figures of the current decision. Reused across decisions: placeStep never yields mid-way. */
class Scratch {
  eligible = new Uint8Array(128);
  latency = new Float64Array(128);
  cost = new Float64Array(128);
  rank = new Float64Array(128);
  readonly estimate = newEstimate();
  readonly scoring: ScoringInput = {
    candidate: undefined as unknown as PlacementCandidate,
    latencyMs: 0,
    costPerCall: 0,
  };

  ensure(size: number): void {
    if (size <= this.eligible.length) return;
    const capacity = Math.max(size, this.eligible.length * 2);
    this.eligible = new Uint8Array(capacity);
    this.latency = new Float64Array(capacity);
    this.cost = new Float64Array(capacity);
    this.rank = new Float64Array(capacity);
  }
}
const scratch = new Scratch();

const ms = (value: number) => String(Math.round(value * 100) / 100);
const money = (value: number) => (value === 0 ? '0' : value >= 0.001 ? value.toPrecision(3) : value.toExponential(2));
const describeCandidate = (c: { nodeId: string; instanceId?: string; site: string }) =>
  c.instanceId === undefined
    ? `node ${c.nodeId} (${c.site}, new instance)`
    : `instance ${c.instanceId} on ${c.nodeId} (${c.site})`;

/**
 * Chooses where one step runs. Hard constraints (status, saturation, data tier, tier, site, tags,
 * memory) filter the candidates; each eligible one gets an estimated latency and cost; when the
 * step has a latency SLO only candidates meeting it are ranked (none: the lowest latency is chosen
 * and the reason says so); the step's strategy ranks them. A pure function of its inputs.
 */
export function placeStep(
  step: StepPlacementRequest,
  candidates: readonly PlacementCandidate[],
  environment: PlacementEnvironment,
  options: PlaceStepOptions = {},
): PlacementDecision {
  const constraints = resolveConstraints(step, options);
  const { objective, strategyName, weights } = resolveObjective(step.hints);
  const strategy = (environment.strategies ?? defaultStrategies).resolve(strategyName);
  const maxLatencyMs = step.hints?.maxLatencyMs;
  if (maxLatencyMs !== undefined && !(maxLatencyMs > 0 && Number.isFinite(maxLatencyMs))) {
    throw new PlacementInputError(`maxLatencyMs must be a finite number above 0 (got ${maxLatencyMs})`);
  }
  const explain = options.explain ?? true;
  const primary: EstimateContext = {
    constraints,
    network: environment.network,
    origin: environment.network.viewFrom(step.origin),
    compute: environment.profiles.forService(step.service),
    inputBytes: step.inputBytes,
    originEgressPerByte: step.origin ? environment.network.egressCostPerByte(step.origin.site) : 0,
    instanceStartMs: options.instanceStartMs ?? DEFAULT_INSTANCE_START_MS,
    link: { rttMs: 0, rttSource: 'default', bandwidthMbps: 0, bandwidthSource: 'default', bandwidthAgeMs: undefined },
    computeEstimate: { ms: 0, source: 'default' },
  };
  const versions = versionContexts(step, options, primary, environment);
  const contextOf = (candidate: PlacementCandidate): EstimateContext => {
    const service = candidate.service;
    if (service === undefined || service === step.service) return primary;
    const context = versions?.get(service);
    if (context === undefined) throw unknownVersion(step, candidate);
    return context;
  };

  const count = candidates.length;
  scratch.ensure(count);
  const { eligible, latency, cost } = scratch;
  const evaluations: CandidateEvaluation[] = explain ? new Array(count) : [];
  let eligibleCount = 0;
  let meetingSlo = 0;
  for (let i = 0; i < count; i++) {
    const candidate = candidates[i];
    const context = contextOf(candidate);
    const ok = meetsConstraints(candidate, context.constraints);
    eligible[i] = ok ? 1 : 0;
    let estimate: CandidateEstimate | undefined;
    if (ok) {
      eligibleCount++;
      estimate = explain ? newEstimate() : scratch.estimate;
      estimateInto(candidate, context, estimate);
      latency[i] = estimate.latencyMs;
      cost[i] = estimate.costPerCall;
      if (maxLatencyMs !== undefined && estimate.latencyMs <= maxLatencyMs) meetingSlo++;
    }
    if (explain) {
      evaluations[i] = {
        nodeId: candidate.nodeId,
        instanceId: candidate.instanceId,
        site: candidate.site,
        service: candidate.service,
        eligible: ok,
        rejections: ok ? NO_REJECTIONS : rejectionsOf(candidate, context.constraints),
        estimate,
        meetsSlo: ok && maxLatencyMs !== undefined ? estimate!.latencyMs <= maxLatencyMs : undefined,
      };
    }
  }

  if (eligibleCount === 0) {
    const all = explain ? evaluations : candidates.map((c) => evaluationOf(c, contextOf(c), false, undefined));
    const error = refusal(step, constraints, all);
    return {
      ok: false,
      retryable: all.every((e) => e.rejections.every((r) => TRANSIENT_CONSTRAINTS.has(r.constraint))),
      service: step.service,
      strategy: strategy.name,
      objective,
      maxLatencyMs,
      candidates: evaluations,
      candidateCount: count,
      eligibleCount,
      error,
      reason: error.message,
    };
  }

  // Rank only the candidates within the SLO when any is; otherwise every eligible one (for the record).
  const sloFilter = maxLatencyMs !== undefined && meetingSlo > 0;
  const inPool = (i: number) => eligible[i] === 1 && (!sloFilter || latency[i] <= maxLatencyMs!);
  const scoring: ScoringContext = {
    minLatencyMs: Infinity,
    maxLatencyMs: -Infinity,
    minCostPerCall: Infinity,
    maxCostPerCall: -Infinity,
    weights,
  };
  for (let i = 0; i < count; i++) {
    if (!inPool(i)) continue;
    if (latency[i] < scoring.minLatencyMs) scoring.minLatencyMs = latency[i];
    if (latency[i] > scoring.maxLatencyMs) scoring.maxLatencyMs = latency[i];
    if (cost[i] < scoring.minCostPerCall) scoring.minCostPerCall = cost[i];
    if (cost[i] > scoring.maxCostPerCall) scoring.maxCostPerCall = cost[i];
  }
  const sloMissed = maxLatencyMs !== undefined && meetingSlo === 0;
  const chosenIndex = choose(candidates, strategy, scoring, inPool, sloMissed, explain ? evaluations : undefined);

  const chosenCandidate = candidates[chosenIndex];
  const chosen = explain
    ? evaluations[chosenIndex]
    : evaluationOf(chosenCandidate, contextOf(chosenCandidate), true, maxLatencyMs);
  // Spelled out: spreading a shared base object here cost more than the rest of a small decision.
  return {
    ok: true,
    service: step.service,
    strategy: strategy.name,
    objective,
    maxLatencyMs,
    candidates: evaluations,
    candidateCount: count,
    eligibleCount,
    chosen,
    sloMet: maxLatencyMs === undefined ? undefined : !sloMissed,
    reason: reasonFor(chosen, eligibleCount, count, strategy, scoring, maxLatencyMs, sloMissed),
  };
}

/**
 * Scores within this share of the best one count as a tie. Measured RTTs and learnt compute
 * times differ by noise between equivalent candidates; without it, the one whose last figures
 * came out a fraction lower would take every call.
 */
export const SCORE_TIE_TOLERANCE = 0.02;

/**
 * Index of the winner: lowest score (the lowest latency when the SLO is missed); ties (within
 * SCORE_TIE_TOLERANCE) to the least busy candidate (in-flight and queued calls per slot), then
 * to lower latency, then input order.
 */
function choose(
  candidates: readonly PlacementCandidate[],
  strategy: PlacementStrategy,
  scoring: ScoringContext,
  inPool: (i: number) => boolean,
  lowestLatencyOnly: boolean,
  evaluations: CandidateEvaluation[] | undefined,
): number {
  const { latency, cost, rank } = scratch;
  const input = scratch.scoring;
  let bestRank = Infinity;
  let any = false;
  for (let i = 0; i < candidates.length; i++) {
    if (!inPool(i)) continue;
    input.candidate = candidates[i];
    input.latencyMs = latency[i];
    input.costPerCall = cost[i];
    const score = strategy.score(input, scoring);
    if (evaluations !== undefined) evaluations[i].score = score;
    rank[i] = lowestLatencyOnly ? latency[i] : score;
    if (!any || rank[i] < bestRank) bestRank = rank[i];
    any = true;
  }
  if (!any) return -1;
  const tieBound = bestRank + Math.abs(bestRank) * SCORE_TIE_TOLERANCE;
  let best = -1;
  let bestBusy = Infinity;
  for (let i = 0; i < candidates.length; i++) {
    if (!inPool(i) || !(rank[i] <= tieBound)) continue;
    const c = candidates[i];
    const busy = (c.inFlight + c.queued) / Math.max(1, c.concurrency);
    if (best === -1 || busy < bestBusy || (busy === bestBusy && latency[i] < latency[best])) {
      best = i;
      bestBusy = busy;
    }
  }
  return best;
}

/**
 * The estimate context of each further version of the step (`step.versions`), keyed by its
 * `name@version`: that version's requirements merged with the step's hints, and its compute
 * profile; everything else shared with the step's own. Undefined when the step names none.
 */
function versionContexts(
  step: StepPlacementRequest,
  options: PlaceStepOptions,
  primary: EstimateContext,
  environment: PlacementEnvironment,
): Map<string, EstimateContext> | undefined {
  if (step.versions === undefined || step.versions.length === 0) return undefined;
  const contexts = new Map<string, EstimateContext>();
  for (const version of step.versions) {
    if (version.service === step.service || contexts.has(version.service)) continue;
    contexts.set(version.service, {
      ...primary,
      constraints: resolveConstraints(
        { ...step, service: version.service, requirements: version.requirements },
        options,
      ),
      compute: environment.profiles.forService(version.service),
    });
  }
  return contexts;
}

function unknownVersion(step: StepPlacementRequest, candidate: PlacementCandidate): PlacementInputError {
  const known = [step.service, ...(step.versions ?? []).map((v) => v.service)];
  return new PlacementInputError(
    `candidate ${candidate.instanceId ?? candidate.nodeId} serves ${candidate.service}, which is not a version of the step (${[...new Set(known)].join(', ')}); list it in the step's versions with its requirements`,
    { candidate: candidate.instanceId ?? candidate.nodeId, service: candidate.service, versions: known },
  );
}

function evaluationOf(
  candidate: PlacementCandidate,
  context: EstimateContext,
  estimated: boolean,
  maxLatencyMs: number | undefined,
): CandidateEvaluation {
  const rejections = rejectionsOf(candidate, context.constraints);
  let estimate: CandidateEstimate | undefined;
  if (rejections.length === 0 && estimated) {
    estimate = newEstimate();
    estimateInto(candidate, context, estimate);
  }
  return {
    nodeId: candidate.nodeId,
    instanceId: candidate.instanceId,
    site: candidate.site,
    service: candidate.service,
    eligible: rejections.length === 0,
    rejections,
    estimate,
    meetsSlo: estimate && maxLatencyMs !== undefined ? estimate.latencyMs <= maxLatencyMs : undefined,
  };
}

function reasonFor(
  chosen: CandidateEvaluation,
  eligibleCount: number,
  count: number,
  strategy: PlacementStrategy,
  scoring: ScoringContext,
  maxLatencyMs: number | undefined,
  sloMissed: boolean,
): string {
  const e = chosen.estimate!;
  const parts = `network ${ms(e.networkMs)}${e.startMs > 0 ? ` + start ${ms(e.startMs)}` : ''} + queue ${ms(e.queueMs)} + compute ${ms(e.computeMs)}`;
  const why = sloMissed
    ? `no eligible candidate meets the ${ms(maxLatencyMs!)} ms latency SLO, so the lowest latency`
    : strategy.criterion(scoring);
  const slo = maxLatencyMs !== undefined && !sloMissed ? `, within the ${ms(maxLatencyMs)} ms SLO` : '';
  return `${describeCandidate(chosen)} chosen for ${why}: ${ms(e.latencyMs)} ms estimated (${parts}), cost ${money(e.costPerCall)} per call; ${eligibleCount} of ${count} candidates eligible${slo}`;
}

const MAX_LISTED = 5;

function refusal(
  step: StepPlacementRequest,
  constraints: StepConstraints,
  evaluations: readonly CandidateEvaluation[],
): PlacementFailure {
  const name = (e: CandidateEvaluation) => e.instanceId ?? e.nodeId;
  const blocked = evaluations.filter((e) => e.rejections.length === 1 && e.rejections[0].constraint === 'data-tier');
  const details: PlacementFailure['details'] = {
    service: step.service,
    dataTier: constraints.dataTier,
    blockedByDataTier: blocked.map(name),
    rejections: evaluations.map((e) => ({ candidate: name(e), reasons: e.rejections.map((r) => r.message) })),
  };
  if (evaluations.length === 0) {
    return {
      code: 'UNSATISFIABLE',
      message: `${step.service}: no candidates to place the step on; start an instance of it on a node that meets its constraints`,
      details,
    };
  }
  if (blocked.length > 0) {
    return { code: 'UNSATISFIABLE', message: dataMoveMessage(step.service, constraints, blocked), details };
  }
  const listed = evaluations
    .slice(0, MAX_LISTED)
    .map((e) => `${name(e)}: ${e.rejections.map((r) => r.message).join('; ')}`)
    .join(' | ');
  const more = evaluations.length > MAX_LISTED ? ` | and ${evaluations.length - MAX_LISTED} more` : '';
  return {
    code: 'UNSATISFIABLE',
    message: `${step.service}: none of ${evaluations.length} candidates meets the step's constraints — ${listed}${more}`,
    details,
  };
}

/** The clear refusal: where the data is, where it would have to go, which rule forbids it, and what would work. */
function dataMoveMessage(
  service: string,
  constraints: StepConstraints,
  blocked: readonly CandidateEvaluation[],
): string {
  const origin = constraints.origin!;
  const byNode = constraints.dataTier === 'user-private' && constraints.userPrivateScope === 'node';
  const from = byNode ? `node ${origin.nodeId}` : `site ${origin.site}`;
  const targets = [...new Set(blocked.map((e) => (byNode ? e.nodeId : e.site)))];
  const shown =
    targets.slice(0, MAX_LISTED).join(', ') +
    (targets.length > MAX_LISTED ? ` and ${targets.length - MAX_LISTED} more` : '');
  const to = `${byNode ? 'node' : 'site'}${targets.length > 1 ? 's' : ''} ${shown}`;
  const rule =
    constraints.dataTier === 'edge-private'
      ? 'edge-private data stays at its edge site'
      : byNode
        ? 'user-private data stays on the node it came from'
        : "user-private data stays at its origin's site";
  const widen = byNode ? `, or allow the site with userPrivateScope 'site'` : '';
  return `${service}: the data would have to move from ${from} to ${to} against its ${constraints.dataTier} tier (${rule}); no eligible candidate is at ${from}. Run an instance of ${service} at ${from}${widen}, or classify the input as a less private tier if it is not private`;
}
