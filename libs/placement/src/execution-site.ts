import {
  serviceRef,
  type InstanceRecord,
  type NodeRecord,
  type NodeTier,
  type ServiceDescriptor,
} from '@yunbian/contracts';
import { candidatesFromCatalog } from './candidates';
import { rejectionsOf, resolveConstraints } from './constraints';
import { PlacementInputError } from './errors';
import type { DataOrigin, DataTier, PlacementCandidate } from './types';
import { matchingVersions, versionRange } from './versions';

/**
 * One step of a workflow as the choice of its executing site sees it: the service its primary
 * attempt calls (or the sub-workflow it starts) and the hard placement hints that apply to it
 * (the step's own, else the workflow's).
 */
export interface ExecutionStep {
  id: string;
  /** `name@range` of the service… */
  service?: string;
  /** …or the sub-workflow it starts… */
  workflow?: string;
  /** …or the split inference it runs: the model and the two ends (node ids or tiers). */
  split?: { model: string; between: readonly [string, string] };
  hints?: {
    tier?: NodeTier;
    site?: string;
    tags?: readonly string[];
    anyTags?: readonly string[];
    dataTier?: DataTier;
  };
}

export interface ExecutionSiteInput {
  steps: readonly ExecutionStep[];
  /** Where the run's input comes from. */
  origin?: DataOrigin;
  /** Tier of the run's input data when a step does not say. */
  dataTier?: DataTier;
  /** The sites that could execute the run (a live site engine each), most preferred first: the origin's site. */
  sites: readonly string[];
  catalog: {
    nodes: readonly NodeRecord[];
    instances: readonly InstanceRecord[];
    services: readonly ServiceDescriptor[];
  };
}

/** Where one step's primary attempt could run at the chosen site. */
export interface ExecutionStepPlace {
  step: string;
  service: string;
  nodeId: string;
}

export type ExecutionSiteChoice =
  | { ok: true; site: string; reason: string; places: ExecutionStepPlace[] }
  | {
      ok: false;
      /** Why the most preferred site cannot execute the run (or that no site was offered). */
      reason: string;
      /** Every offered site and the first step that keeps the run from it. */
      refusals: { site: string; reason: string }[];
    };

/**
 * Whether every step of a run can be placed at one site, trying `sites` in order: a step is
 * placeable at a site when an instance of a matching version runs there on a node that meets
 * the step's hard constraints (node alive, instance ready, tier, site, tags, memory, data
 * tier with the run's origin). A full queue does not count against a site: it is transient,
 * and the site's engine waits like any other. Sub-workflow steps keep a run off sites (their
 * parent and child are held by one engine, the cloud's). Only primary attempts are checked:
 * an escalation or fallback target elsewhere is reached over NATS by whichever engine runs.
 * Pure: the caller passes the catalogue it has.
 */
export function chooseExecutionSite(input: ExecutionSiteInput): ExecutionSiteChoice {
  if (input.sites.length === 0) {
    return { ok: false, reason: 'no site engine is live', refusals: [] };
  }
  const refusals: { site: string; reason: string }[] = [];
  for (const site of input.sites) {
    const places: ExecutionStepPlace[] = [];
    let refusal: string | undefined;
    for (const step of input.steps) {
      const placed = placeAt(step, site, input);
      if (typeof placed === 'string') {
        refusal = placed;
        break;
      }
      places.push(placed);
    }
    if (refusal === undefined) {
      const list = places.map((p) => `${p.step} → ${p.service} on ${p.nodeId}`).join(', ');
      return { ok: true, site, reason: `every step placeable at ${site}: ${list || 'no steps'}`, places };
    }
    refusals.push({ site, reason: refusal });
  }
  return { ok: false, reason: refusals[0].reason, refusals };
}

/** Where the step could run at `site`, or why it cannot. */
function placeAt(step: ExecutionStep, site: string, input: ExecutionSiteInput): ExecutionStepPlace | string {
  if (step.split) return splitAt(step.id, step.split, site, input.catalog.nodes);
  if (step.workflow !== undefined || step.service === undefined) {
    return `step ${step.id} starts sub-workflow ${step.workflow ?? '(none)'}; runs with sub-workflows execute in the cloud`;
  }
  const label = `step ${step.id} (${step.service})`;
  const at = step.service.lastIndexOf('@');
  const name = at > 0 ? step.service.slice(0, at) : step.service;
  const range = at > 0 ? step.service.slice(at + 1) : '*';
  const versions = matchingVersions(
    input.catalog.services.filter((s) => s.name === name),
    versionRange(range),
  );
  if (versions.length === 0) return `${label}: no catalogued version of ${name} matches ${range}`;
  const hints = step.hints ?? {};
  const dataTier = hints.dataTier ?? input.dataTier;
  let candidatesHere = 0;
  let firstRejection: string | undefined;
  for (const version of versions) {
    const candidates = candidatesFromCatalog(version, input.catalog.nodes, input.catalog.instances).filter(
      (c: PlacementCandidate) => c.site === site,
    );
    if (candidates.length === 0) continue;
    candidatesHere += candidates.length;
    let constraints;
    try {
      constraints = resolveConstraints({
        service: serviceRef(version),
        requirements: version.requirements,
        inputBytes: 0,
        origin: input.origin,
        dataTier,
        hints: {
          tier: hints.tier,
          site: hints.site,
          tags: hints.tags || hints.anyTags ? { allOf: hints.tags, anyOf: hints.anyTags } : undefined,
        },
      });
    } catch (err) {
      if (err instanceof PlacementInputError) return `${label}: ${err.message}`;
      throw err;
    }
    for (const candidate of candidates) {
      const rejections = rejectionsOf(candidate, constraints).filter((r) => r.constraint !== 'saturated');
      if (rejections.length === 0) return { step: step.id, service: serviceRef(version), nodeId: candidate.nodeId };
      firstRejection ??= rejections.map((r) => r.message).join('; ');
    }
  }
  if (candidatesHere === 0) return `${label} has no instance at ${site}`;
  return `${label} cannot run at ${site}: ${firstRejection}`;
}

/**
 * A split step at `site`: both ends resolve to alive nodes of the site, two different ones (a
 * node id must be at the site; a tier takes the site's alive node of that tier, the one the
 * other end did not take) — the site engine then runs head and tail there and the cut tensors
 * stay in the site. Instances are not checked: which parts run depends on the cut the engine
 * chooses at run time, and a missing one fails the step naming what to start, as in the cloud.
 */
function splitAt(
  id: string,
  split: NonNullable<ExecutionStep['split']>,
  site: string,
  nodes: readonly NodeRecord[],
): ExecutionStepPlace | string {
  const label = `step ${id} (split ${split.model})`;
  const taken: string[] = [];
  for (const [i, end] of split.between.entries()) {
    const byId = nodes.find((n) => n.id === end);
    if (byId) {
      if (byId.site !== site) return `${label}: between[${i}] ${end} is at site ${byId.site}, not ${site}`;
      if (byId.status !== 'alive') return `${label}: between[${i}] ${end} is ${byId.status}`;
      taken.push(byId.id);
      continue;
    }
    const of = nodes.filter((n) => n.site === site && n.tier === end && n.status === 'alive' && !taken.includes(n.id));
    if (of.length === 0)
      return `${label}: between[${i}]: no alive ${end} node at ${site} (besides ${taken.join(', ') || 'none'})`;
    taken.push([...of].sort((a, b) => a.id.localeCompare(b.id))[0].id);
  }
  return { step: id, service: `split:${split.model}`, nodeId: taken[0] };
}
