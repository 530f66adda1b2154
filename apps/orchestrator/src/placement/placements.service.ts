import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import semver from 'semver';
import { ownerKey, serviceRef, type InstanceOwner, type ServiceDescriptor } from '@yunbian/contracts';
import {
  parseObjective,
  PlacementInputError,
  planDeployment,
  type DeploymentPlanResult,
  type Objective,
  type PlannedService,
} from '@yunbian/placement';
import { YunbianError } from '@yunbian/transport';
import { parseRef } from '@yunbian/workflow';
import { CatalogService } from '../catalog/catalog.service';
import { DeploymentService } from '../catalog/deployment.service';
import { WorkflowRegistry } from '../workflows/workflow-registry.service';
import { PlacementRouter } from './placement.router';

export interface PlanRequest {
  workflow: string;
  version?: number;
  /** Expected runs per second from each origin site (optionally a node there). */
  load: { site: string; nodeId?: string; runsPerSecond: number }[];
  objective?: string;
  solver?: 'auto' | 'exact' | 'heuristic';
}

export interface StoredPlan {
  id: string;
  request: PlanRequest;
  createdAt: string;
  result: DeploymentPlanResult;
}

export interface ApplyAction {
  action: 'start' | 'drain' | 'keep';
  service: string;
  nodeId: string;
  instanceId?: string;
  error?: string;
}

const PLANS_KEPT = 100;

/** The request's objective (the planner's default when absent); a bad one is a 400 naming `/objective`. */
function planObjective(text: string | undefined): Objective | undefined {
  try {
    return parseObjective(text, '/objective');
  } catch (err) {
    if (err instanceof PlacementInputError) throw new YunbianError('BAD_REQUEST', err.message, err.details);
    throw err;
  }
}

/** Deployment planning: which services to run on which nodes, how many, and applying that. */
@Injectable()
export class PlacementsService {
  private readonly plans = new Map<string, StoredPlan>();

  constructor(
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(WorkflowRegistry) private readonly registry: WorkflowRegistry,
    @Inject(DeploymentService) private readonly deployment: DeploymentService,
    @Inject(PlacementRouter) private readonly router: PlacementRouter,
  ) {}

  async plan(request: PlanRequest): Promise<StoredPlan> {
    const objective = planObjective(request.objective);
    const workflow = this.registry.get(request.workflow, request.version).definition;
    const descriptors: ServiceDescriptor[] = [];
    const services: PlannedService[] = [];
    for (const step of workflow.steps) {
      if (!step.service) continue;
      const descriptor = this.deployment.resolveService(step.service);
      if (services.some((s) => s.service === serviceRef(descriptor))) continue;
      descriptors.push(descriptor);
      const hints = step.placement ?? workflow.placement;
      services.push({
        service: serviceRef(descriptor),
        requirements: descriptor.requirements,
        hints: hints
          ? {
              tier: hints.tier,
              site: hints.site,
              maxLatencyMs: hints.maxLatencyMs,
              tags: hints.tags ? { allOf: hints.tags, anyOf: hints.anyTags } : undefined,
            }
          : undefined,
        concurrency: descriptor.concurrency,
        dataTier: hints?.dataTier,
      });
    }
    if (services.length === 0)
      throw new YunbianError('BAD_REQUEST', `workflow ${request.workflow} calls no services to place`);
    const nodes = this.catalog.listNodes().filter((n) => n.status === 'alive');
    const result = await planDeployment(
      {
        services,
        nodes,
        load: request.load,
        profiles: this.router.computeProfiles(descriptors),
        network: this.router.networkModel(),
        objective,
      },
      { solver: request.solver ?? 'auto' },
    );
    const stored: StoredPlan = { id: randomUUID(), request, createdAt: new Date().toISOString(), result };
    this.plans.set(stored.id, stored);
    while (this.plans.size > PLANS_KEPT) this.plans.delete(this.plans.keys().next().value!);
    return stored;
  }

  get(id: string): StoredPlan {
    const plan = this.plans.get(id);
    if (!plan)
      throw new YunbianError('NOT_FOUND', `unknown plan "${id}" (plans are kept in memory, the last ${PLANS_KEPT})`);
    return plan;
  }

  /**
   * Starts the planned instances that are missing and drains those beyond the plan, per service
   * and node — counting and draining only instances applied plans of this workflow started
   * (owner `plan/<workflow>`): one-off instances, deployments' replicas and other workflows'
   * instances are never touched. A dry run lists every start and drain and does none.
   */
  async apply(id: string, dryRun = false): Promise<ApplyAction[]> {
    const plan = this.get(id);
    if (!plan.result.ok)
      throw new YunbianError('CONFLICT', `plan ${id} found no feasible deployment; nothing to apply`);
    const owner: InstanceOwner = { kind: 'plan', name: plan.request.workflow };
    const actions: ApplyAction[] = [];
    for (const servicePlan of plan.result.services) {
      const { name, range } = parseRef(servicePlan.service);
      const wanted = new Map(servicePlan.placements.map((p) => [p.nodeId, p.instances]));
      const running = this.catalog
        .instancesOfService(name)
        .filter((i) => i.owner && ownerKey(i.owner) === ownerKey(owner))
        .filter((i) => semver.satisfies(i.version, range) && i.status !== 'failed' && i.status !== 'draining');
      const nodes = new Set([...wanted.keys(), ...running.map((i) => i.nodeId)]);
      for (const nodeId of nodes) {
        const here = running.filter((i) => i.nodeId === nodeId);
        const target = wanted.get(nodeId) ?? 0;
        const base = { service: servicePlan.service, nodeId };
        for (const instance of here.slice(0, target))
          actions.push({ action: 'keep', ...base, instanceId: instance.id });
        for (let n = here.length; n < target; n++) {
          if (dryRun) {
            actions.push({ action: 'start', ...base });
            continue;
          }
          try {
            const started = await this.deployment.start({ service: servicePlan.service, nodeId, owner });
            actions.push({ action: 'start', ...base, instanceId: started.id });
          } catch (err) {
            actions.push({ action: 'start', ...base, error: (err as Error).message });
          }
        }
        for (const instance of here.slice(target)) {
          if (dryRun) {
            actions.push({ action: 'drain', ...base, instanceId: instance.id });
            continue;
          }
          try {
            await this.deployment.stop(instance.id);
            actions.push({ action: 'drain', ...base, instanceId: instance.id });
          } catch (err) {
            actions.push({ action: 'drain', ...base, instanceId: instance.id, error: (err as Error).message });
          }
        }
      }
    }
    return actions;
  }
}
