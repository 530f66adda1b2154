import { Subjects, type RunEngineChoice } from '@yunbian/contracts';
import type { ExecutionSiteChoice } from '@yunbian/placement';
import { YunbianError } from '@yunbian/transport';

/** Where a start executes: here, or forwarded on `subject` to the engine that will. */
export type RunRoute =
  { where: 'here'; reason: string } | { where: 'forward'; subject: string; to: string; reason: string };

export interface RouteInput {
  /** This engine's mode and site. */
  mode: 'cloud' | 'site';
  here: string;
  engine: RunEngineChoice;
  /** The site of the run's origin node, when the start names one. */
  originSite?: string;
  /** Sites with a live site engine other than this one. */
  siteEngines: readonly string[];
  /**
   * The most private data tier of the run (its own and its steps' placement hints): a site
   * engine never hands an `edge-private` or `user-private` run to the cloud — its input would
   * cross to the hub and its record stay there.
   */
  dataTier?: 'public' | 'edge-private' | 'user-private';
  /** `chooseExecutionSite` over the run's steps and this engine's catalogue, for these sites in order. */
  choose(sites: string[]): ExecutionSiteChoice;
}

/**
 * Where a start executes (docs/workflows.md, "Where runs execute"). The cloud forwards a run
 * to the site engine of the site where every step places — the origin's site; with no
 * origin, the cloud itself first, then the live site engines by name — and executes the
 * rest. A site engine executes a run whose steps all place at its site and whose input is
 * there, and forwards the others to the cloud. `engine: cloud` forces the cloud; `engine:
 * site` forces the origin's site engine or is refused (422) naming what keeps it off.
 * `choose` is only called when there is a choice to make (no site engine: nothing to do).
 */
export function routeRun(input: RouteInput): RunRoute {
  const { here, engine, originSite } = input;
  const toCloud = (reason: string): RunRoute => ({
    where: 'forward',
    subject: Subjects.workflowRun,
    to: 'the cloud engine',
    reason,
  });
  if (input.mode === 'site') {
    // Private data stays at the site: refused rather than handed to the cloud (where the input
    // and the run's record would land on the hub).
    const keep = (reason: string): RunRoute => {
      if (input.dataTier && input.dataTier !== 'public') {
        throw unplaceable(
          `its data is ${input.dataTier} and may not leave site ${here} (it would go to the cloud: ${reason}); start it with origin.nodeId of a node at ${here} that can serve its steps`,
        );
      }
      return toCloud(reason);
    };
    if (engine === 'cloud') return keep(`engine "cloud" requested at site ${here}`);
    const site = originSite ?? here;
    if (site !== here) {
      if (engine === 'site') throw unplaceable(`its input comes from site ${site}, not ${here}`);
      return keep(`started at site ${here} with input from site ${site}`);
    }
    const choice = input.choose([here]);
    if (choice.ok) return { where: 'here', reason: choice.reason };
    if (engine === 'site') throw unplaceable(choice.reason);
    return keep(choice.reason);
  }
  if (engine === 'cloud') return { where: 'here', reason: 'engine "cloud" requested' };
  const siteEngines = [...new Set(input.siteEngines)].filter((s) => s !== here).sort();
  if (engine === 'site') {
    if (!originSite) throw unplaceable('engine "site" needs origin.nodeId, a node at the site to execute at');
    if (!siteEngines.includes(originSite)) throw unplaceable(`site ${originSite} has no live site engine`);
  }
  if (originSite === here) return { where: 'here', reason: `its input comes from site ${here}` };
  if (originSite && !siteEngines.includes(originSite)) {
    return { where: 'here', reason: `its input comes from site ${originSite}, which has no live site engine` };
  }
  if (!originSite && siteEngines.length === 0) return { where: 'here', reason: 'no site engine is live' };
  const choice = input.choose(originSite ? [originSite] : [here, ...siteEngines]);
  if (choice.ok && choice.site !== here) {
    return {
      where: 'forward',
      subject: Subjects.siteWorkflowRun(choice.site),
      to: `the site engine of ${choice.site}`,
      reason: choice.reason,
    };
  }
  if (engine === 'site') throw unplaceable(choice.reason);
  if (choice.ok || originSite) return { where: 'here', reason: choice.reason };
  // No origin and no site fits: say what keeps the run off each site engine's site.
  const elsewhere = choice.refusals.filter((r) => r.site !== here).map((r) => r.reason);
  return { where: 'here', reason: elsewhere.join('; ') || choice.reason };
}

function unplaceable(reason: string): YunbianError {
  return new YunbianError(
    'UNSATISFIABLE',
    `engine "site" was requested but the run cannot execute on a site engine: ${reason}; use engine "auto" or "cloud"`,
    { pointer: '/engine' },
  );
}
