import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { JsonLogger } from '@yunbian/common';
import { SAMPLE_STREAM, sampleStreamSubjects, type CollectedSample } from '@yunbian/contracts';
import type { RunListener } from '@yunbian/engine';
import type { NatsTransport } from '@yunbian/transport';
import { collectPrivacy, collectRoute, hardExamples, type CollectingEngine, type RunRecord } from '@yunbian/workflow';
import { stepDataTier } from './run-redaction';

/** Headers of a collected sample's message: what a samples trigger reads without the sample itself. */
export const SAMPLE_LABEL_HEADER = 'Yb-Sample-Label';
export const SAMPLE_ANSWER_HEADER = 'Yb-Sample-Answer';

/** How long collected samples are kept in `yb-samples` (a training run reads them long before). */
const SAMPLE_MAX_AGE_NS = 30 * 24 * 3600 * 1e9;

/**
 * Appends the hard examples of finished tiered steps with `collect` to their collection, in
 * the domain their privacy tier allows (`collectRoute`): the hub's `yb-samples` for public
 * ones, the site's own for edge-private ones (only a site engine keeps those), none for
 * user-private ones (counted). Each sample is one message whose id is its run, step, item and
 * row, so a run announced again (a retried run) does not add it twice within the stream's
 * duplicate window. It runs after the run ended and never fails or delays it: a sample that
 * cannot be stored is logged and dropped.
 */
export class HardExampleCollector {
  private readonly streams = new Map<string, Promise<JetStreamClient>>();
  /** Samples counted by outcome, since this engine started (tests and logs read them). */
  readonly counts = { kept: 0, notKept: 0, failed: 0 };
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly transport: NatsTransport,
    private readonly engine: CollectingEngine,
    private readonly resolve: (value: unknown) => Promise<unknown>,
    private readonly logger: JsonLogger,
  ) {}

  listener(): RunListener {
    return {
      runFinished: (run) => {
        if (!run.definition.steps.some((s) => s.collect && s.tiers)) return;
        this.pending = this.pending.then(() => this.collect(run)).catch(() => undefined);
      },
    };
  }

  /** Resolves once every run announced so far is collected (tests). */
  settled(): Promise<unknown> {
    return this.pending;
  }

  private async collect(run: RunRecord): Promise<void> {
    for (const step of run.definition.steps) {
      if (!step.collect || !step.tiers) continue;
      const privacy = collectPrivacy(step.collect, stepDataTier(run, step.id));
      const route = collectRoute(step.collect.dataset, privacy, this.engine);
      for (const task of run.steps[step.id]?.tasks ?? []) {
        if (task.status !== 'succeeded' || !task.tiers) continue;
        try {
          const input = await this.resolve(task.input);
          const samples = hardExamples(input, task.tiers, {
            dataset: step.collect.dataset,
            privacy,
            run: run.id,
            step: step.id,
            item: task.index,
            at: new Date().toISOString(),
          });
          if (samples.length === 0) continue;
          if (!route.keep) {
            this.counts.notKept += samples.length;
            this.logger.info('hard examples not kept', {
              run_id: run.id,
              step: step.id,
              dataset: step.collect.dataset,
              samples: samples.length,
              reason: route.reason,
            });
            continue;
          }
          const js = await this.stream(route.scope, route.domain);
          for (const sample of samples) await this.append(js, route.subject, sample);
          this.counts.kept += samples.length;
        } catch (err) {
          this.counts.failed++;
          this.logger.warn('hard examples could not be collected', {
            run_id: run.id,
            step: step.id,
            dataset: step.collect.dataset,
            error: (err as Error).message,
          });
        }
      }
    }
  }

  private append(js: JetStreamClient, subject: string, sample: CollectedSample) {
    const h = natsHeaders();
    if (sample.label !== undefined) h.set(SAMPLE_LABEL_HEADER, String(sample.label));
    if (sample.answeredBy.pseudoLabel !== undefined) h.set(SAMPLE_ANSWER_HEADER, String(sample.answeredBy.pseudoLabel));
    return js.publish(subject, JSON.stringify(sample), {
      headers: h,
      msgID: `${sample.run}:${sample.step}:${sample.item ?? '-'}:${sample.row}`,
    });
  }

  /** The `yb-samples` stream of a scope in its domain, created on first use. */
  private stream(scope: string, domain: string | undefined): Promise<JetStreamClient> {
    const key = domain ?? '';
    let js = this.streams.get(key);
    if (!js) {
      js = (async () => {
        const opts = domain ? { domain } : {};
        const jsm = await jetstreamManager(this.transport.connection, opts);
        await ensureSampleStream(jsm, scope);
        return jetstream(this.transport.connection, opts);
      })();
      js.catch(() => this.streams.delete(key));
      this.streams.set(key, js);
    }
    return js;
  }
}

/** Creates `yb-samples` for a scope's collections unless it exists (its subjects: that scope's only). */
export async function ensureSampleStream(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  scope: string,
): Promise<void> {
  try {
    await jsm.streams.info(SAMPLE_STREAM);
  } catch {
    await jsm.streams.add({
      name: SAMPLE_STREAM,
      subjects: sampleStreamSubjects(scope),
      retention: RetentionPolicy.Limits,
      max_age: SAMPLE_MAX_AGE_NS,
      description: `hard examples collected by tiered steps (${scope})`,
      allow_direct: true,
    });
  }
}
