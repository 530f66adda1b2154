import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import semver from 'semver';
import { JsonLogger } from '@yunbian/common';
import {
  serviceRef,
  Subjects,
  type InstanceOwner,
  type InstanceRecord,
  type InstanceReport,
  type InstanceResources,
  type ServiceDescriptor,
  type StartInstanceCommand,
  type StopInstanceCommand,
} from '@yunbian/contracts';
import { assertInstanceModel } from '@yunbian/models';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { CatalogService } from './catalog.service';
import { checkAdmission, reservationOf } from './instance-admission';

export interface StartInstanceRequest {
  /** `name@version`, `name@range` or `name` (latest version). */
  service: string;
  nodeId: string;
  config?: Record<string, unknown>;
  /** CPU share and memory cap of the instance, reserved on its node and enforced by its agent. */
  resources?: InstanceResources;
  /** Set by deployments and plans for what they start (never by POST /instances). */
  owner?: InstanceOwner;
}

const AGENT_TIMEOUT_MS = 5_000;

/** Starts and stops instances on nodes through their agents, after checking they fit. */
@Injectable()
export class DeploymentService {
  private readonly logger = new JsonLogger('deployment');

  constructor(
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(NatsTransport) private readonly transport: NatsTransport,
  ) {}

  /** Resolves `name@range` to the newest catalogued version satisfying it. */
  resolveService(spec: string): ServiceDescriptor {
    const at = spec.indexOf('@');
    const name = at < 0 ? spec : spec.slice(0, at);
    const range = at < 0 ? '*' : spec.slice(at + 1);
    const versions = this.catalog.serviceVersions(name);
    if (versions.length === 0) {
      const known = this.catalog.listServices().map(serviceRef);
      throw new YunbianError(
        'NOT_FOUND',
        `unknown service "${name}"; the catalogue has: ${known.join(', ') || 'no services (no node has joined yet)'}`,
        { pointer: '/service', known },
      );
    }
    if (!semver.validRange(range)) {
      throw new YunbianError('BAD_REQUEST', `"${range}" is not a semver version or range (try 1.0.0 or ^1)`, {
        pointer: '/service',
      });
    }
    const best = semver.maxSatisfying(
      versions.map((v) => v.version),
      range,
    );
    if (!best) {
      throw new YunbianError(
        'NOT_FOUND',
        `no version of ${name} satisfies "${range}"; catalogued versions: ${versions.map((v) => v.version).join(', ')}`,
        { pointer: '/service' },
      );
    }
    return versions.find((v) => v.version === best)!;
  }

  async start(request: StartInstanceRequest): Promise<InstanceRecord> {
    this.catalog.assertAuthority('start instances');
    const service = this.resolveService(request.service);
    // Checked now: an unregistered model would only fail in the worker, restart after restart.
    await assertInstanceModel(this.transport, request.config, '/config/model');
    const node = this.catalog.node(request.nodeId);
    const onNode = this.catalog.listInstances({ nodeId: node.id });
    const problems = checkAdmission(
      node,
      service,
      onNode,
      (i) => reservationOf(i, this.catalog.serviceDescriptor(`${i.service}@${i.version}`)),
      request.resources,
    );
    if (problems.length) {
      const [first] = problems;
      throw new YunbianError(first.code, problems.map((p) => p.message).join('; '), { problems });
    }
    const command: StartInstanceCommand = {
      instanceId: `${service.name}-${randomBytes(4).toString('hex')}`,
      service: service.name,
      version: service.version,
      config: request.config,
      resources: request.resources,
      ...(request.owner ? { owner: request.owner } : {}),
    };
    const report = await this.askAgent<InstanceReport>(node.id, Subjects.nodeStartInstance(node.id), command);
    this.logger.info('instance starting', { instance_id: report.id, node_id: node.id, service: serviceRef(service) });
    return this.catalog.upsertInstance(node.id, report);
  }

  async stop(instanceId: string, drainTimeoutMs?: number): Promise<InstanceRecord> {
    this.catalog.assertAuthority('stop instances');
    const instance = this.catalog.instance(instanceId);
    const node = this.catalog.node(instance.nodeId);
    if (node.status === 'dead') {
      // Nothing is left to drain on a dead node; forget the instance.
      this.catalog.removeInstance(instanceId);
      return { ...instance, status: 'failed', lastError: `removed: node ${node.id} is dead` };
    }
    const command: StopInstanceCommand = { instanceId, drainTimeoutMs };
    await this.askAgent(node.id, Subjects.nodeStopInstance(node.id), command);
    this.catalog.markInstance(instanceId, 'draining');
    // An idle instance in a shared worker drains in a moment: its removal may already be in.
    return (
      this.catalog.listInstances({ nodeId: node.id }).find((i) => i.id === instanceId) ?? {
        ...instance,
        status: 'draining',
      }
    );
  }

  /** New settings for a running instance (a hot model swap, say), applied by the instance itself. */
  async configure(instanceId: string, config: Record<string, unknown>): Promise<unknown> {
    this.catalog.assertAuthority('configure instances');
    const instance = this.catalog.instance(instanceId);
    if (instance.status !== 'ready') {
      throw new YunbianError(
        'CONFLICT',
        `instance ${instanceId} is ${instance.status}; only ready instances take new settings`,
      );
    }
    await assertInstanceModel(this.transport, config, '/config/model');
    // Loading and warming up a model can take a while; the instance keeps serving meanwhile.
    const result = await this.transport.request(
      Subjects.instanceControl(instanceId),
      { config },
      { timeoutMs: 180_000 },
    );
    this.logger.info('instance reconfigured', { instance_id: instanceId, result });
    return result;
  }

  private async askAgent<T>(nodeId: string, subject: string, command: unknown): Promise<T> {
    try {
      return await this.transport.request<T>(subject, command, { timeoutMs: AGENT_TIMEOUT_MS });
    } catch (err) {
      const e = YunbianError.from(err);
      if (e.code === 'NO_RESPONDERS' || e.code === 'TIMEOUT') {
        throw new YunbianError('UNAVAILABLE', `the agent of node ${nodeId} did not answer (${e.message})`, {
          node: nodeId,
        });
      }
      throw e;
    }
  }
}
