import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { JsonLogger } from '@yunbian/common';
import { Subjects, YunbianError, type InstanceReport, type StartInstanceCommand } from '@yunbian/contracts';
import { NatsTracePropagator } from '@yunbian/observability';
import { ServiceHost, type CallContext, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport, PayloadStore } from '@yunbian/transport';
// The agent's node runtime (announce, heartbeat with load, RTT probes, leaving): a Nest app
// serving operations is a node of its own, so it speaks for itself exactly as an agent does.
import { NodeAgent, type InstanceHost } from '../../../apps/agent/src/node-agent';
import { YunbianContext } from './context';
import { planServer, type PlannedOperation, type ServerPlan, type YunbianServerOptions } from './options';
import { errorFromHandler } from './patterns';

interface Running {
  operation: PlannedOperation;
  host: ServiceHost;
  startedAt: string;
  status: 'ready' | 'draining';
}

/**
 * A NestJS transport strategy that makes the app's `@MessagePattern` handlers Yunbian
 * services: each pattern is the catalogue's service `<service>-<pattern>@<version>` (schemas
 * from the options) with one instance in this process, served by the SDK's `ServiceHost`
 * (schema-checked input, concurrency with a bounded queue, idempotency keys, large payloads
 * by reference, drain) and announced by the agent's `NodeAgent` as a node of its own
 * (heartbeats with each instance's load, round trips for placement). Trace context arrives
 * in the request headers and the handler runs inside it.
 *
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new YunbianServer({ connection: { servers }, service: 'thumbs', version: '1.0.0' }),
 * });
 * await app.listen();
 * ```
 */
export class YunbianServer extends Server implements CustomTransportStrategy {
  private transport?: NatsTransport;
  private agent?: NodeAgent;
  private running: Running[] = [];
  private plan?: ServerPlan;
  private readonly log = new JsonLogger('nest-transport');

  constructor(private readonly options: YunbianServerOptions) {
    super();
  }

  /** What the server announces (after `listen`): its node and one operation per pattern. */
  get served(): ServerPlan | undefined {
    return this.plan;
  }

  async listen(callback: (...optionalParams: unknown[]) => void): Promise<void> {
    try {
      await this.start();
      this._status$.next('connected');
      callback();
    } catch (err) {
      callback(err);
    }
  }

  private async start(): Promise<void> {
    const requestPatterns = [...this.messageHandlers.entries()].filter(([, h]) => !h.isEventHandler).map(([p]) => p);
    for (const [pattern, handler] of this.messageHandlers)
      if (handler.isEventHandler)
        this.log.warn('event handler not served (only @MessagePattern handlers are)', { pattern });
    const plan = planServer(this.options, requestPatterns);
    const { connection } = this.options;
    const transport = await NatsTransport.connect({
      ...connection,
      name: connection.name ?? `nest ${this.options.service}@${this.options.version} ${plan.node.id}`,
      propagator: new NatsTracePropagator(),
    });
    try {
      const payloads = await PayloadStore.open(transport);
      for (const operation of plan.operations) {
        const handler = this.messageHandlers.get(operation.pattern)!;
        const host = new ServiceHost(transport, operation.descriptor, this.adapt(operation, handler), {
          instanceId: operation.instanceId,
          nodeId: plan.node.id,
          payloads,
        });
        await host.start();
        this.running.push({ operation, host, startedAt: new Date().toISOString(), status: 'ready' });
      }
      this.agent = new NodeAgent(
        transport,
        plan.node,
        plan.operations.map((o) => o.descriptor),
        this.instanceHost(),
        { heartbeatIntervalMs: plan.heartbeatMs, logger: this.log },
      );
      await this.agent.start();
    } catch (err) {
      await Promise.all(this.running.map((r) => r.host.drain(0)));
      this.running = [];
      await transport.close();
      throw err;
    }
    this.transport = transport;
    this.plan = plan;
    this.log.info('serving', {
      node_id: plan.node.id,
      services: plan.operations.map((o) => `${o.descriptor.name}@${o.descriptor.version}`),
    });
  }

  /** The SDK's handler interface over a Nest handler (its pipes, guards, interceptors and filters apply). */
  private adapt(operation: PlannedOperation, handler: MessageHandler): ServiceHandler {
    const where = `${operation.descriptor.name}@${operation.descriptor.version} (@MessagePattern('${operation.pattern}'))`;
    return {
      handle: async (input: unknown, call: CallContext) => {
        try {
          const result = this.transformToObservable(
            await handler(input, new YunbianContext([operation.pattern, call])),
          );
          // A stream answers with its last value, as Nest's own request-reply transports do.
          return await lastValueFrom(result, { defaultValue: undefined });
        } catch (err) {
          throw errorFromHandler(err, where);
        }
      },
    };
  }

  /** The agent's view of the instances: the app's operations, started with it and stopped with it. */
  private instanceHost(): InstanceHost {
    const reports = (): InstanceReport[] => {
      const memoryMb = Math.round(process.memoryUsage().rss / 1024 / 1024 / Math.max(1, this.running.length));
      return this.running.map((r) => ({
        id: r.operation.instanceId,
        service: r.operation.descriptor.name,
        version: r.operation.descriptor.version,
        status: r.status,
        subject: Subjects.instance(r.operation.instanceId),
        pid: process.pid,
        ...r.host.load,
        restarts: 0,
        startedAt: r.startedAt,
        memoryMb,
        isolation: 'shared',
      }));
    };
    const stopOne = async (r: Running, timeoutMs: number) => {
      r.status = 'draining';
      await r.host.drain(timeoutMs);
      this.running = this.running.filter((x) => x !== r);
    };
    const nodeId = () => this.plan?.node.id ?? 'this node';
    return {
      start: (command: StartInstanceCommand): InstanceReport => {
        throw new YunbianError(
          'UNAVAILABLE',
          `node ${nodeId()} is a NestJS app: its instances are its @MessagePattern handlers, started with the app; ` +
            `to serve ${command.service}@${command.version} on more nodes, run more replicas of the app`,
        );
      },
      stop: async (instanceId, drainTimeoutMs) => {
        const r = this.running.find((x) => x.operation.instanceId === instanceId);
        if (!r) throw new YunbianError('NOT_FOUND', `node ${nodeId()} has no instance ${instanceId}`);
        const report = reports().find((x) => x.id === instanceId)!;
        await stopOne(r, drainTimeoutMs ?? this.plan?.drainTimeoutMs ?? 10_000);
        this.agent?.instanceChanged({ ...report, status: 'draining' }, true);
      },
      stopAll: async (drainTimeoutMs) => {
        await Promise.all(this.running.map((r) => stopOne(r, drainTimeoutMs ?? this.plan?.drainTimeoutMs ?? 10_000)));
      },
      reports,
    };
  }

  /** Drains every operation (running requests finish), says the node is leaving, and disconnects. */
  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    if (agent) await agent.stop('the NestJS app is closing', this.plan?.drainTimeoutMs);
    await this.transport?.drain().catch(() => undefined);
    this.transport = undefined;
    this._status$.next('disconnected');
  }

  /** The NATS connection (once listening). */
  unwrap<T>(): T {
    if (!this.transport) throw new Error('YunbianServer is not listening yet: call app.listen() first');
    return this.transport as T;
  }

  on(): never {
    throw new Error('YunbianServer has no events to listen to; its status is in `status`');
  }
}
