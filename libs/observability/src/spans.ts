import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { ErrorAttributes, YunbianAttributes } from './attributes';

export const TRACER_NAME = '@yunbian/observability';

/** Yunbian's tracer. Before tracing starts (or when it is off) it hands out no-op spans. */
export function yunbianTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export interface SpanOptions {
  kind?: SpanKind;
  links?: Link[];
  /** Start a new trace instead of joining the active one. */
  root?: boolean;
}

/**
 * Runs `fn` inside a new span that is active for everything `fn` calls (NATS requests,
 * logs, nested spans). A thrown error or rejection is recorded on the span, marks it ERROR
 * and is rethrown unchanged; success marks it OK. The span always ends.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
  options: SpanOptions = {},
): Promise<T> {
  const parent = options.root ? ROOT_CONTEXT : context.active();
  const span = yunbianTracer().startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes, links: options.links },
    parent,
  );
  try {
    const result = await context.with(trace.setSpan(parent, span), () => fn(span));
    span.setStatus({ code: SpanStatusCode.OK });
    return result;
  } catch (err) {
    recordFailure(span, err);
    throw err;
  } finally {
    span.end();
  }
}

export interface LongSpanOptions extends SpanOptions {
  /** The parent: a context (traceContextFrom a stored carrier, say); the active one by default. */
  parent?: Context;
}

/**
 * Starts a span that outlives one function call, such as a run (from POST to its last
 * step) or a step attempt (from dispatch to reply), which the engine ends from another
 * callback with `endSpan`. Nothing is made active: use `withActiveSpan` for work inside it.
 */
export function startSpan(name: string, attributes: Attributes, options: LongSpanOptions = {}): Span {
  const parent = options.root ? ROOT_CONTEXT : (options.parent ?? context.active());
  return yunbianTracer().startSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes, links: options.links },
    parent,
  );
}

/** Ends a span from `startSpan`: failed by `error` when given, OK otherwise. */
export function endSpan(span: Span, error?: unknown): void {
  if (error === undefined) span.setStatus({ code: SpanStatusCode.OK });
  else recordFailure(span, error);
  span.end();
}

/** Runs `fn` with `span` active, so NATS requests and logs inside it belong to it. */
export function withActiveSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/**
 * Marks a span failed by `err`: an exception event, status ERROR with the message, and the
 * error's code (YunbianError, RemoteError) as `yunbian.error.code` and `error.type`.
 */
export function recordFailure(span: Span, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  span.recordException(err instanceof Error ? err : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  const code = errorCode(err);
  if (code) span.setAttribute(YunbianAttributes.errorCode, code);
  span.setAttribute(ErrorAttributes.type, code ?? (err instanceof Error ? err.name : 'Error'));
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The trace id of the active span, if a sampled or unsampled span is active. */
export function currentTraceId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** A span's trace id, or undefined for the no-op span tracing-off hands out (all zeros). */
export function traceIdOf(span: Span): string | undefined {
  const spanContext = span.spanContext();
  return isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

export function currentSpanId(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? spanContext.spanId : undefined;
}

/**
 * The active trace context as W3C headers (`traceparent`, `tracestate`). The engine stores
 * it with a run so a run resumed after an orchestrator restart continues the same trace.
 */
export function traceCarrier(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/**
 * The context a carrier from `traceCarrier` names, for `startSpan({ parent })`; the root
 * context (a new trace) when there is none.
 */
export function traceContextFrom(carrier: Record<string, string> | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** Runs `fn` inside the trace context that `traceCarrier` captured. */
export function withTraceCarrier<T>(carrier: Record<string, string> | undefined, fn: () => T): T {
  if (!carrier) return fn();
  return context.with(traceContextFrom(carrier), fn);
}

/** A span's context as a carrier, to store with what it describes (a run record). */
export function spanCarrier(span: Span): Record<string, string> {
  return traceCarrier(trace.setSpan(ROOT_CONTEXT, span));
}
