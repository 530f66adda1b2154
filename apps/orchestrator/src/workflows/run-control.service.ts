import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { RUN_CONTROL_ACTIONS, Subjects, type RunControlAction, type RunControlCommand } from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import type { RunRecord } from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { EnginesService } from './engines.service';
import { RemoteRuns } from './remote-runs.service';
import { routeControl, unansweredMessage } from './run-control';
import { forCloud } from './run-redaction';
import { WorkflowEngine } from './workflow-engine.service';

/** How long a forwarded cancel or retry may take (one WAN round trip and a store write). */
const CONTROL_TIMEOUT_MS = 10_000;

/**
 * Cancel and retry wherever the run executes: carried out here when this engine holds the
 * run, else forwarded to the engine executing it (`Subjects.engineRunControl(id)`, which
 * every engine answers for its own runs) and that engine's answer returned — or a 503
 * naming the engine and how long it has been silent when it is not live. It also answers
 * this engine's own control subject.
 */
@Injectable()
export class RunControl implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription?: Subscription;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
    @Inject(RemoteRuns) private readonly remote: RemoteRuns,
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.transport.serve<RunControlCommand, { record: RunRecord }>(
      Subjects.engineRunControl(this.config.id),
      async (command) => {
        if (!command || !RUN_CONTROL_ACTIONS.includes(command.action) || typeof command.runId !== 'string') {
          throw new YunbianError(
            'BAD_REQUEST',
            `expected { "action": ${RUN_CONTROL_ACTIONS.join(' | ')}, "runId": "<id>", "reason"?, "via"? }`,
          );
        }
        const via = Array.isArray(command.via) ? command.via.filter((v) => typeof v === 'string') : [];
        const record = await this.apply(command.action, command.runId, { reason: command.reason, via });
        // Another engine asked (the cloud): a site's record leaves it as the tier rules let it.
        return { record: this.config.mode === 'site' ? forCloud(record, this.config, this.transport) : record };
      },
      { queue: Subjects.engineRunControl(this.config.id) },
    );
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }

  cancel(runId: string, reason?: string): Promise<RunRecord> {
    return this.apply('cancel', runId, { reason });
  }

  retry(runId: string): Promise<RunRecord> {
    return this.apply('retry', runId);
  }

  async apply(
    action: RunControlAction,
    runId: string,
    options: { reason?: string; via?: string[] } = {},
  ): Promise<RunRecord> {
    const via = options.via ?? [];
    const held = this.engine.holds(runId);
    const route = routeControl({
      action,
      runId,
      self: { id: this.config.id, mode: this.config.mode },
      held,
      record: held ? undefined : await this.locate(runId),
      via,
      live: (id) => this.engines.live(id) !== undefined,
      silent: (id) => this.engines.silent(id),
      cloudEngine: this.engines.cloudEngine()?.id,
    });
    if (route.where === 'here')
      return action === 'cancel' ? this.engine.cancel(runId, options.reason) : this.engine.retry(runId);
    if (route.where === 'unavailable') throw new YunbianError('UNAVAILABLE', route.message, { engine: route.engineId });
    const command: RunControlCommand = {
      action,
      runId,
      ...(options.reason ? { reason: options.reason } : {}),
      via: [...via, this.config.id],
    };
    try {
      const reply = await this.transport.request<{ record: RunRecord }>(
        Subjects.engineRunControl(route.engineId),
        command,
        { timeoutMs: CONTROL_TIMEOUT_MS },
      );
      return reply.record;
    } catch (err) {
      const error = YunbianError.from(err);
      if (error.code !== 'NO_RESPONDERS' && error.code !== 'TIMEOUT') throw error;
      throw new YunbianError(
        'UNAVAILABLE',
        unansweredMessage(action, runId, route.engineId, route.kind, error.message),
        {
          engine: route.engineId,
        },
      );
    }
  }

  /**
   * Who executes the run, as this engine can tell: its own store's record, or (the cloud) the
   * record a site engine answers with, else the site engine last known to execute it.
   */
  private async locate(runId: string): Promise<Pick<RunRecord, 'id' | 'executedBy'> | undefined> {
    try {
      return await this.engine.find(runId);
    } catch (err) {
      if (!(err instanceof YunbianError) || err.code !== 'NOT_FOUND') throw err;
    }
    return this.remote.locate(runId);
  }
}
