import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, RetentionPolicy } from '@nats-io/jetstream';
import { JsonLogger } from '@yunbian/common';
import { SITE_FACTS_STREAM, Subjects, type SiteRunFact } from '@yunbian/contracts';
import type { RunListener } from '@yunbian/engine';
import { ensureReplicas, NatsTransport, replicaSetting, retryingWrite } from '@yunbian/transport';
import type { RunRecord } from '@yunbian/workflow';
import { ENGINE_CONFIG, type EngineConfig } from '../../engine-config';
import { factsToResend, runFinishedFact, runStartedFact, type FactSource } from './site-facts';

const nanos = (millis: number) => millis * 1_000_000;
/** How long the site keeps its facts: room for a long uplink cut before the cloud reads them. */
export const SITE_FACTS_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** The stream drops a fact whose id it has seen within this window. */
export const SITE_FACTS_DUPLICATE_WINDOW_MS = 10 * 60_000;
/** A restarted engine sends again the facts of runs that started or ended this recently (well inside the window). */
const RESEND_WITHIN_MS = SITE_FACTS_DUPLICATE_WINDOW_MS / 2;

/**
 * A site engine's run facts (a run started, a run ended with its step attempts) appended to
 * the stream `yb-site-facts` in its site's JetStream domain, on its leaf, so they are kept
 * through an uplink cut; each fact's id is its message id, so a resend is dropped by the
 * stream. The cloud reads them (`SiteFactCollector`). Nothing is published in cloud mode.
 */
@Injectable()
export class SiteFactPublisher implements OnModuleInit {
  private readonly logger = new JsonLogger('site-facts');
  private readonly source?: FactSource;
  /** Facts go out one after another, in the order the runs produced them. */
  private queue: Promise<void> = Promise.resolve();
  private ready = false;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
  ) {
    if (config.mode === 'site') this.source = { site: config.site, engine: config.id };
  }

  async onModuleInit(): Promise<void> {
    if (!this.source) return;
    const jsm = await jetstreamManager(this.transport.connection, { domain: this.config.runDomain });
    const setting = replicaSetting();
    try {
      await ensureReplicas(jsm, SITE_FACTS_STREAM, setting);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await jsm.streams.add({
        name: SITE_FACTS_STREAM,
        subjects: [Subjects.siteRunFacts(this.source.site)],
        retention: RetentionPolicy.Limits,
        max_age: nanos(SITE_FACTS_MAX_AGE_MS),
        duplicate_window: nanos(SITE_FACTS_DUPLICATE_WINDOW_MS),
        num_replicas: setting.replicas,
        description: `run facts of the site engine of ${this.source.site}, read by the cloud`,
      });
    }
    this.ready = true;
  }

  /** The run listener the engine attaches (none in cloud mode). */
  listeners(): RunListener[] {
    const source = this.source;
    if (!source) return [];
    return [
      {
        runCreating: (run) => {
          this.publish(runStartedFact(run, source));
        },
        runFinished: (run) => this.publish(runFinishedFact(run, source)),
      },
    ];
  }

  /** After a restart: the facts of recent runs again, in case they were not stored before it stopped. */
  resend(runs: RunRecord[], now = Date.now()): void {
    if (!this.source) return;
    const facts = factsToResend(runs, this.source, now, RESEND_WITHIN_MS);
    for (const fact of facts) this.publish(fact);
    if (facts.length) this.logger.info('run facts sent again after a restart', { facts: facts.length });
  }

  /** Resolves once every fact handed over so far is stored (or given up on). */
  flush(): Promise<void> {
    return this.queue;
  }

  private publish(fact: SiteRunFact): void {
    if (!this.ready) return;
    const js = jetstream(this.transport.connection, { domain: this.config.runDomain });
    const subject = Subjects.siteRunFacts(fact.site);
    const data = JSON.stringify(fact);
    this.queue = this.queue
      .then(() => retryingWrite(() => js.publish(subject, data, { msgID: fact.id })))
      .then(
        () => undefined,
        (err: Error) =>
          this.logger.warn('run fact not stored; the cloud will not count it', {
            fact: fact.id,
            error: err.message,
          }),
      );
  }
}
