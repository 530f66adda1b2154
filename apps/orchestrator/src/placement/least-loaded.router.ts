import { Inject, Injectable } from '@nestjs/common';
import semver from 'semver';
import type { InstanceRecord } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { parseRef } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import type { RouteCandidate, RouteDecision, RouteRequest, StepRouter } from './step-router';

/**
 * Routes to the ready instance with the least work per unit of concurrency, counting
 * what this orchestrator has sent but not yet heard back (heartbeats lag by seconds).
 * Hints are hard constraints: tier, tags (all-of / any-of), site.
 */
@Injectable()
export class LeastLoadedRouter implements StepRouter {
  private readonly pending = new Map<string, number>();
  private turn = 0;

  constructor(@Inject(CatalogService) private readonly catalog: CatalogService) {}

  route(request: RouteRequest): RouteDecision {
    const { name, range } = parseRef(request.service);
    const candidates: RouteCandidate[] = [];
    let best: { instance: InstanceRecord; load: number; avoided: boolean } | undefined;
    let versionMatches = 0;
    for (const instance of this.catalog.instancesOfService(name)) {
      if (!semver.satisfies(instance.version, range)) continue;
      versionMatches++;
      const node = this.catalog.node(instance.nodeId);
      const rejected = this.rejection(instance, node, request);
      const concurrency = this.catalog.serviceDescriptor(`${instance.service}@${instance.version}`)?.concurrency ?? 1;
      const load = (instance.inFlight + instance.queued + (this.pending.get(instance.id) ?? 0)) / concurrency;
      candidates.push({ instanceId: instance.id, nodeId: instance.nodeId, load, rejected });
      if (rejected) continue;
      const avoided = request.avoid?.includes(instance.id) ?? false;
      // Prefer instances not avoided, then least load; rotate among equals so load spreads before heartbeats catch up.
      if (
        !best ||
        (best.avoided && !avoided) ||
        (best.avoided === avoided && (load < best.load || (load === best.load && (this.turn++ & 1) === 1)))
      ) {
        best = { instance, load, avoided };
      }
    }
    if (!best) {
      const why =
        versionMatches === 0
          ? `no instance of ${request.service} is running; start one with POST /instances`
          : `none of the ${versionMatches} instance(s) of ${request.service} can take it: ${candidates.map((c) => `${c.instanceId} ${c.rejected}`).join('; ')}`;
      throw new YunbianError('UNAVAILABLE', why, { service: request.service, candidates });
    }
    return {
      instance: best.instance,
      node: this.catalog.node(best.instance.nodeId),
      strategy: 'least-loaded',
      reason: `least loaded of ${candidates.filter((c) => !c.rejected).length} ready instance(s) (load ${best.load.toFixed(2)})`,
      candidates,
    };
  }

  private rejection(
    instance: InstanceRecord,
    node: ReturnType<CatalogService['node']>,
    request: RouteRequest,
  ): string | undefined {
    if (instance.status !== 'ready') return `is ${instance.status}`;
    if (node.status !== 'alive') return `is on ${node.status} node ${node.id}`;
    const hints = request.hints;
    if (!hints) return undefined;
    if (hints.tier && node.tier !== hints.tier) return `is on a ${node.tier} node (step wants ${hints.tier})`;
    if (hints.site && node.site !== hints.site) return `is at site ${node.site} (step wants ${hints.site})`;
    const missing = (hints.tags ?? []).filter((t) => !node.tags.includes(t));
    if (missing.length) return `node ${node.id} lacks tag(s) ${missing.join(', ')}`;
    if (hints.anyTags?.length && !hints.anyTags.some((t) => node.tags.includes(t))) {
      return `node ${node.id} has none of ${hints.anyTags.join(', ')}`;
    }
    return undefined;
  }

  sent(instanceId: string): void {
    this.pending.set(instanceId, (this.pending.get(instanceId) ?? 0) + 1);
  }

  settled(instanceId: string): void {
    const n = (this.pending.get(instanceId) ?? 1) - 1;
    if (n <= 0) this.pending.delete(instanceId);
    else this.pending.set(instanceId, n);
  }
}
