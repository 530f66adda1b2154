import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';
import { SUBJECT_ROOT } from '@yunbian/contracts';
import type { TraceHeaderPropagator } from '@yunbian/transport';
import { MessagingAttributes, subjectTemplate } from './attributes';
import { recordFailure, yunbianTracer } from './spans';
import { isTracingEnabled } from './tracing';

/** One message as the transport sends or receives it, described for its span. */
export interface NatsMessageInfo {
  subject: string;
  /** `request` expects a reply; `publish` is an event nobody answers. */
  operation: 'request' | 'publish';
  /** Queue group of the subscription that received the message. */
  queue?: string;
  /** Size of the body in bytes. */
  bodyBytes?: number;
}

/**
 * The transport hook plus the two span wrappers NatsTransport calls once its interface has
 * them (see docs/observability.md): `traceSend` around each publish or request, and
 * `traceReceive` around each handler.
 */
export interface TracingTraceHeaderPropagator extends TraceHeaderPropagator {
  traceSend<T>(message: NatsMessageInfo, send: () => T): T;
  traceReceive<T>(headers: MsgHdrs | undefined, message: NatsMessageInfo, handle: () => T): T;
}

export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set: (headers, key, value) => headers.set(key, value),
};

/** NATS header names are case-sensitive; other clients may send `Traceparent`, so match loosely. */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (headers) => headers?.keys() ?? [],
  get: (headers, key) => {
    if (!headers?.has(key, 'insensitive')) return undefined;
    return headers.get(key, 'insensitive');
  },
};

export interface NatsTracePropagatorOptions {
  /**
   * Whether a message sent or received outside any trace starts a new one. By default calls
   * to services and instances do; control traffic (heartbeats, RTT probes, announcements)
   * is traced only as part of an existing trace, so it does not bury runs in Jaeger.
   */
  startsTrace?: (message: NatsMessageInfo) => boolean;
}

const SERVICE_CALL = new RegExp(`^${SUBJECT_ROOT}\\.(svc|inst)\\.`);

export function isServiceCall(message: NatsMessageInfo): boolean {
  return SERVICE_CALL.test(message.subject);
}

/**
 * Carries W3C trace context (`traceparent`, `tracestate`) in NATS message headers through
 * the globally registered OpenTelemetry propagator, and creates the messaging spans: a
 * PRODUCER "send" span around each outgoing message whose context rides in its headers, and
 * a CONSUMER "process" span around each handler, child of the sender's span. With tracing
 * off every call falls through to the OpenTelemetry no-op API.
 */
export class NatsTracePropagator implements TracingTraceHeaderPropagator {
  private readonly startsTrace: (message: NatsMessageInfo) => boolean;

  constructor(options: NatsTracePropagatorOptions = {}) {
    this.startsTrace = options.startsTrace ?? isServiceCall;
  }

  inject(headers: MsgHdrs): void {
    propagation.inject(context.active(), headers, natsHeaderSetter);
  }

  extract<T>(headers: MsgHdrs | undefined, fn: () => T): T {
    return context.with(this.parentOf(headers), fn);
  }

  // With tracing off the OpenTelemetry API is a no-op anyway: skip building span names,
  // attributes and contexts for every message.
  traceSend<T>(message: NatsMessageInfo, send: () => T): T {
    if (!isTracingEnabled()) return send();
    const parent = context.active();
    if (!hasSpan(parent) && !this.startsTrace(message)) return send();
    const span = yunbianTracer().startSpan(
      `send ${subjectTemplate(message.subject)}`,
      { kind: SpanKind.PRODUCER, attributes: messagingAttributes(message, 'send') },
      parent,
    );
    return runInSpan(span, trace.setSpan(parent, span), send);
  }

  traceReceive<T>(headers: MsgHdrs | undefined, message: NatsMessageInfo, handle: () => T): T {
    if (!isTracingEnabled()) return handle();
    const parent = this.parentOf(headers);
    if (!hasSpan(parent) && !this.startsTrace(message)) return context.with(parent, handle);
    const span = yunbianTracer().startSpan(
      `process ${subjectTemplate(message.subject)}`,
      { kind: SpanKind.CONSUMER, attributes: messagingAttributes(message, 'process') },
      parent,
    );
    return runInSpan(span, trace.setSpan(parent, span), handle);
  }

  /**
   * The context a received message names in its headers. It starts from the root context,
   * not the active one: a NATS callback runs in whatever context opened the connection, and
   * a message must not become the child of that.
   */
  private parentOf(headers: MsgHdrs | undefined): Context {
    return headers ? propagation.extract(ROOT_CONTEXT, headers, natsHeaderGetter) : ROOT_CONTEXT;
  }
}

function hasSpan(ctx: Context): boolean {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext !== undefined && isSpanContextValid(spanContext);
}

function messagingAttributes(message: NatsMessageInfo, operationType: 'send' | 'process'): Attributes {
  const attributes: Attributes = {
    [MessagingAttributes.system]: 'nats',
    [MessagingAttributes.destination]: message.subject,
    [MessagingAttributes.destinationTemplate]: subjectTemplate(message.subject),
    [MessagingAttributes.operationType]: operationType,
    [MessagingAttributes.operationName]: message.operation,
  };
  if (message.queue) attributes[MessagingAttributes.consumerGroup] = message.queue;
  if (message.bodyBytes !== undefined) attributes[MessagingAttributes.bodySize] = message.bodyBytes;
  return attributes;
}

/**
 * Runs `fn` with `ctx` active and ends `span` when `fn` is done: at once for a plain value,
 * when it settles for a promise (a request's span covers the wait for its reply). Failures
 * are recorded and rethrown unchanged.
 */
function runInSpan<T>(span: Span, ctx: Context, fn: () => T): T {
  let result: T;
  try {
    result = context.with(ctx, fn);
  } catch (err) {
    recordFailure(span, err);
    span.end();
    throw err;
  }
  if (!isPromiseLike(result)) {
    span.end();
    return result;
  }
  const settled = Promise.resolve(result).then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      recordFailure(span, err);
      span.end();
      throw err;
    },
  );
  // T is a promise type here; the chained promise resolves to the same value.
  return settled as unknown as T;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
