import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { Subjects, type RunWorkflowCommand } from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { runView } from './run-view';
import { WorkflowEngine } from './workflow-engine.service';

/**
 * Starts runs over NATS (`yb.cmd.workflows.run`), for devices and services that speak
 * NATS rather than HTTP. Requests share a queue group, so orchestrator replicas split them.
 */
@Injectable()
export class WorkflowsGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription?: Subscription;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.transport.serve<RunWorkflowCommand, unknown>(
      Subjects.workflowRun,
      async (command) => {
        if (!command || typeof command.workflow !== 'string') {
          throw new YunbianError(
            'BAD_REQUEST',
            'expected { "workflow": "<name>", "input"?, "version"?, "durability"?, "waitMs"? }',
          );
        }
        const started = await this.engine.start(command.workflow, command.input ?? {}, {
          version: command.version,
          durability: command.durability,
        });
        const run = await this.engine.waitFor(started.id, Math.min(command.waitMs ?? 30_000, 300_000));
        // The view is this call's own object: given its output in place, not spread into a copy.
        return Object.assign(runView(run, { detail: false }), { output: run.output });
      },
      { queue: Subjects.workflowRun },
    );
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }
}
