import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { RUN_ENGINE_CHOICES, Subjects, type RunWorkflowCommand } from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { forCloud } from './run-redaction';
import { runView } from './run-view';
import { WorkflowEngine } from './workflow-engine.service';

/**
 * Starts runs over NATS, for devices and services that speak NATS rather than HTTP, and
 * for engines forwarding a start to the engine that executes it: the cloud serves
 * `yb.cmd.workflows.run`, a site engine `yb.cmd.site.<site>.workflows.run` (never the
 * cloud's subject: the leaf would hand the cloud's requests to the nearest listener).
 * Requests share a queue group, so replicas split them.
 */
@Injectable()
export class WorkflowsGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription?: Subscription;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {}

  onApplicationBootstrap(): void {
    const subject = this.config.mode === 'site' ? Subjects.siteWorkflowRun(this.config.site) : Subjects.workflowRun;
    this.subscription = this.transport.serve<RunWorkflowCommand, unknown>(
      subject,
      async (command) => {
        if (!command || typeof command.workflow !== 'string') {
          throw new YunbianError(
            'BAD_REQUEST',
            'expected { "workflow": "<name>", "input"?, "version"?, "durability"?, "waitMs"?, "origin"?, "dataTier"?, "engine"?, "reply"? }',
          );
        }
        if (command.engine !== undefined && !RUN_ENGINE_CHOICES.includes(command.engine)) {
          throw new YunbianError(
            'BAD_REQUEST',
            `engine must be ${RUN_ENGINE_CHOICES.join(', ')} (got ${JSON.stringify(command.engine)})`,
          );
        }
        const waitMs = Math.min(command.waitMs ?? 30_000, 300_000);
        const started = await this.engine.startRun(command.workflow, command.input ?? {}, {
          version: command.version,
          durability: command.durability,
          originNodeId: command.origin?.nodeId,
          dataTier: command.dataTier,
          engine: command.engine,
          forwarded: command.forwarded,
          waitMs,
        });
        const run = this.engine.holds(started.id) ? await this.engine.waitFor(started.id, waitMs) : started;
        // The whole record is for the engine that forwarded the start; a site's leaves it as the tier rules let it.
        if (command.reply === 'record') {
          return { record: this.config.mode === 'site' ? forCloud(run, this.config, this.transport) : run };
        }
        // The view is this call's own object: given its output in place, not spread into a copy.
        return Object.assign(runView(run, { detail: false }), { output: run.output });
      },
      { queue: subject },
    );
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }
}
