import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import type { Subscription } from '@nats-io/transport-node';
import { CatalogView, followCatalog } from '@yunbian/catalog';
import { waitUntil } from '@yunbian/common';
import { Subjects, YunbianError, type RunWorkflowCommand } from '@yunbian/contracts';
import { NatsTracePropagator } from '@yunbian/observability';
import { NatsTransport } from '@yunbian/transport';
import type { YunbianConnectionOptions } from './options';
import { chooseServiceVersion, parseClientPattern } from './patterns';

export interface YunbianClientProxyOptions {
  connection: YunbianConnectionOptions;
  /** Deadline of a service call (ms, default 30,000). */
  requestTimeoutMs?: number;
  /** How long `send('workflow:…')` waits for the run to end (ms, default 60,000; the orchestrator's limit is 300,000). */
  workflowWaitMs?: number;
  /** How long a call waits for the catalogue to list a ready version of its service (ms, default 5,000). */
  resolveTimeoutMs?: number;
  /** Durability of the runs it starts (default: the workflow's own). */
  durability?: RunWorkflowCommand['durability'];
}

/** What the orchestrator answers on `yb.cmd.workflows.run`: the run's summary and its output. */
interface RunReply {
  id: string;
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  error?: { code: YunbianError['code']; message: string };
  output?: unknown;
}

/**
 * A NestJS client for Yunbian: `send(pattern, data)` calls a service or runs a workflow.
 *
 * - `'workflow:<name>'` (or `'workflow:<name>@<version>'`): starts a run through the
 *   orchestrator (`yb.cmd.workflows.run`) and emits the run's output once it succeeded; a
 *   failed or cancelled run errors with the run's error (`details.runId`), one still running
 *   after `workflowWaitMs` with TIMEOUT naming the run.
 * - `'<service>@<range>'`, `'<service>'` (the newest version), `'<app>.<pattern>'` (an
 *   operation a `YunbianServer` serves): a request to the newest ready version in range, on
 *   its queue group (one instance answers), as a workflow step would be sent.
 *
 * Errors are `YunbianError`s with the code the service answered (VALIDATION_FAILED with its
 * pointers, OVERLOADED, NO_RESPONDERS…). `emit('workflow:<name>', input)` starts a run and
 * emits its id without waiting; services answer requests only, so `emit` to one is refused.
 */
export class YunbianClientProxy extends ClientProxy {
  private transport?: NatsTransport;
  private connecting?: Promise<NatsTransport>;
  private readonly view = new CatalogView();
  private subscriptions: Subscription[] = [];
  private sweep?: NodeJS.Timeout;

  constructor(private readonly options: YunbianClientProxyOptions) {
    super();
    if (!options?.connection || options.connection.servers === undefined)
      throw new Error(
        'YunbianClientProxy: connection.servers is required (for example { servers: "nats://127.0.0.1:4222" })',
      );
  }

  /** Connects once (Nest calls this before every send); follows the catalogue to resolve service versions. */
  connect(): Promise<NatsTransport> {
    this.connecting ??= (async () => {
      const { connection } = this.options;
      const transport = await NatsTransport.connect({
        ...connection,
        name: connection.name ?? 'nest client',
        propagator: new NatsTracePropagator(),
      });
      this.subscriptions = await followCatalog(transport, this.view);
      this.sweep = setInterval(() => this.view.sweep(), 250).unref();
      this.transport = transport;
      this._status$.next('connected');
      return transport;
    })().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
    const transport = this.transport;
    this.transport = undefined;
    this.connecting = undefined;
    await transport?.close();
    this._status$.next('disconnected');
  }

  unwrap<T>(): T {
    if (!this.transport) throw new Error('YunbianClientProxy is not connected yet: call connect() or send() first');
    return this.transport as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    let cancelled = false;
    const pattern = this.normalizePattern(packet.pattern);
    this.dispatch(pattern, packet.data).then(
      (response) => !cancelled && callback({ response: response ?? null, isDisposed: true }),
      (err: unknown) => !cancelled && callback({ err: YunbianError.from(err) }),
    );
    // Unsubscribing stops nothing already sent: the run goes on and the service answers into the void.
    return () => (cancelled = true);
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    const target = parseClientPattern(this.normalizePattern(packet.pattern));
    if (target.kind !== 'workflow') {
      throw new YunbianError(
        'BAD_REQUEST',
        `emit("${String(packet.pattern)}"): services answer requests; use send() for a service, emit() only starts workflows`,
      );
    }
    const reply = await this.startRun(target.workflow, target.version, packet.data, 0);
    return { id: reply.id, status: reply.status } as T;
  }

  private async dispatch(pattern: string, data: unknown): Promise<unknown> {
    const target = parseClientPattern(pattern);
    if (target.kind === 'workflow') {
      const waitMs = this.options.workflowWaitMs ?? 60_000;
      const run = await this.startRun(target.workflow, target.version, data, waitMs);
      if (run.status === 'succeeded') return run.output;
      if (run.status === 'running') {
        throw new YunbianError(
          'TIMEOUT',
          `run ${run.id} of workflow ${target.workflow} was still running after ${waitMs} ms (workflowWaitMs); it goes on: GET /runs/${run.id}`,
          { runId: run.id },
        );
      }
      const error = run.error ?? { code: 'INTERNAL' as const, message: 'no error recorded' };
      throw new YunbianError(
        error.code,
        `run ${run.id} of workflow ${target.workflow} ${run.status}: ${error.message}`,
        {
          runId: run.id,
          status: run.status,
        },
      );
    }
    const transport = await this.connect();
    const version = await this.resolve(target.service, target.range);
    return transport.request(Subjects.service(target.service, version), data, {
      timeoutMs: this.options.requestTimeoutMs ?? 30_000,
    });
  }

  private async startRun(workflow: string, version: number | undefined, input: unknown, waitMs: number) {
    const transport = await this.connect();
    const command: RunWorkflowCommand = {
      workflow,
      input,
      waitMs,
      ...(version !== undefined ? { version } : {}),
      ...(this.options.durability ? { durability: this.options.durability } : {}),
    };
    // The orchestrator answers once the run ended or waitMs passed; the deadline leaves it time to say so.
    return transport.request<RunReply>(Subjects.workflowRun, command, { timeoutMs: waitMs + 10_000 });
  }

  /** The newest version of `service` in `range` with a ready instance, waiting for the catalogue a little. */
  private async resolve(service: string, range: string): Promise<string> {
    const candidates = () =>
      this.view.serviceVersions(service).map((d) => ({
        version: d.version,
        readyInstances: this.view
          .instancesOfService(service)
          .filter((i) => i.version === d.version && i.status === 'ready').length,
      }));
    const ready = () => {
      const version = chooseServiceVersion(candidates(), range);
      return version !== undefined && candidates().some((c) => c.version === version && c.readyInstances > 0)
        ? version
        : undefined;
    };
    const timeoutMs = this.options.resolveTimeoutMs ?? 5_000;
    try {
      return await waitUntil(async () => ready(), timeoutMs, `${service}@${range}`, 25);
    } catch {
      const version = chooseServiceVersion(candidates(), range);
      if (version) return version; // catalogued but not ready: the request says what is wrong
      const known = this.view.serviceVersions(service).map((d) => d.version);
      throw new YunbianError(
        'NOT_FOUND',
        known.length
          ? `no version of ${service} satisfies "${range}" (catalogued: ${known.join(', ')})`
          : `no service ${service} in the catalogue after ${timeoutMs} ms (GET /services lists them; a NestJS app's "<app>.<pattern>" is the service <app>-<pattern>)`,
      );
    }
  }
}
