import { isSpanContextValid, trace } from '@opentelemetry/api';
import { setLogContextProvider } from '@yunbian/common';

/** `trace_id` and `span_id` of the active span, or nothing when no span is active. */
export function traceLogFields(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/**
 * Makes every JsonLogger line written while a span is active carry its `trace_id` and
 * `span_id`, so a log search leads to the trace in Jaeger and back. `startTracing` calls it.
 */
export function enableLogCorrelation(): void {
  setLogContextProvider(traceLogFields);
}
