import {
  context,
  diag,
  DiagLogLevel,
  propagation,
  trace,
  type Attributes,
  type DiagLogger,
  type DiagLogFunction,
} from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { JsonLogger } from '@yunbian/common';
import { enableLogCorrelation } from './log-correlation';
import type { RunningSdk } from './tracing-sdk';

export interface TracingOptions {
  /** `service.name` of this process (yunbian-orchestrator…); OTEL_SERVICE_NAME overrides it. */
  serviceName: string;
  /** Resource attributes: node id, site, tier, tags (see nodeResourceAttributes). */
  resourceAttributes?: Attributes;
  /** Where the OTEL_* variables are read; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /**
   * Sends spans here, one at a time as they end, instead of over OTLP; tracing is then on
   * whatever the environment says. For tests (an InMemorySpanExporter).
   */
  exporter?: SpanExporter;
}

export interface TracingStatus {
  enabled: boolean;
  serviceName: string;
  /** Where spans go when enabled: the OTLP/HTTP traces URL. */
  tracesUrl?: string;
  /** Why tracing is off. */
  reason?: string;
}

export type TracingEnvironment = { enabled: true; tracesUrl: string } | { enabled: false; reason: string };

/**
 * Reads the standard OpenTelemetry variables. Tracing is on only when an OTLP endpoint is
 * configured: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or OTEL_EXPORTER_OTLP_ENDPOINT
 * (+ /v1/traces). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.
 * Settings Yunbian cannot honour fail with the variable's name and what would work.
 */
export function tracingEnvironment(env: NodeJS.ProcessEnv = process.env): TracingEnvironment {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return { enabled: false, reason: 'OTEL_SDK_DISABLED=true' };
  }
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (exporters.includes('none')) return { enabled: false, reason: 'OTEL_TRACES_EXPORTER=none' };
  const unsupported = exporters.filter((e) => e !== 'otlp');
  if (unsupported.length) {
    throw new Error(
      `OTEL_TRACES_EXPORTER="${env.OTEL_TRACES_EXPORTER}" is not supported: Yunbian exports traces over OTLP/HTTP (set OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://jaeger:4318) or not at all (none)`,
    );
  }
  const protocolVariable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = env[protocolVariable]?.trim();
  if (protocol && !protocol.startsWith('http/')) {
    throw new Error(
      `${protocolVariable}="${protocol}" is not supported: Yunbian sends OTLP over HTTP with JSON bodies; point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (Jaeger: http://jaeger:4318) and unset ${protocolVariable}`,
    );
  }
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const baseEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (tracesEndpoint)
    return { enabled: true, tracesUrl: httpUrl(tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') };
  if (baseEndpoint) {
    const base = httpUrl(baseEndpoint, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    return { enabled: true, tracesUrl: `${base.replace(/\/+$/, '')}/v1/traces` };
  }
  return { enabled: false, reason: 'OTEL_EXPORTER_OTLP_ENDPOINT is not set' };
}

function httpUrl(value: string, variable: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(`${variable}="${value}" is not an http(s) URL; set it like http://jaeger:4318`);
  }
  return value;
}

let running: { sdk: RunningSdk; status: TracingStatus } | undefined;

/**
 * Starts the OpenTelemetry Node SDK for traces, exporting OTLP/HTTP JSON, and adds trace
 * ids to log lines. Call it first in a process, before Nest and the NATS client load, so
 * any instrumentation added later sees every module. Off unless an endpoint is configured:
 * then the SDK is not even loaded and the OpenTelemetry API stays a no-op. A second call
 * returns the first call's status.
 */
export function startTracing(options: TracingOptions): TracingStatus {
  if (running) return running.status;
  const env = options.env ?? process.env;
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || options.serviceName;
  let tracesUrl: string | undefined;
  if (!options.exporter) {
    const environment = tracingEnvironment(env);
    if (!environment.enabled) return { enabled: false, serviceName, reason: environment.reason };
    tracesUrl = environment.tracesUrl;
  }

  // The SDK reports failed exports (collector unreachable…) through diag; make them log
  // lines. OTEL_LOG_LEVEL still selects the SDK's own console logger instead.
  if (!env.OTEL_LOG_LEVEL) {
    diag.setLogger(diagToJsonLogger(new JsonLogger('opentelemetry'), tracesUrl), DiagLogLevel.WARN);
  }
  // Loaded here, not imported, so a process with tracing off never pays for the SDK.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSdk } = require('./tracing-sdk') as typeof import('./tracing-sdk');
  const sdk = startSdk({
    serviceName,
    resourceAttributes: options.resourceAttributes ?? {},
    tracesUrl,
    exporter: options.exporter,
  });
  const status: TracingStatus = tracesUrl ? { enabled: true, serviceName, tracesUrl } : { enabled: true, serviceName };
  running = { sdk, status };
  enableLogCorrelation();
  return status;
}

/**
 * OpenTelemetry's diagnostics as log lines. Failed exports arrive as a JSON-encoded error;
 * they become `tracing error: <message>` with the code and the traces URL.
 */
function diagToJsonLogger(logger: JsonLogger, tracesUrl: string | undefined): DiagLogger {
  const write =
    (level: 'error' | 'warn' | 'info' | 'debug'): DiagLogFunction =>
    (message, ...args) => {
      const error = encodedError(message);
      const fields: Record<string, unknown> = tracesUrl ? { traces_url: tracesUrl } : {};
      if (error?.code) fields.code = error.code;
      if (args.length) fields.details = args.map((a) => (a instanceof Error ? a.message : a));
      logger[level](error ? `tracing error: ${error.message}` : message, fields);
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    verbose: write('debug'),
  };
}

function encodedError(message: string): { message: string; code?: string } | undefined {
  if (!message.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(message) as { message?: unknown; code?: unknown };
    if (typeof parsed.message !== 'string') return undefined;
    return { message: parsed.message, code: typeof parsed.code === 'string' ? parsed.code : undefined };
  } catch {
    return undefined;
  }
}

/** The helper an app's `instrument.ts` calls on its first line (see docs/observability.md). */
export function instrument(serviceName: string, resourceAttributes: Attributes = {}): TracingStatus {
  return startTracing({ serviceName, resourceAttributes });
}

export function isTracingEnabled(): boolean {
  return running !== undefined;
}

/** Exports every span that has ended so far; rejects when the export fails. */
export async function flushTracing(): Promise<void> {
  await running?.sdk.forceFlush();
}

/**
 * Flushes the spans still queued and stops tracing; call it before process.exit. Gives up
 * after `timeoutMs` so an unreachable collector cannot hold a shutdown, and never throws (a
 * failed last export is logged by the SDK). Afterwards the OpenTelemetry API is a no-op
 * again and startTracing may be called anew.
 */
export async function shutdownTracing(timeoutMs = 5_000): Promise<void> {
  const current = running;
  running = undefined;
  if (!current) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([current.sdk.shutdown().catch(() => undefined), deadline]);
  } finally {
    clearTimeout(timer);
    trace.disable();
    context.disable();
    propagation.disable();
    diag.disable();
  }
}
