/**
 * Ports of the executor for a process connected to NATS: real time, service calls over
 * NATS request/reply, and the listeners every engine attaches (metrics, tracing, the log).
 * The orchestrator and the embedded engine of `@yunbian/client` use the same ones.
 */
import type { Span } from '@opentelemetry/api';
import type { JsonLogger } from '@yunbian/common';
import { PAYLOAD_DOMAIN_HEADER, YunbianError } from '@yunbian/contracts';
import type { AttemptScope, Clock, RunListener, SentAttempt, StepDispatcher } from './ports';
import {
  endSpan,
  isTracingEnabled,
  spanCarrier,
  startSpan,
  traceContextFrom,
  traceIdOf,
  withActiveSpan,
  yunbianMetrics,
  type YunbianMetrics,
} from '@yunbian/observability';
import { IDEMPOTENCY_HEADER } from '@yunbian/service-sdk';
import type { NatsTransport } from '@yunbian/transport';
import type { RunRecord, WorkflowDefinition } from '@yunbian/workflow';

/** Real time and Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Service calls over NATS request/reply, with the attempt's idempotency key in a header, and
 * `payloadDomain` (an engine whose payload store is in another JetStream domain than the
 * workers' default) in `PAYLOAD_DOMAIN_HEADER`, so large outputs are stored there too.
 */
export function natsDispatcher(
  transport: NatsTransport,
  startWorkflow: StepDispatcher['startWorkflow'],
  options: { payloadDomain?: string } = {},
): StepDispatcher {
  const domain = options.payloadDomain;
  return {
    call: ({ instance, input, timeoutMs, idempotencyKey, inputJson }) =>
      transport
        .requestTimed(instance.subject, input, {
          timeoutMs,
          json: inputJson,
          headers: domain
            ? { [IDEMPOTENCY_HEADER]: idempotencyKey, [PAYLOAD_DOMAIN_HEADER]: domain }
            : { [IDEMPOTENCY_HEADER]: idempotencyKey },
        })
        .then((reply) => ({ value: reply.value, exchange: reply })),
    startWorkflow,
  };
}

/** Prometheus counters and histograms of runs, steps and placement decisions. */
export function metricsListener(): RunListener {
  const metrics = yunbianMetrics();
  const totals = new Map<string, { n: number; hard: number }>();
  return {
    placement: (strategy, outcome) => metrics.placementDecisions.inc({ strategy, outcome }),
    attemptSettled: (sent, outcome, durationMs) =>
      metrics.stepDuration.observe({ service: sent.service, node: sent.instance.nodeId, outcome }, durationMs / 1000),
    runFinished: (run) => {
      metrics.workflowRuns.inc({ workflow: run.workflow.name, status: run.status });
      if (hasTiers(run.definition)) countTiers(run, metrics, totals);
    },
  };
}

const tiered = new WeakMap<WorkflowDefinition, boolean>();
function hasTiers(definition: WorkflowDefinition): boolean {
  let known = tiered.get(definition);
  if (known === undefined) tiered.set(definition, (known = definition.steps.some((s) => s.tiers)));
  return known;
}

/** Counts what each tier of a finished run's tiered steps did (from the run's state, never offloaded). */
function countTiers(run: RunRecord, metrics: YunbianMetrics, totals: Map<string, { n: number; hard: number }>): void {
  for (const step of run.definition.steps) {
    if (!step.tiers) continue;
    for (const task of run.steps[step.id]?.tasks ?? []) {
      for (const c of task.tiers?.counts ?? []) {
        const labels = { workflow: run.workflow.name, step: step.id, tier: String(c.tier) };
        metrics.tierInferences.inc(labels, c.inferences);
        if (c.hardExamples) metrics.tierHardExamples.inc(labels, c.hardExamples);
        if (c.fallbacks) metrics.tierFallbacks.inc(labels, c.fallbacks);
        const key = `${labels.workflow}\u0000${labels.step}\u0000${labels.tier}`;
        const total = totals.get(key) ?? { n: 0, hard: 0 };
        total.n += c.inferences;
        total.hard += c.hardExamples;
        totals.set(key, total);
        metrics.tierUploadRatio.set(labels, total.n === 0 ? 0 : total.hard / total.n);
      }
    }
  }
}

/**
 * A span per run (a child of the parent run's span for sub-workflows) and per step attempt,
 * the attempt's request sent inside it so the trace context reaches the service. A run
 * resumed after a restart continues its trace (its context is in the record) without a span.
 */
export function tracingListener(): RunListener {
  const runSpans = new Map<string, Span>();
  return {
    runCreating(run, parent) {
      const span = startSpan(
        `run ${run.workflow.name}`,
        {
          'yunbian.run.id': run.id,
          'yunbian.workflow.name': run.workflow.name,
          'yunbian.workflow.version': run.workflow.version,
          'yunbian.run.durability': run.durability,
        },
        parent?.traceContext ? { parent: traceContextFrom(parent.traceContext) } : { root: true },
      );
      runSpans.set(run.id, span);
      return { traceId: traceIdOf(span), traceContext: spanCarrier(span) };
    },
    attemptSent(sent: SentAttempt): AttemptScope | undefined {
      // With tracing off there is no span to build (the no-op API would still cost its attributes).
      if (!isTracingEnabled()) return undefined;
      const { run, attempt, task, instance, placement } = sent;
      const span = startSpan(
        `step ${sent.stepId}`,
        {
          'yunbian.run.id': run.id,
          'yunbian.step.id': sent.stepId,
          'yunbian.step.attempt': attempt.n,
          'yunbian.step.purpose': attempt.purpose,
          ...(task.index === null ? {} : { 'yunbian.step.item': task.index }),
          'yunbian.service.ref': sent.service,
          'yunbian.placement.node': instance.nodeId,
          'yunbian.placement.instance': instance.id,
          'yunbian.placement.strategy': placement.strategy,
          'yunbian.placement.reason': placement.reason,
        },
        { parent: traceContextFrom(run.traceContext) },
      );
      return { around: (call) => withActiveSpan(span, call), end: (error) => endSpan(span, error) };
    },
    runFinished(run: RunRecord) {
      const span = runSpans.get(run.id);
      if (!span) return;
      span.setAttribute('yunbian.run.status', run.status);
      endSpan(
        span,
        run.status === 'succeeded'
          ? undefined
          : new YunbianError(run.error?.code ?? 'INTERNAL', run.error?.message ?? run.status),
      );
      runSpans.delete(run.id);
    },
  };
}

/** What no caller awaits goes to the log. */
export function logListener(logger: JsonLogger): RunListener {
  return { problem: (message, fields, level) => logger[level](message, fields) };
}
