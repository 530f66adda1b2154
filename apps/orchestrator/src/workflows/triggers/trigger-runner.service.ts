import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { JsonLogger } from '@yunbian/common';
import type { TriggerStatus } from '@yunbian/contracts';
import { yunbianMetrics } from '@yunbian/observability';
import { NatsTransport } from '@yunbian/transport';
import {
  triggerConcurrency,
  triggerId,
  triggerKind,
  type StoredWorkflow,
  type TriggerDefinition,
} from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../../engine-config';
import { ReplicaService } from '../../replicas/replicas.service';
import { WorkflowEngine } from '../workflow-engine.service';
import { WorkflowRegistry } from '../workflow-registry.service';
import type { RunningTrigger, TriggerContext } from './running-trigger';
import { RunningSamplesTrigger } from './samples-trigger';
import { RunningScheduleTrigger } from './schedule-trigger';
import { RunningStreamTrigger } from './stream-trigger';
import { RunningSubjectTrigger } from './subject-trigger';
import { runsHere, triggerSource } from './trigger-plan';

interface WorkflowTriggers {
  version: number;
  running: RunningTrigger[];
  /** Triggers another site's engine runs: shown, not run. */
  elsewhere: TriggerStatus[];
}

/**
 * Runs the triggers of the latest version of every workflow that this engine owns (those
 * for its site; those without a site on the cloud engine). A new version's triggers replace
 * the old one's (a stream trigger keeping its id keeps its consumer and goes on where it
 * was); a deleted workflow's triggers stop and their consumers are deleted. On shutdown they
 * stop receiving; runs already started go on in the engine.
 */
@Injectable()
export class TriggerRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('triggers');
  private readonly workflows = new Map<string, WorkflowTriggers>();
  /** Changes to one workflow's triggers, applied in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private context?: TriggerContext;
  private shuttingDown = false;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowRegistry) private readonly registry: WorkflowRegistry,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
    @Inject(ENGINE_CONFIG) private readonly engineConfig: EngineConfig,
    @Inject(ReplicaService) private readonly replicas: ReplicaService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.registry.onChange((name) => void this.sync(name));
    // Runs restored first: a redelivered message must find the run it started before a crash.
    await this.engine.ready;
    this.context = {
      engine: this.engine,
      transport: this.transport,
      metrics: yunbianMetrics(),
      logger: this.logger,
      site: this.engineConfig.site,
      streamDomain: this.engineConfig.runDomain,
      decides: () => this.replicas.decides(),
    };
    await Promise.all(this.registry.list().map((w) => this.sync(w.name)));
  }

  async onApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.chains.values()]);
    await Promise.all([...this.workflows.values()].flatMap((w) => w.running.map((t) => t.stop())));
    this.workflows.clear();
  }

  /** The triggers of a workflow's latest version with their state here (empty when it has none). */
  statuses(name: string): TriggerStatus[] {
    const known = this.workflows.get(name);
    const latest = this.registry.versions(name).at(-1);
    if (!latest) return [];
    if (!known || known.version !== latest.version) {
      // Not applied yet (a change on its way): what it will be.
      return (latest.definition.triggers ?? []).map((t, i) =>
        this.placeholder(t, i, 'starting', 'the new version is being applied'),
      );
    }
    const running = new Map(known.running.map((t) => [t.id, t.status()]));
    const elsewhere = new Map(known.elsewhere.map((t) => [t.id, t]));
    return (latest.definition.triggers ?? []).map((t, i) => {
      const id = triggerId(t, i);
      return running.get(id) ?? elsewhere.get(id)!;
    });
  }

  private placeholder(
    trigger: TriggerDefinition,
    index: number,
    state: TriggerStatus['state'],
    reason: string,
    site?: string,
  ): TriggerStatus {
    return {
      id: triggerId(trigger, index),
      kind: triggerKind(trigger),
      source: triggerSource(trigger),
      site: site ?? trigger.site ?? 'cloud',
      state,
      reason,
      concurrency: triggerConcurrency(trigger),
      inFlight: 0,
      runsStarted: 0,
      duplicates: 0,
      dropped: 0,
      failed: 0,
    };
  }

  private sync(name: string): Promise<void> {
    const previous = this.chains.get(name) ?? Promise.resolve();
    const next = previous
      .then(() => this.apply(name))
      .catch((err: Error) =>
        this.logger.error('triggers could not be applied', { workflow: name, error: err.message }),
      );
    this.chains.set(name, next);
    void next.then(() => {
      if (this.chains.get(name) === next) this.chains.delete(name);
    });
    return next;
  }

  /** Brings the running triggers of a workflow in line with its latest version. */
  private async apply(name: string): Promise<void> {
    if (!this.context || this.shuttingDown) return;
    const latest: StoredWorkflow | undefined = this.registry.versions(name).at(-1);
    const current = this.workflows.get(name);
    if (current && latest && current.version === latest.version) return;
    const next: WorkflowTriggers = { version: latest?.version ?? 0, running: [], elsewhere: [] };
    const kept = new Set<string>();
    for (const [i, trigger] of (latest?.definition.triggers ?? []).entries()) {
      const where = runsHere(trigger.site, this.engineConfig);
      if (!where.here) {
        next.elsewhere.push(this.placeholder(trigger, i, 'not-running', where.reason!, where.site));
        continue;
      }
      const id = triggerId(trigger, i);
      next.running.push(this.create(latest!, trigger, id));
      if ('stream' in trigger) kept.add(`${trigger.stream}/${id}`);
    }
    // The old version's triggers stop first: a stream consumer kept by the new one has one reader at a time.
    for (const old of current?.running ?? []) {
      const keeps =
        old instanceof RunningStreamTrigger && kept.has(`${(old.definition as { stream: string }).stream}/${old.id}`);
      await (keeps ? old.stop() : old.retire());
    }
    if (latest) this.workflows.set(name, next);
    else this.workflows.delete(name);
    for (const trigger of next.running) {
      await trigger.launch();
      this.logger.info('trigger started', {
        workflow: name,
        version: next.version,
        trigger: trigger.id,
        kind: trigger.kind,
        state: trigger.status().state,
      });
    }
  }

  private create(workflow: StoredWorkflow, trigger: TriggerDefinition, id: string): RunningTrigger {
    const context = this.context!;
    if ('stream' in trigger) return new RunningStreamTrigger(context, workflow, trigger, id);
    if ('schedule' in trigger) return new RunningScheduleTrigger(context, workflow, trigger, id);
    if ('samples' in trigger) return new RunningSamplesTrigger(context, workflow, trigger, id);
    return new RunningSubjectTrigger(context, workflow, trigger, id);
  }
}
