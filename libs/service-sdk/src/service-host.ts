import type { Subscription } from '@nats-io/transport-node';
import type { ValidateFunction } from 'ajv';
import { createAjv, formatIssues, schemaIssues, WindowedMean } from '@yunbian/common';
import {
  PAYLOAD_DOMAIN_HEADER,
  serviceRef,
  Subjects,
  type ServedModel,
  type ServiceDescriptor,
  type StoredOutcome,
} from '@yunbian/contracts';
import { NatsTransport, YunbianError, type IncomingRequest, type PayloadStore } from '@yunbian/transport';
import { ResultCache } from './result-cache';
import type { CallContext, ServiceHandler } from './service.decorator';

export const IDEMPOTENCY_HEADER = 'Yb-Idempotency-Key';

export interface HostOptions {
  instanceId: string;
  nodeId: string;
  config?: Record<string, unknown>;
  /** Requests allowed to wait beyond `concurrency` before callers get OVERLOADED. */
  maxQueue?: number;
  /** Resolves large inputs and offloads large outputs; without it they must fit in a message. */
  payloads?: PayloadStore;
  /** Called whenever in-flight or queued counts change (`load` has the request times too). */
  onLoad?: (load: { inFlight: number; queued: number }) => void;
  /**
   * How long the outcome of each idempotency key is kept, ms (`YUNBIAN_IDEMPOTENCY_WINDOW_MS`,
   * default 10 min): a request repeating a key within it gets the same reply (value or error)
   * without the handler running again; one arriving while the first runs waits for it.
   */
  idempotencyWindowMs?: number;
  /** Keys kept at most (the oldest finished ones go first beyond it; default 10,000). */
  idempotencyEntries?: number;
  /** Bytes of kept replies (their JSON) at most, likewise (default 32 MiB). */
  idempotencyBytes?: number;
  /**
   * Where outcomes are kept beyond this process (the `yb-outcomes` bucket), for a service
   * that declares `durableResults`; ignored for the others.
   */
  outcomes?: OutcomeKeeper;
}

/**
 * The durable side of the result cache (`DomainOutcomeStores` in @yunbian/transport):
 * `domain` is the calling engine's JetStream domain (its `Yb-Payload-Domain` header; a site
 * engine's), where its outcomes are kept; absent, the worker's own.
 */
export interface OutcomeKeeper {
  get(idempotencyKey: string, domain?: string): Promise<StoredOutcome | undefined>;
  put(idempotencyKey: string, outcome: StoredOutcome, domain?: string): Promise<unknown>;
}

/** What an instance reports of its load (the agent passes it on in heartbeats). */
export interface InstanceLoad {
  inFlight: number;
  queued: number;
  /** Mean request time over the last 10 s, arrival to reply (queue wait included), ms; absent when idle that long. */
  latencyMs?: number;
}

/** Request times are averaged over this window: long enough to smooth, short enough for autoscaling to follow. */
const LATENCY_WINDOW_MS = 10_000;

/**
 * Runs one service instance on NATS: a queue-group subscription shared by all instances
 * of `name@version` plus a subject pinned to this instance; schema-checked input; a
 * concurrency limit with a bounded queue; graceful drain.
 */
export class ServiceHost {
  private subscriptions: Subscription[] = [];
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly validateInput: ValidateFunction;
  private readonly maxQueue: number;
  private readonly latency = new WindowedMean(LATENCY_WINDOW_MS);
  private readonly results: ResultCache;
  /** Requests answered from `results` without running the handler (a repeated key). */
  repeatsAnswered = 0;

  constructor(
    private readonly transport: NatsTransport,
    readonly descriptor: ServiceDescriptor,
    private readonly handler: ServiceHandler,
    private readonly options: HostOptions,
  ) {
    this.validateInput = createAjv().compile(descriptor.input);
    this.maxQueue = options.maxQueue ?? descriptor.concurrency * 64;
    this.results = new ResultCache({
      windowMs: options.idempotencyWindowMs,
      maxEntries: options.idempotencyEntries,
      maxBytes: options.idempotencyBytes,
    });
  }

  get load(): InstanceLoad {
    const latencyMs = this.latency.value();
    const load: InstanceLoad = { inFlight: this.inFlight, queued: this.waiting.length };
    if (latencyMs !== undefined) load.latencyMs = Math.round(latencyMs * 10) / 10;
    return load;
  }

  /** The registered model version the instance serves now (after a hot swap, the new one), if any. */
  get model(): ServedModel | undefined {
    return this.handler.servedModel?.();
  }

  get subjects(): { service: string; instance: string } {
    return {
      service: Subjects.service(this.descriptor.name, this.descriptor.version),
      instance: Subjects.instance(this.options.instanceId),
    };
  }

  async start(): Promise<void> {
    const { service, instance } = this.subjects;
    const handle = (input: unknown, request: IncomingRequest) => this.call(input, request);
    this.subscriptions = [
      this.transport.serve(service, handle, { queue: service }),
      this.transport.serve(instance, handle),
      this.transport.serve<{ config?: Record<string, unknown> }, unknown>(
        Subjects.instanceControl(this.options.instanceId),
        (command) => this.reconfigure(command?.config ?? {}),
      ),
    ];
    // Make sure the server has our interest before we report ready.
    await this.transport.flush();
  }

  private async reconfigure(config: Record<string, unknown>): Promise<unknown> {
    if (!this.handler.reconfigure) {
      throw new YunbianError(
        'BAD_REQUEST',
        `${serviceRef(this.descriptor)} cannot change its settings while running; start a new instance`,
      );
    }
    const result = await this.handler.reconfigure(config);
    this.options.config = { ...this.options.config, ...config };
    return result;
  }

  /**
   * A request with an idempotency key runs once within the window: the engine re-requests
   * an attempt whose reply it did not get (a NATS reconnect, its own restart) with the same
   * key, and gets the first execution's reply. A refusal before the handler ran (OVERLOADED)
   * is not kept: the same key may run once there is room.
   */
  private call(raw: unknown, request: IncomingRequest): Promise<unknown> {
    const key = request.headers?.get(IDEMPOTENCY_HEADER) || undefined;
    if (key === undefined) return this.execute(raw, request);
    const outcomes = this.descriptor.durableResults ? this.options.outcomes : undefined;
    const { outcome, executed } = this.results.run(key, () =>
      outcomes ? this.executeDurably(key, outcomes, raw, request) : this.execute(raw, request),
    );
    if (!executed) {
      this.repeatsAnswered++;
      return outcome;
    }
    return outcome.catch((err: unknown) => {
      if (err instanceof YunbianError && err.code === 'OVERLOADED') this.results.forget(key);
      throw err;
    });
  }

  /**
   * `execute`, for a service that declares `durableResults`: a key kept in the bucket (run
   * by an earlier worker, or another instance) is answered from it; otherwise the outcome is
   * written there before the reply goes. A store that cannot be reached does not stop the
   * request: it runs, and its outcome is kept in memory only.
   */
  private async executeDurably(
    key: string,
    outcomes: OutcomeKeeper,
    raw: unknown,
    request: IncomingRequest,
  ): Promise<unknown> {
    // Where the calling engine reads them after a restart: its own domain (a site engine's is at the site).
    const domain = request.headers?.get(PAYLOAD_DOMAIN_HEADER) || undefined;
    const kept = await outcomes.get(key, domain).catch(() => undefined);
    if (kept) {
      this.repeatsAnswered++;
      if (kept.ok) return kept.output;
      throw new YunbianError(kept.error.code, kept.error.message, kept.error.details);
    }
    let stored: StoredOutcome;
    let failure: unknown;
    try {
      stored = { ok: true, output: await this.execute(raw, request) };
    } catch (err) {
      const error = YunbianError.from(err);
      if (error.code === 'OVERLOADED') throw err; // refused before it ran: nothing to keep
      stored = { ok: false, error: error.toBody() };
      failure = err;
    }
    await outcomes.put(key, stored, domain).catch(() => undefined);
    if (stored.ok) return stored.output;
    throw failure;
  }

  private async execute(raw: unknown, request: IncomingRequest): Promise<unknown> {
    const arrived = performance.now();
    const payloads = this.options.payloads;
    const input = payloads ? await payloads.resolveDeep(raw) : raw;
    if (!this.validateInput(input)) {
      const issues = schemaIssues(this.validateInput, input);
      throw new YunbianError(
        'VALIDATION_FAILED',
        `input to ${serviceRef(this.descriptor)} does not match its schema: ${formatIssues(issues)}`,
        { issues, schema: this.descriptor.input },
      );
    }
    await this.acquire();
    try {
      const context: CallContext = {
        instanceId: this.options.instanceId,
        nodeId: this.options.nodeId,
        idempotencyKey: request.headers?.get(IDEMPOTENCY_HEADER) || undefined,
        headers: request.headers,
        config: this.options.config ?? {},
      };
      const output = await this.handler.handle(input, context);
      if (!payloads) return output;
      const name = `${context.idempotencyKey ?? `${this.options.instanceId}.${Date.now()}.${Math.random().toString(36).slice(2)}`}.out`;
      return await (await this.outputStore(payloads, request)).offloadFields(output, name);
    } finally {
      this.latency.add(performance.now() - arrived);
      this.release();
    }
  }

  /**
   * Where large outputs go: the domain the calling engine names (a site engine's, so a site
   * run's data stays at the site), else this worker's own store — also when that domain
   * cannot be reached from here (the output then still arrives, through the default store).
   */
  private async outputStore(payloads: PayloadStore, request: IncomingRequest): Promise<PayloadStore> {
    const domain = request.headers?.get(PAYLOAD_DOMAIN_HEADER);
    if (!domain) return payloads;
    return payloads.inDomain(domain).catch(() => payloads);
  }

  private async acquire(): Promise<void> {
    if (this.inFlight < this.descriptor.concurrency) {
      this.inFlight++;
      this.reportLoad();
      return;
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new YunbianError(
        'OVERLOADED',
        `instance ${this.options.instanceId} of ${serviceRef(this.descriptor)} is overloaded: ${this.inFlight} running and ${this.waiting.length} queued (limit ${this.maxQueue}); retry later or start more instances`,
      );
    }
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.reportLoad(); // the queue grew: callers of onLoad see it now, not at the next change
    });
    this.inFlight++;
    this.reportLoad();
  }

  private release(): void {
    this.inFlight--;
    const next = this.waiting.shift();
    if (next) next();
    this.reportLoad();
    if (this.inFlight === 0 && this.waiting.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private reportLoad(): void {
    this.options.onLoad?.({ inFlight: this.inFlight, queued: this.waiting.length });
  }

  /**
   * Stops taking new requests (other instances in the queue group get them), then waits
   * for the running and queued ones to finish, up to `timeoutMs`. Resolves true when all
   * finished in time.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    await Promise.all(this.subscriptions.map((s) => s.drain().catch(() => undefined)));
    this.subscriptions = [];
    if (this.inFlight === 0 && this.waiting.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return finished;
  }
}
