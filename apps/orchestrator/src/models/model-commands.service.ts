import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { JsonLogger } from '@yunbian/common';
import {
  Subjects,
  type InstanceRecord,
  type RetireInstancesCommand,
  type RetireInstancesReply,
  type ServeModelCommand,
  type ServeModelReply,
  type SetAliasCommand,
  type SetAliasReply,
} from '@yunbian/contracts';
import { aliasSpecIssues } from '@yunbian/models';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { DeploymentService } from '../catalog/deployment.service';
import { ModelAliasesService } from './model-aliases.service';
import { ModelsService } from './models.service';

const ACTOR_PATTERN = /^[\x20-\x7e]{1,128}$/;
const SERVE_TIMEOUT_MS = 120_000;

/**
 * The registry's NATS commands for workflows that promote models (the `model-ops` service):
 * set an alias (`yb.cmd.models.alias`) — refused while a version it would send requests to
 * has no ready instance, so a canary split never routes to nobody —, start instances of a
 * version beside another's (`yb.cmd.models.serve`) and stop them again
 * (`yb.cmd.models.retire`), or every instance of a version no alias routes to any more. Cloud orchestrator only, like the registry; replicas share each
 * subject in one queue group.
 */
@Injectable()
export class ModelCommandsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new JsonLogger('models');
  private subscriptions: Subscription[] = [];

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(ModelAliasesService) private readonly aliases: ModelAliasesService,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(DeploymentService) private readonly deployment: DeploymentService,
  ) {}

  onModuleInit(): void {
    const t = this.transport;
    this.subscriptions = [
      t.serve<SetAliasCommand, SetAliasReply>(Subjects.modelAlias, (c) => this.setAlias(c), {
        queue: Subjects.modelAlias,
      }),
      t.serve<ServeModelCommand, ServeModelReply>(Subjects.modelServe, (c) => this.serve(c), {
        queue: Subjects.modelServe,
      }),
      t.serve<RetireInstancesCommand, RetireInstancesReply>(Subjects.modelRetire, (c) => this.retire(c), {
        queue: Subjects.modelRetire,
      }),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /** Ready instances serving `model@version`. */
  private serving(model: string, version: number): InstanceRecord[] {
    return this.catalog
      .listInstances({ status: 'ready' })
      .filter((i) => i.model?.name === model && i.model.version === version);
  }

  private checkActor(actor: unknown, what: string): string {
    if (typeof actor !== 'string' || !ACTOR_PATTERN.test(actor))
      throw new YunbianError('BAD_REQUEST', `${what}: "actor" must be 1-128 printable ASCII characters`, {
        pointer: '/actor',
      });
    return actor;
  }

  async setAlias(command: SetAliasCommand): Promise<SetAliasReply> {
    const { model, alias } = command ?? ({} as SetAliasCommand);
    const what = `alias ${model}@${alias}`;
    const actor = this.checkActor(command?.actor, what);
    const spec = { version: command.version, ...(command.canary ? { canary: command.canary } : {}) };
    const versions = this.models.model(model).map((m) => m.version);
    const issues = aliasSpecIssues(model, alias, spec, versions);
    if (issues.length)
      throw new YunbianError(
        'VALIDATION_FAILED',
        `${what} was not set: ${issues.map((i) => `${i.pointer} ${i.message}`).join('; ')}`,
        { issues, versions },
      );
    const routed = [spec.version, ...(spec.canary && spec.canary.share > 0 ? [spec.canary.version] : [])];
    for (const version of routed) {
      if (this.serving(model, version).length === 0)
        throw new YunbianError(
          'CONFLICT',
          `${what} was not set: no ready instance serves ${model}@${version}, so requests sent there would fail; start one first (POST /instances {"service": "onnx-inference", "config": {"model": "${model}@${version}"}}, or yb.cmd.models.serve)`,
          { model, version },
        );
    }
    const record = await this.aliases.set(model, alias, spec, actor);
    if (command.decision) await this.models.addPromotion(model, command.decision.canaryVersion, command.decision);
    return { alias: record };
  }

  async serve(command: ServeModelCommand): Promise<ServeModelReply> {
    const { model, version, like } = command ?? ({} as ServeModelCommand);
    const what = `serve ${model}@${version}`;
    const actor = this.checkActor(command?.actor, what);
    this.models.get(model, version);
    const ready = this.serving(model, version);
    if (ready.length)
      return { model, version, instances: ready.map((i) => ({ id: i.id, nodeId: i.nodeId })), existing: true };
    const beside = this.serving(model, like);
    if (beside.length === 0)
      throw new YunbianError(
        'CONFLICT',
        `${what}: no ready instance serves ${model}@${like}, so there is no pool to start the new version beside; start one or name the version that serves`,
        { pointer: '/like' },
      );
    const nodes = [...new Map(beside.map((i) => [i.nodeId, i])).values()];
    const started: InstanceRecord[] = [];
    for (const at of nodes) {
      started.push(
        await this.deployment.start({
          service: `${at.service}@${at.version}`,
          nodeId: at.nodeId,
          config: { ...(command.config ?? {}), model: `${model}@${version}` },
          ...(at.resources ? { resources: at.resources } : {}),
        }),
      );
    }
    this.logger.info('model version served', { model, version, like, actor, instances: started.map((i) => i.id) });
    const deadline = Date.now() + (command.timeoutMs ?? SERVE_TIMEOUT_MS);
    for (;;) {
      const states = started.map((s) => this.catalog.listInstances().find((i) => i.id === s.id));
      const failed = states.find((i) => !i || i.status === 'failed');
      if (failed)
        throw new YunbianError(
          'UNAVAILABLE',
          `${what}: instance ${failed?.id ?? '?'} failed to start: ${failed?.lastError ?? 'it left the catalogue'}`,
        );
      if (states.every((i) => i!.status === 'ready' && i!.model?.version === version))
        return { model, version, instances: started.map((i) => ({ id: i.id, nodeId: i.nodeId })), existing: false };
      if (Date.now() > deadline)
        throw new YunbianError(
          'TIMEOUT',
          `${what}: instances ${started.map((i) => i.id).join(', ')} not ready within ${command.timeoutMs ?? SERVE_TIMEOUT_MS} ms`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Drains and stops the named instances, or every ready instance serving `serving` — refused
   * (`CONFLICT`) while an alias of the model still sends requests to that version.
   */
  async retire(command: RetireInstancesCommand): Promise<RetireInstancesReply> {
    this.checkActor(command?.actor, 'retire');
    let ids: string[];
    if (command.serving) {
      const { model, version } = command.serving;
      const routing = this.aliases
        .aliasesOf(model)
        .filter((a) => a.version === version || (a.canary?.version === version && a.canary.share > 0));
      if (routing.length)
        throw new YunbianError(
          'CONFLICT',
          `retire ${model}@${version}: alias ${routing.map((a) => `${model}@${a.alias}`).join(', ')} still routes to it; move ${routing.length > 1 ? 'them' : 'it'} first`,
          { pointer: '/serving', aliases: routing.map((a) => a.alias) },
        );
      ids = this.serving(model, version).map((i) => i.id);
    } else if (Array.isArray(command.instances)) ids = command.instances;
    else
      throw new YunbianError(
        'BAD_REQUEST',
        'retire: needs "instances" (a list of instance ids) or "serving" ({"model", "version"})',
        { pointer: '/instances' },
      );
    const retired: string[] = [];
    for (const id of ids) {
      const known = this.catalog.listInstances().some((i) => i.id === id);
      if (!known) continue;
      await this.deployment.stop(id);
      retired.push(id);
    }
    this.logger.info('instances retired', { instances: retired, actor: command.actor, serving: command.serving });
    return { retired };
  }
}
