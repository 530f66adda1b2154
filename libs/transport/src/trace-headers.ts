import type { MsgHdrs } from '@nats-io/transport-node';

/**
 * The hook through which trace context rides in NATS message headers. The transport
 * calls `inject` on every outgoing message and `extract` around every handler; the
 * tracing library installs an implementation that writes and reads W3C `traceparent`.
 */
export interface TraceHeaderPropagator {
  inject(headers: MsgHdrs): void;
  /** Runs `fn` inside the context carried by `headers` (if any). */
  extract<T>(headers: MsgHdrs | undefined, fn: () => T): T;
}

export const noTracePropagation: TraceHeaderPropagator = {
  inject: () => undefined,
  extract: (_headers, fn) => fn(),
};
