import type { MsgHdrs } from '@nats-io/transport-node';

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
 * The hook through which trace context rides in NATS message headers. The transport
 * calls `inject` on every outgoing message and `extract` around every handler; the
 * tracing library installs an implementation that writes and reads W3C `traceparent`.
 * The optional wrappers let it open spans: `traceSend` around each publish or request
 * (a request's `send` settles with its reply), `traceReceive` instead of `extract` around
 * each handler.
 */
export interface TraceHeaderPropagator {
  inject(headers: MsgHdrs): void;
  /** Runs `fn` inside the context carried by `headers` (if any). */
  extract<T>(headers: MsgHdrs | undefined, fn: () => T): T;
  traceSend?<T>(message: NatsMessageInfo, send: () => T): T;
  traceReceive?<T>(headers: MsgHdrs | undefined, message: NatsMessageInfo, handle: () => T): T;
}

export const noTracePropagation: TraceHeaderPropagator = {
  inject: () => undefined,
  extract: (_headers, fn) => fn(),
};
