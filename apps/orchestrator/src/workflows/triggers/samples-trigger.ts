import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { CLOUD_SAMPLE_SCOPE, SAMPLE_STREAM, sampleSubject, type TriggerStatus } from '@yunbian/contracts';
import { samplesDue, triggerRunId, type SampleArrival, type SamplesDue, type SamplesTrigger } from '@yunbian/workflow';
import { ensureSampleStream, SAMPLE_ANSWER_HEADER, SAMPLE_LABEL_HEADER } from '../hard-example-collector';
import { RunningTrigger } from './running-trigger';

/** How often a samples trigger looks again (a slot freed, the stream came back). */
const RECHECK_MS = 2_000;

/**
 * Sedna-style training trigger on a collection: reads the collection's arrivals (headers
 * only: the label and the step's answer, never the sample) from `yb-samples` in this engine's
 * domain — a site engine's own for the site's collections — and starts a run when
 * `samplesDue` says so. The run's id is `<workflow>.<trigger>.<last sequence counted>`, so a
 * fire repeated after a restart finds the run it started. After a fire, counting starts again
 * after that sequence; at start, after the sequence of the newest run of this trigger the
 * engine knows.
 */
export class RunningSamplesTrigger extends RunningTrigger {
  private arrivals: SampleArrival[] = [];
  private afterSeq = 0;
  private messages?: ConsumerMessages;
  private timer?: NodeJS.Timeout;
  private last?: SamplesDue;

  private get spec(): SamplesTrigger['samples'] {
    return (this.definition as SamplesTrigger).samples;
  }

  private get subject(): string {
    return sampleSubject(this.definition.site ?? CLOUD_SAMPLE_SCOPE, this.spec.dataset);
  }

  async start(): Promise<void> {
    const prefix = `${this.workflow.name}.${this.id}.`;
    this.adoptRunning(prefix);
    for (const run of this.context.engine.list({ workflow: this.workflow.name, limit: 1_000 }))
      if (run.id.startsWith(prefix)) this.afterSeq = Math.max(this.afterSeq, Number(run.id.slice(prefix.length)) || 0);
    const domain = this.context.streamDomain;
    const opts = domain ? { domain } : {};
    await ensureSampleStream(
      await jetstreamManager(this.context.transport.connection, opts),
      this.definition.site ?? CLOUD_SAMPLE_SCOPE,
    );
    const windowMs = this.spec.windowSeconds === undefined ? undefined : this.spec.windowSeconds * 1000;
    const consumer = await jetstream(this.context.transport.connection, opts).consumers.get(SAMPLE_STREAM, {
      // One subject as a string: the client sends it as `filter_subject`, which nats-server 2.9
      // (Debian's) knows; a list needs 2.10 (the ordered consumer is then refused).
      filter_subjects: this.subject,
      headers_only: true,
      ...(windowMs !== undefined
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - windowMs).toISOString() }
        : this.afterSeq > 0
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.afterSeq + 1 }
          : { deliver_policy: DeliverPolicy.All }),
    });
    this.messages = await consumer.consume();
    this.active();
    this.timer = setInterval(() => this.check(), RECHECK_MS);
    this.timer.unref();
    void (async () => {
      for await (const m of this.messages!) {
        if (this.stopped) break;
        const label = m.headers?.get(SAMPLE_LABEL_HEADER);
        const answer = m.headers?.get(SAMPLE_ANSWER_HEADER);
        this.arrivals.push({
          seq: m.seq,
          at: Math.floor(m.info.timestampNanos / 1e6),
          ...(label ? { label: Number(label) } : {}),
          ...(answer ? { answer: Number(answer) } : {}),
        });
        this.check();
      }
    })().catch((err: Error) => this.notRunning(`reading collection ${this.spec.dataset} failed: ${err.message}`));
  }

  private check(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.spec.windowSeconds !== undefined) {
      const since = now - this.spec.windowSeconds * 1000;
      this.arrivals = this.arrivals.filter((a) => a.at >= since);
    }
    this.arrivals = this.arrivals.filter((a) => a.seq > this.afterSeq);
    const due = samplesDue(this.arrivals, this.spec, now, this.afterSeq);
    this.last = due;
    // A fire waits for a free slot (training runs are not dropped): looked at again every few seconds.
    if (!due.fire || this.freeSlots <= 0) return;
    this.acquire();
    this.afterSeq = due.toSeq!;
    this.arrivals = [];
    void this.fire(
      {
        kind: 'samples',
        trigger: this.id,
        data: {
          dataset: this.spec.dataset,
          site: this.definition.site ?? CLOUD_SAMPLE_SCOPE,
          reason: due.reason,
          samples: due.samples,
          labelled: due.labelled,
          ...(due.accuracy !== undefined ? { accuracy: due.accuracy } : {}),
          fromSeq: due.fromSeq,
          toSeq: due.toSeq,
        },
        firedAt: new Date(now).toISOString(),
      },
      triggerRunId(this.workflow.name, this.id, due.toSeq!),
    ).catch(() => undefined);
  }

  protected override extraStatus(): Partial<TriggerStatus> {
    const due = this.last;
    return {
      pending: {
        samples: due?.samples ?? 0,
        labelled: due?.labelled ?? 0,
        ...(due?.accuracy !== undefined ? { accuracy: due.accuracy } : {}),
      },
    };
  }

  override async stop(): Promise<void> {
    clearInterval(this.timer);
    await super.stop();
    await this.messages?.close().catch(() => undefined);
  }
}
