import { existsSync, readFileSync } from 'node:fs';
import {
  connect,
  createInbox,
  credsAuthenticator,
  headers as createHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { ErrorBody } from '@yunbian/contracts';
import { RemoteError, YunbianError } from './errors';
import { noTracePropagation, type NatsMessageInfo, type TraceHeaderPropagator } from './trace-headers';

/** Every request has a deadline; callers may shorten or lengthen it, never remove it. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Header marking a reply as a structured error (its body is an ErrorBody). */
export const ERROR_HEADER = 'Yb-Error';
/** Request header asking the responder to say how long it took (`requestTimed` sets it). */
export const TIMING_HEADER = 'Yb-Timing';
/**
 * Reply header to a request that carried `TIMING_HEADER`: milliseconds from the request's
 * arrival at the responder's callback to its reply being sent (decoding, the handler,
 * encoding), on the responder's clock. Only a duration crosses, so the clocks need not agree.
 */
export const HANDLER_MS_HEADER = 'Yb-Handler-Ms';

/** `nats://a:4222,nats://b:4222` (NATS_URL naming every server of a cluster) as a list; blanks dropped. */
export function natsServers(servers: string | string[]): string[] {
  return (Array.isArray(servers) ? servers : servers.split(','))
    .map((server) => server.trim())
    .filter((server) => server !== '');
}

export interface TransportOptions {
  /** One server, a list, or a comma-separated list (every server of a cluster: the client fails over between them). */
  servers: string | string[];
  /** Connection name shown by the NATS server's monitoring. */
  name: string;
  propagator?: TraceHeaderPropagator;
  /** Called on connection status changes (disconnect, reconnect…). */
  onStatus?: (status: string, detail?: string) => void;
  /**
   * The JetStream domain that holds Yunbian's state (KV, object stores), for processes
   * behind a NATS leaf node whose own JetStream is another domain: `hub` in
   * compose/nats/hub.conf. Unset: the JetStream of the server connected to.
   */
  jetStreamDomain?: string;
  /**
   * The prefix of this connection's inboxes (replies to its requests, JetStream deliveries):
   * `siteInboxPrefix(site)` for processes at an edge site, whose leaf connection does not
   * export it, so what the site's JetStream or services answer them never crosses to the hub.
   * Unset: `_INBOX`.
   */
  inboxPrefix?: string;
  /**
   * The connection's NATS credentials (the text of a `.creds` file: a user JWT and its nkey
   * seed). Unset: the file named by `YUNBIAN_NATS_CREDS`; neither: no credentials, which every
   * server Yunbian ships refuses.
   */
  credentials?: string;
}

export const NATS_CREDENTIALS_VARIABLE = 'YUNBIAN_NATS_CREDS';

/** The credentials `TransportOptions.credentials` defaults to: the file `YUNBIAN_NATS_CREDS` names. */
export function credentialsFromEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[NATS_CREDENTIALS_VARIABLE];
  if (!file) return undefined;
  if (!existsSync(file)) {
    throw new YunbianError(
      'BAD_REQUEST',
      `${NATS_CREDENTIALS_VARIABLE}=${file}: no such file. Point it at this process's NATS credentials (a .creds file: for a node, what enrolment gave it; see docs/security.md)`,
    );
  }
  return readFileSync(file, 'utf8');
}

export interface RequestOptions {
  timeoutMs?: number;
  headers?: Record<string, string>;
  /**
   * The value already serialised (`JSON.stringify(value)`), when the caller did that anyway
   * (the executor does, for its size check): it is sent as is instead of serialised again.
   */
  json?: string;
}

/** A reply with how the exchange went, timed on the requester's clock (`requestTimed`). */
export interface TimedReply<T> {
  value: T;
  /** The responder's own time (`HANDLER_MS_HEADER`); undefined when it did not say (an older responder). */
  handlerMs: number | undefined;
  /** Body bytes sent and received (headers and framing left out). */
  requestBytes: number;
  replyBytes: number;
  /** From just before the request was written to the connection to the reply's arrival, ms. */
  elapsedMs: number;
}

export interface ServeOptions {
  /** Queue group: one member answers each request. */
  queue?: string;
}

export interface IncomingRequest {
  subject: string;
  headers?: MsgHdrs;
}

export type RequestHandler<I, O> = (data: I, request: IncomingRequest) => Promise<O> | O;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(value: unknown, json?: string): Uint8Array {
  if (json !== undefined) return encoder.encode(json);
  return value === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(value));
}

function decode<T>(data: Uint8Array, subject: string): T {
  if (data.length === 0) return undefined as T;
  try {
    return JSON.parse(decoder.decode(data)) as T;
  } catch (err) {
    throw new YunbianError('BAD_REQUEST', `message on ${subject} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Yunbian's NATS layer: JSON messages, deadlines on every request, queue groups for
 * services, structured error replies, payload-size checks and a trace-header hook.
 * It reconnects forever: an edge node that loses its uplink keeps trying.
 */
interface PendingRequest {
  resolve: (msg: Msg) => void;
  reject: (err: YunbianError) => void;
  timer: NodeJS.Timeout;
}

export class NatsTransport {
  /** Replies to every request arrive on one wildcard subscription (no per-request inbox). */
  private inbox?: string;
  private readonly pending = new Map<string, PendingRequest>();
  private sequence = 0;

  private constructor(
    readonly connection: NatsConnection,
    private readonly propagator: TraceHeaderPropagator,
    readonly jetStreamDomain?: string,
    /** The prefix of this connection's inboxes (`TransportOptions.inboxPrefix`), else `_INBOX`. */
    readonly inboxPrefix?: string,
  ) {}

  /** A JetStream client in `jetStreamDomain` (for `new Kvm(…)` / `new Objm(…)`). */
  jetstream(): JetStreamClient {
    return jetstream(this.connection, this.jetStreamDomain ? { domain: this.jetStreamDomain } : {});
  }

  static async connect(options: TransportOptions): Promise<NatsTransport> {
    const credentials = options.credentials ?? credentialsFromEnvironment();
    const connection = await connect({
      servers: natsServers(options.servers),
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
      // The client would otherwise build an Error (with a stack) for every request, JetStream
      // publishes and KV writes included, in case it fails; ours say what failed themselves.
      noAsyncTraces: true,
      ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
      ...(credentials ? { authenticator: credsAuthenticator(new TextEncoder().encode(credentials)) } : {}),
    }).catch((err: Error) => {
      if (/authoriz|authentic|permission/i.test(err.message)) {
        throw new YunbianError(
          'UNAUTHENTICATED',
          `NATS at ${String(options.servers)} refused ${credentials ? 'these credentials' : 'a connection without credentials'}: ${err.message}. ` +
            `Set ${NATS_CREDENTIALS_VARIABLE} to a valid .creds file (a node gets its own by enrolment: POST /nodes/enrolments, then the agent's YUNBIAN_ENROLMENT_TOKEN); a revoked node's are refused for good`,
        );
      }
      throw new YunbianError(
        'UNAVAILABLE',
        `cannot connect to NATS at ${String(options.servers)}: ${err.message}. Is nats-server running (with -js) and NATS_URL right?`,
      );
    });
    const transport = new NatsTransport(
      connection,
      options.propagator ?? noTracePropagation,
      options.jetStreamDomain,
      options.inboxPrefix,
    );
    if (options.onStatus) {
      void (async () => {
        for await (const status of connection.status()) options.onStatus?.(status.type, JSON.stringify(status));
      })();
    }
    return transport;
  }

  /**
   * Calls `listener` when the connection to NATS is lost ('lost') and each time it is back
   * ('back'): replies sent to this process meanwhile are lost, so a caller waiting for some
   * asks again, and silence from others while it was away says nothing about them.
   */
  onConnection(listener: (state: 'lost' | 'back') => void): void {
    void (async () => {
      for await (const status of this.connection.status()) {
        if (status.type === 'disconnect') listener('lost');
        else if (status.type === 'reconnect') listener('back');
      }
    })();
  }

  /** Largest message the server accepts, from its INFO. */
  get maxPayload(): number {
    return this.connection.info?.max_payload ?? 1024 * 1024;
  }

  get isConnected(): boolean {
    return !this.connection.isClosed() && !this.connection.isDraining() && this.connection.info !== undefined;
  }

  /** Measures one round trip to the server. */
  async rtt(): Promise<number> {
    return this.connection.rtt();
  }

  private outgoing(subject: string, value: unknown, extra?: Record<string, string>, timed = false, json?: string) {
    const data = encode(value, json);
    this.assertSize(data.length, subject);
    const hdrs = createHeaders();
    // `append` on a fresh set: `set` would first look for (and delete) the key, a search of the
    // header names (and an array or two) per header, on every request.
    let added = 0;
    if (extra)
      for (const k in extra) {
        hdrs.append(k, extra[k]);
        added++;
      }
    if (timed && !(extra && TIMING_HEADER in extra)) {
      hdrs.append(TIMING_HEADER, '1');
      added++;
    }
    this.propagator.inject(hdrs);
    // A message without headers is cheaper to send and to parse.
    return { data, headers: added > 0 || hdrs.keys().length > 0 ? hdrs : undefined };
  }

  private assertSize(bytes: number, subject: string): void {
    // Headers and protocol framing take some room too; keep a small margin.
    const limit = this.maxPayload - 4096;
    if (bytes > limit) {
      throw new YunbianError(
        'PAYLOAD_TOO_LARGE',
        `message of ${bytes} bytes for ${subject} exceeds the NATS limit of ${limit} bytes (server max_payload ${this.maxPayload}); pass large data by object-store reference or raise max_payload`,
        { bytes, limit, subject },
      );
    }
  }

  publish(subject: string, value: unknown): void {
    this.sending({ subject, operation: 'publish' }, () => {
      const { data, headers } = this.outgoing(subject, value);
      this.connection.publish(subject, data, { headers });
    });
  }

  request<T>(subject: string, value: unknown, options: RequestOptions = {}): Promise<T> {
    return this.sending({ subject, operation: 'request' }, () => this.requestOnce<T>(subject, value, options));
  }

  /** Runs `send` inside the tracing library's send span, when it has one. */
  private sending<T>(message: NatsMessageInfo, send: () => T): T {
    return this.propagator.traceSend ? this.propagator.traceSend(message, send) : send();
  }

  /** Runs `handle` inside the context (and receive span) the message's headers carry. */
  private receiving<T>(msg: Msg, message: NatsMessageInfo, handle: () => T): T {
    return this.propagator.traceReceive
      ? this.propagator.traceReceive(msg.headers, message, handle)
      : this.propagator.extract(msg.headers, handle);
  }

  /**
   * `request`, with the figures a passive bandwidth estimate needs: bytes each way, the
   * elapsed time on this clock, and the responder's own time from its `HANDLER_MS_HEADER`.
   * A separate method so that the plain `request` (the hot path) allocates nothing more.
   */
  requestTimed<T>(subject: string, value: unknown, options: RequestOptions = {}): Promise<TimedReply<T>> {
    // The step calls of every engine come through here: no send-span wrapper (an object and a
    // closure) unless the propagator has one, and one promise for the exchange, not an async frame too.
    if (this.propagator.traceSend)
      return this.propagator.traceSend({ subject, operation: 'request' }, () =>
        this.requestTimedOnce<T>(subject, value, options),
      );
    return this.requestTimedOnce<T>(subject, value, options);
  }

  private requestTimedOnce<T>(subject: string, value: unknown, options: RequestOptions): Promise<TimedReply<T>> {
    let data: Uint8Array;
    let headers: MsgHdrs | undefined;
    try {
      ({ data, headers } = this.outgoing(subject, value, options.headers, true, options.json));
    } catch (err) {
      return Promise.reject(err as Error); // a promise's rejection, as from an async function
    }
    const started = performance.now();
    return this.exchange(subject, data, headers, options.timeoutMs).then((reply) => {
      const elapsedMs = performance.now() - started;
      const replyHeaders = reply.headers;
      const handler = replyHeaders ? Number(replyHeaders.get(HANDLER_MS_HEADER) || NaN) : NaN;
      return {
        value: this.replyValue<T>(reply, subject),
        handlerMs: Number.isFinite(handler) && handler >= 0 ? handler : undefined,
        requestBytes: data.length,
        replyBytes: reply.data.length,
        elapsedMs,
      };
    });
  }

  private async requestOnce<T>(subject: string, value: unknown, options: RequestOptions): Promise<T> {
    const { data, headers } = this.outgoing(subject, value, options.headers);
    return this.replyValue<T>(await this.exchange(subject, data, headers, options.timeoutMs), subject);
  }

  /**
   * A request whose body is encoded already (a JetStream publish: a KV write), answered with
   * the reply message as it came. Through the same multiplexed reply subscription as every
   * request, not the client's `request()` (which builds an Error, with a stack, for every
   * reply, even a successful one).
   */
  async requestRaw(
    subject: string,
    data: Uint8Array | string,
    options: { timeoutMs?: number; headers?: Record<string, string> } = {},
  ): Promise<Msg> {
    let headers: MsgHdrs | undefined;
    if (options.headers) {
      headers = createHeaders();
      for (const k in options.headers) headers.set(k, options.headers[k]);
    }
    const reply = await this.exchange(subject, data, headers, options.timeoutMs);
    if (reply.headers?.code === 503) {
      throw new YunbianError('NO_RESPONDERS', `nothing is listening on ${subject}`, { subject });
    }
    return reply;
  }

  private exchange(
    subject: string,
    data: Uint8Array | string,
    headers: MsgHdrs | undefined,
    timeoutMs?: number,
  ): Promise<Msg> {
    const timeout = timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<Msg>((resolve, reject) => {
      const id = (++this.sequence).toString(36);
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new YunbianError('TIMEOUT', `no reply on ${subject} within ${timeout} ms`, { subject, timeoutMs: timeout }),
        );
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.connection.publish(subject, data, { reply: `${this.replyInbox()}.${id}`, headers });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new YunbianError('UNAVAILABLE', `request on ${subject} failed: ${(err as Error).message}`, { subject }));
      }
    });
  }

  private replyValue<T>(reply: Msg, subject: string): T {
    // The server answers a request nobody listens to with a 503 status message.
    if (reply.headers?.code === 503) {
      throw new YunbianError('NO_RESPONDERS', `nothing is listening on ${subject}`, { subject });
    }
    if (reply.headers?.get(ERROR_HEADER)) {
      throw new RemoteError(decode<ErrorBody>(reply.data, subject), subject);
    }
    return decode<T>(reply.data, subject);
  }

  private replyInbox(): string {
    if (!this.inbox) {
      const prefix = createInbox(this.inboxPrefix);
      this.connection.subscribe(`${prefix}.*`, {
        callback: (err, msg) => {
          if (err) return;
          const id = msg.subject.slice(prefix.length + 1);
          const pending = this.pending.get(id);
          if (!pending) return; // late reply after its deadline
          this.pending.delete(id);
          clearTimeout(pending.timer);
          pending.resolve(msg);
        },
      });
      this.inbox = prefix;
    }
    return this.inbox;
  }

  /**
   * Answers requests on `subject`. The handler's result is the reply; a thrown error
   * becomes a structured error reply (YunbianError keeps its code; others are INTERNAL).
   */
  serve<I, O>(subject: string, handler: RequestHandler<I, O>, options: ServeOptions = {}): Subscription {
    return this.connection.subscribe(subject, {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) return;
        void this.answer(msg, handler, options.queue);
      },
    });
  }

  private async answer<I, O>(msg: Msg, handler: RequestHandler<I, O>, queue?: string): Promise<void> {
    // Timed from the callback (the message is in) to just before the reply goes out.
    const arrived = performance.now();
    let reply: Uint8Array;
    let failed = false;
    try {
      const message: NatsMessageInfo = {
        subject: msg.subject,
        operation: msg.reply ? 'request' : 'publish',
        queue,
        bodyBytes: msg.data.length,
      };
      // Decoding inside the receive span records a BAD_REQUEST there too.
      const result = await this.receiving(msg, message, () =>
        handler(decode<I>(msg.data, msg.subject), { subject: msg.subject, headers: msg.headers }),
      );
      reply = encode(result);
      this.assertSize(reply.length, `the reply to ${msg.subject}`);
    } catch (err) {
      failed = true;
      reply = encode(YunbianError.from(err).toBody());
    }
    if (!msg.reply) return;
    const hdrs = createHeaders();
    if (failed) hdrs.set(ERROR_HEADER, '1');
    this.propagator.inject(hdrs);
    if (msg.headers?.has(TIMING_HEADER)) hdrs.set(HANDLER_MS_HEADER, (performance.now() - arrived).toFixed(3));
    try {
      msg.respond(reply, { headers: hdrs.keys().length > 0 ? hdrs : undefined });
    } catch {
      // The connection closed under us; the caller's deadline reports it.
    }
  }

  /** Receives published events; a handler that throws is logged by the caller's onError. */
  subscribe<T>(
    subject: string,
    handler: (data: T, subject: string) => void | Promise<void>,
    onError: (err: unknown, subject: string) => void = () => undefined,
  ): Subscription {
    return this.connection.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return onError(err, subject);
        try {
          const data = decode<T>(msg.data, msg.subject);
          const message: NatsMessageInfo = { subject: msg.subject, operation: 'publish', bodyBytes: msg.data.length };
          void Promise.resolve(this.receiving(msg, message, () => handler(data, msg.subject))).catch((e) =>
            onError(e, msg.subject),
          );
        } catch (e) {
          onError(e, msg.subject);
        }
      },
    });
  }

  async flush(): Promise<void> {
    await this.connection.flush();
  }

  /** Lets in-flight handlers answer, then closes. */
  async drain(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }

  async close(): Promise<void> {
    this.failPending();
    if (!this.connection.isClosed()) await this.connection.close();
  }

  private failPending(): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new YunbianError('UNAVAILABLE', 'the NATS connection closed before the reply came'));
      this.pending.delete(id);
    }
  }
}
