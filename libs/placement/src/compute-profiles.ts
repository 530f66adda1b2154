import { PlacementInputError } from './errors';
import { cpuSlowdown } from './node-class';
import type { ComputeSource } from './types';

/**
 * What a service is expected to take before anything was observed, on at least one whole
 * core; estimates for instances with less CPU scale it (see `cpuSlowdown`).
 */
export interface DeclaredComputeProfile {
  /** Execution time by hardware class, keyed by node tag (`{ gpu: 15, npu: 40 }`); the fastest matching tag wins. */
  byTagMs?: Readonly<Record<string, number>>;
  /** Execution time on nodes carrying none of those tags. */
  defaultMs?: number;
}

export interface ComputeEstimate {
  ms: number;
  source: ComputeSource;
  /** The tag whose declared time was used (source `declared-tag`). */
  tag?: string;
  /** Factor a declared time was multiplied by for the instance's CPU share (1: none). */
  cpuSlowdown?: number;
}

export interface ComputeProfilesOptions {
  /** Execution time assumed for a service with no observation and no declared profile. */
  defaultMs?: number;
  /** Weight of a new observation in the moving average (0 < smoothing ≤ 1). */
  smoothing?: number;
}

/** One learnt execution time, as `ComputeProfiles.observations` exports it. */
export interface ComputeObservation {
  service: string;
  nodeClass: string;
  /** The smoothed time. */
  ms: number;
  /** Replies it was learnt from. */
  count: number;
}

interface Observed {
  ms: number;
  count: number;
}

/** The estimates of one service, resolved once per decision so the per-candidate lookup is a map read. */
export class ServiceComputeProfile {
  constructor(
    private readonly observed: ReadonlyMap<string, Observed> | undefined,
    private readonly declared: DeclaredComputeProfile | undefined,
    private readonly fallbackMs: number,
  ) {}

  /**
   * Estimate for one node class (see `nodeClassKey`; any stable key works), written into `out`
   * (no allocation on the routing path). What was observed for that class wins; a declared time
   * is scaled to `cpu`, the cores the instance gets (undefined: a whole core or more).
   */
  estimateInto(nodeClass: string, tags: readonly string[], out: ComputeEstimate, cpu?: number): ComputeEstimate {
    const seen = this.observed?.get(nodeClass);
    if (seen !== undefined) {
      out.ms = seen.ms;
      out.source = 'observed';
      out.tag = undefined;
      out.cpuSlowdown = 1;
      return out;
    }
    const slowdown = cpuSlowdown(cpu);
    out.cpuSlowdown = slowdown;
    const byTag = this.declared?.byTagMs;
    if (byTag !== undefined) {
      let best = Infinity;
      let bestTag: string | undefined;
      for (let i = 0; i < tags.length; i++) {
        const ms = byTag[tags[i]];
        if (ms !== undefined && ms < best) {
          best = ms;
          bestTag = tags[i];
        }
      }
      if (bestTag !== undefined) {
        out.ms = best * slowdown;
        out.source = 'declared-tag';
        out.tag = bestTag;
        return out;
      }
    }
    const declaredDefault = this.declared?.defaultMs;
    out.ms = (declaredDefault ?? this.fallbackMs) * slowdown;
    out.source = declaredDefault === undefined ? 'default' : 'declared-service';
    out.tag = undefined;
    return out;
  }

  estimate(nodeClass: string, tags: readonly string[], cpu?: number): ComputeEstimate {
    return this.estimateInto(nodeClass, tags, { ms: 0, source: 'default' }, cpu);
  }
}

/**
 * Execution time per (service, node class): the moving average of what was observed on that
 * class (arch + tags + the instance's CPU, `nodeClassKey`), else the service's declared time for
 * the node's hardware class (a tag such as `gpu`), else the service's declared default, else one
 * default for everything — declared and default times scaled to the instance's CPU share.
 * Observations never cross classes: a figure learnt on a 0.25-core device is not used for a
 * 1-core node of the same tags, nor the other way round.
 *
 * Services are keyed by the string the caller uses (`name@version` is best: versions may differ in
 * speed). Declared profiles are also found by the bare name, so one declaration covers all versions.
 */
export class ComputeProfiles {
  readonly defaultMs: number;
  readonly smoothing: number;
  private readonly observed = new Map<string, Map<string, Observed>>();
  private readonly declared = new Map<string, DeclaredComputeProfile>();

  constructor(options: ComputeProfilesOptions = {}) {
    this.defaultMs = options.defaultMs ?? 100;
    this.smoothing = options.smoothing ?? 0.3;
    if (!(this.defaultMs > 0) || !Number.isFinite(this.defaultMs)) {
      throw new PlacementInputError(`defaultMs must be a finite number above 0 (got ${this.defaultMs})`);
    }
    if (!(this.smoothing > 0 && this.smoothing <= 1)) {
      throw new PlacementInputError(`smoothing must be above 0 and at most 1 (got ${this.smoothing})`);
    }
  }

  declare(service: string, profile: DeclaredComputeProfile): this {
    const times: [string, number][] = Object.entries(profile.byTagMs ?? {}).map(([tag, ms]) => [`byTagMs.${tag}`, ms]);
    if (profile.defaultMs !== undefined) times.push(['defaultMs', profile.defaultMs]);
    for (const [field, ms] of times) {
      if (!Number.isFinite(ms) || ms <= 0) {
        throw new PlacementInputError(
          `compute profile of ${service}: ${field} must be a finite number of milliseconds above 0 (got ${ms})`,
          { service, field, value: ms },
        );
      }
    }
    this.declared.set(service, profile);
    return this;
  }

  /** Adds one execution time observed on a node class; returns the new smoothed estimate for it. */
  record(service: string, nodeClass: string, durationMs: number): number {
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new PlacementInputError(
        `observed execution time of ${service} on ${nodeClass} must be a finite number of milliseconds of 0 or more (got ${durationMs})`,
        { service, nodeClass, value: durationMs },
      );
    }
    let byClass = this.observed.get(service);
    if (!byClass) this.observed.set(service, (byClass = new Map()));
    const seen = byClass.get(nodeClass);
    if (seen === undefined) {
      byClass.set(nodeClass, { ms: durationMs, count: 1 });
      return durationMs;
    }
    seen.ms = this.smoothing * durationMs + (1 - this.smoothing) * seen.ms;
    seen.count++;
    return seen.ms;
  }

  /** Everything observed, for a copy that outlives the process (`restore`). */
  observations(): ComputeObservation[] {
    const all: ComputeObservation[] = [];
    for (const [service, byClass] of this.observed) {
      for (const [nodeClass, seen] of byClass) all.push({ service, nodeClass, ms: seen.ms, count: seen.count });
    }
    return all;
  }

  /**
   * Takes back what `observations` returned (a restarted engine's learnt times). What this
   * process has observed itself is kept; malformed entries are skipped.
   */
  restore(observations: readonly ComputeObservation[]): number {
    let restored = 0;
    for (const o of observations) {
      if (!o || typeof o.service !== 'string' || typeof o.nodeClass !== 'string') continue;
      if (!Number.isFinite(o.ms) || o.ms < 0 || !Number.isInteger(o.count) || o.count < 1) continue;
      let byClass = this.observed.get(o.service);
      if (!byClass) this.observed.set(o.service, (byClass = new Map()));
      if (byClass.has(o.nodeClass)) continue;
      byClass.set(o.nodeClass, { ms: o.ms, count: o.count });
      restored++;
    }
    return restored;
  }

  /** Drops what was observed on a node class. */
  forget(nodeClass: string): void {
    for (const byClass of this.observed.values()) byClass.delete(nodeClass);
  }

  observationCount(service: string, nodeClass: string): number {
    return this.observed.get(service)?.get(nodeClass)?.count ?? 0;
  }

  forService(service: string): ServiceComputeProfile {
    const at = service.lastIndexOf('@');
    const declared = this.declared.get(service) ?? (at > 0 ? this.declared.get(service.slice(0, at)) : undefined);
    return new ServiceComputeProfile(this.observed.get(service), declared, this.defaultMs);
  }

  estimate(service: string, nodeClass: string, tags: readonly string[], cpu?: number): ComputeEstimate {
    return this.forService(service).estimate(nodeClass, tags, cpu);
  }
}
