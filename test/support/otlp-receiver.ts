import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { waitUntil } from '@yunbian/common';

export type SpanKindName = 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

/** One received span, flattened: what tests assert on. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Absent on a trace's root span. */
  parentSpanId?: string;
  name: string;
  kind: SpanKindName;
  /** `service.name` of the resource that sent the span. */
  serviceName?: string;
  attributes: Record<string, AttributeValue>;
  resourceAttributes: Record<string, AttributeValue>;
  status: { code: 'UNSET' | 'OK' | 'ERROR'; message?: string };
  events: { name: string; attributes: Record<string, AttributeValue> }[];
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

// The OTLP/JSON shapes (opentelemetry-proto, JSON mapping) this receiver reads.
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number | string;
  startTimeUnixNano?: number | string;
  endTimeUnixNano?: number | string;
  attributes?: OtlpKeyValue[];
  events?: { name: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number | string; message?: string };
}
interface OtlpTraceRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

const KINDS: SpanKindName[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_CODES = ['UNSET', 'OK', 'ERROR'] as const;

/**
 * A real OTLP/HTTP trace receiver for tests: POST /v1/traces with JSON bodies (what
 * @opentelemetry/exporter-trace-otlp-http sends), optionally gzip-compressed. Protobuf
 * bodies are refused with 415 and a message saying so; refusals are kept in `rejected` and
 * shown when a wait times out. Point a process at it with OTEL_EXPORTER_OTLP_ENDPOINT=`url`.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Why requests were refused, newest last. */
  readonly rejected: string[] = [];

  private constructor(
    private readonly server: http.Server,
    /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (`/v1/traces` is appended by exporters). */
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`);
    server.on(
      'request',
      (request: IncomingMessage, response: ServerResponse) => void receiver.handle(request, response),
    );
    return receiver;
  }

  /** Spans of one trace, in the order they arrived. */
  spansOfTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  /** Waits until at least `count` received spans match `predicate`; returns the matches. */
  async waitForSpans(
    predicate: (span: ReceivedSpan) => boolean,
    timeoutMs = 10_000,
    count = 1,
  ): Promise<ReceivedSpan[]> {
    try {
      return await waitUntil(
        () => {
          const matching = this.spans.filter(predicate);
          return matching.length >= count ? matching : undefined;
        },
        timeoutMs,
        `${count} matching span(s)`,
        25,
      );
    } catch (err) {
      const seen = this.spans.map((s) => `${s.serviceName ?? '?'}: ${s.name}`).join(', ') || 'none';
      const refused = this.rejected.length ? `; refused requests: ${this.rejected.join(' | ')}` : '';
      throw new Error(`${(err as Error).message}; spans received: ${seen}${refused}`);
    }
  }

  clear(): void {
    this.spans.length = 0;
    this.rejected.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://receiver').pathname;
    if (request.method !== 'POST' || path !== '/v1/traces') {
      return this.refuse(response, 404, `${request.method} ${path}: this receiver takes POST /v1/traces only`);
    }
    const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      return this.refuse(
        response,
        415,
        `content-type "${type || 'none'}" is not supported: this test receiver decodes OTLP/HTTP JSON only; use @opentelemetry/exporter-trace-otlp-http (JSON), not the protobuf or gRPC exporters`,
      );
    }
    let body: OtlpTraceRequest;
    try {
      const raw = decompress(await readBody(request), request.headers['content-encoding']);
      body = JSON.parse(raw.toString('utf8')) as OtlpTraceRequest;
      if (!Array.isArray(body.resourceSpans)) throw new Error('no resourceSpans array');
    } catch (err) {
      return this.refuse(response, 400, `not an OTLP/JSON trace export: ${(err as Error).message}`);
    }
    for (const resourceSpans of body.resourceSpans ?? []) {
      const resourceAttributes = attributesOf(resourceSpans.resource?.attributes);
      const serviceName = resourceAttributes['service.name'];
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push(flatten(span, resourceAttributes, typeof serviceName === 'string' ? serviceName : undefined));
        }
      }
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  private refuse(response: ServerResponse, status: number, message: string): void {
    this.rejected.push(`${status} ${message}`);
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
  }
}

function flatten(
  span: OtlpSpan,
  resourceAttributes: Record<string, AttributeValue>,
  serviceName: string | undefined,
): ReceivedSpan {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId || undefined,
    name: span.name,
    kind: kindName(span.kind),
    serviceName,
    attributes: attributesOf(span.attributes),
    resourceAttributes,
    status: {
      code: statusName(span.status?.code),
      ...(span.status?.message ? { message: span.status.message } : {}),
    },
    events: (span.events ?? []).map((e) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
    startTimeUnixNano: String(span.startTimeUnixNano ?? ''),
    endTimeUnixNano: String(span.endTimeUnixNano ?? ''),
  };
}

/** Enums arrive as numbers (the JS exporter) or as names like SPAN_KIND_SERVER (others). */
function kindName(kind: number | string | undefined): SpanKindName {
  if (typeof kind === 'number') return KINDS[kind] ?? 'UNSPECIFIED';
  const name = (kind ?? '').replace(/^SPAN_KIND_/, '');
  return (KINDS as string[]).includes(name) ? (name as SpanKindName) : 'UNSPECIFIED';
}

function statusName(code: number | string | undefined): ReceivedSpan['status']['code'] {
  if (typeof code === 'number') return STATUS_CODES[code] ?? 'UNSET';
  const name = (code ?? '').replace(/^STATUS_CODE_/, '');
  return (STATUS_CODES as readonly string[]).includes(name) ? (name as ReceivedSpan['status']['code']) : 'UNSET';
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) attributes[key] = valueOf(value);
  return attributes;
}

function valueOf(value: OtlpAnyValue | undefined): AttributeValue {
  if (!value) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  // 64-bit integers may arrive as strings in OTLP/JSON.
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.kvlistValue) return attributesOf(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function decompress(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? 'identity').toLowerCase()) {
    case 'gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'identity':
      return body;
    default:
      throw new Error(`content-encoding "${encoding}" is not supported (gzip, deflate or none)`);
  }
}
