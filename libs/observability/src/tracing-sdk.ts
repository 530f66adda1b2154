import type { Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/**
 * The OpenTelemetry Node SDK, set up for traces only. tracing.ts loads this module only
 * when tracing is on: the SDK costs about a second and 50 MB per process to load, and every
 * service instance is its own process.
 */
export interface RunningSdk {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface SdkOptions {
  serviceName: string;
  resourceAttributes: Attributes;
  /** OTLP/HTTP traces URL (…/v1/traces); ignored when `exporter` is given. */
  tracesUrl?: string;
  exporter?: SpanExporter;
}

export function startSdk(options: SdkOptions): RunningSdk {
  const processor: SpanProcessor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : // Batches, bounded queue and export timeout; OTEL_BSP_* variables tune them.
      new BatchSpanProcessor(new OTLPTraceExporter({ url: options.tracesUrl }));
  // Detected attributes (OTEL_RESOURCE_ATTRIBUTES, host, process) first, ours on top:
  // attributes given in code win over the environment, as the specification asks.
  const resource = detectResources({ detectors: [envDetector, hostDetector, processDetector] }).merge(
    resourceFromAttributes({ ...options.resourceAttributes, [ATTR_SERVICE_NAME]: options.serviceName }),
  );
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    spanProcessors: [processor],
    // Traces only: without these the SDK would also export metrics and logs over OTLP,
    // which Jaeger does not accept; metrics are scraped from /metrics instead.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return {
    forceFlush: () => processor.forceFlush(),
    shutdown: () => sdk.shutdown(),
  };
}
