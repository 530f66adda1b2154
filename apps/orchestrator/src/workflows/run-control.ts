import { round } from '@yunbian/common';
import type { EngineKindName, RunControlAction } from '@yunbian/contracts';
import type { RunRecord } from '@yunbian/workflow';
import type { SilentEngine } from './engines.service';

/** Where a cancel or retry of a run is carried out. */
export type ControlRoute =
  | { where: 'here' }
  | { where: 'forward'; engineId: string; kind: EngineKindName }
  | { where: 'unavailable'; engineId: string; message: string };

export interface ControlRouteInput {
  action: RunControlAction;
  runId: string;
  /** This engine. */
  self: { id: string; mode: 'cloud' | 'site' };
  /** This engine holds the run (in memory): it carries the action out. */
  held: boolean;
  /** Who executes the run, as found here (this engine's store, or what another engine answers). */
  record?: Pick<RunRecord, 'id' | 'executedBy'>;
  /** Engines the command already went through (never forwarded back to one). */
  via: string[];
  live: (engineId: string) => boolean;
  silent: (engineId: string) => SilentEngine;
  /** The live cloud engine's id (a site engine sends what it does not know there). */
  cloudEngine?: string;
}

/**
 * Which engine carries out a cancel or retry: this one when it holds the run (the cloud
 * does too once it took an embedded engine's run over: the record then names it); the
 * engine the run's record names when that one is live; else nobody, saying which engine
 * and how long it has been silent. A site engine sends a run it does not know to the cloud,
 * which knows every engine's runs.
 */
export function routeControl(input: ControlRouteInput): ControlRoute {
  if (input.held) return { where: 'here' };
  const by = input.record?.executedBy;
  if (!input.record || !by) {
    if (input.self.mode === 'site' && input.record === undefined) {
      const cloud = input.cloudEngine;
      if (cloud && !input.via.includes(cloud)) return { where: 'forward', engineId: cloud, kind: 'cloud' };
      if (!cloud)
        return {
          where: 'unavailable',
          engineId: 'cloud',
          message: `run ${input.runId} is not one of this site engine's (${input.self.id}); it would ${input.action} it in the cloud, but no cloud engine is live (the uplink may be down): try again once it is`,
        };
    }
    // Unknown here (and, for the cloud, everywhere it looks): the executor says so.
    return { where: 'here' };
  }
  if (by.id === input.self.id || input.via.includes(by.id)) return { where: 'here' };
  if (input.live(by.id)) return { where: 'forward', engineId: by.id, kind: by.kind };
  return { where: 'unavailable', engineId: by.id, message: notLiveMessage(input, by.kind, input.silent(by.id)) };
}

function notLiveMessage(input: ControlRouteInput, kind: EngineKindName, silent: SilentEngine): string {
  const heard =
    silent.silentMs === undefined
      ? `not heard from since this engine (${input.self.id}) started`
      : `last heard from ${round(silent.silentMs / 1000, 1)} s ago${silent.reason ? ` (${silent.reason})` : ''}`;
  const next =
    kind === 'embedded'
      ? 'a durable run is taken over by the cloud engine once its engine is lost; try again then'
      : 'try again once it announces itself again';
  return `cannot ${input.action} run ${input.runId}: it is executed by ${kind} engine ${silent.id}, which is not live: ${heard}; ${next}`;
}

/** The message of an engine that is live but did not answer a forwarded command. */
export function unansweredMessage(
  action: RunControlAction,
  runId: string,
  engineId: string,
  kind: EngineKindName,
  cause: string,
): string {
  return `cannot ${action} run ${runId}: it is executed by ${kind} engine ${engineId}, which did not answer (${cause})`;
}
