import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import { JsonLogger } from '@yunbian/common';
import { SITE_FACTS_CONSUMER, SITE_FACTS_STREAM, type SiteRunFact } from '@yunbian/contracts';
import { yunbianMetrics, type YunbianMetrics } from '@yunbian/observability';
import { NatsTransport } from '@yunbian/transport';
import { ENGINE_CONFIG, type EngineConfig } from '../../engine-config';
import { EnginesService } from '../engines.service';
import { AppliedFacts, applySiteFact, parseSiteFact } from './site-facts';

const nanos = (millis: number) => millis * 1_000_000;
/** How often the cloud looks for site engines whose facts it does not read yet. */
const DISCOVER_MS = 2_000;
/** A site whose stream cannot be read (its uplink is cut, its engine never ran) is tried again after this. */
const RETRY_MS = 3_000;
const FETCH_EXPIRES_MS = 3_000;
/** A fact delivered and not acknowledged within this is delivered again. */
const ACK_WAIT_MS = 30_000;

/**
 * The cloud reads every site engine's run facts (`SiteFactPublisher`) from the stream in
 * that site's JetStream domain, through the leaf, with one durable consumer per site: a
 * fact is applied to /metrics (series labelled `site`) and then acknowledged, so what the
 * site did while its uplink was cut is counted once the link returns, and a cloud restart
 * goes on from the last acknowledged fact. A fact delivered again (its acknowledgement was
 * lost) is recognised by id and not counted twice. Sites are found from the engines'
 * announcements and kept once seen (a site that goes silent is read again when it returns).
 */
@Injectable()
export class SiteFactCollector implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new JsonLogger('site-facts');
  private readonly applied = new AppliedFacts();
  /** One reader per JetStream domain (a site's). */
  private readonly readers = new Map<string, Promise<void>>();
  private readonly batches = new Set<ConsumerMessages>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly metrics: YunbianMetrics = yunbianMetrics();

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(ENGINE_CONFIG) private readonly config: EngineConfig,
    @Inject(EnginesService) private readonly engines: EnginesService,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.mode !== 'cloud') return;
    this.timer = setInterval(() => this.discover(), DISCOVER_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const batch of this.batches) batch.stop();
    await Promise.all(this.readers.values());
  }

  /** Starts a reader for every site engine's domain not read yet. */
  private discover(): void {
    for (const engine of this.engines.others()) {
      if (engine.kind !== 'site' || !engine.domain || !engine.site || this.readers.has(engine.domain)) continue;
      const domain = engine.domain;
      this.logger.info('reading the run facts of a site', { site: engine.site, domain });
      this.readers.set(domain, this.read(domain, engine.site));
    }
  }

  private async read(domain: string, site: string): Promise<void> {
    let failing: string | undefined;
    while (!this.stopped) {
      try {
        await this.ensureConsumer(domain);
        const consumer = await jetstream(this.transport.connection, { domain }).consumers.get(
          SITE_FACTS_STREAM,
          SITE_FACTS_CONSUMER,
        );
        if (failing) this.logger.info('run facts of a site readable again', { site, domain });
        failing = undefined;
        while (!this.stopped) {
          const batch = await consumer.fetch({ max_messages: 256, expires: FETCH_EXPIRES_MS });
          this.batches.add(batch);
          try {
            for await (const msg of batch) {
              let fact: SiteRunFact | undefined;
              try {
                fact = parseSiteFact(msg.json());
              } catch (err) {
                // Nothing to count in it, now or later.
                this.logger.warn('bad run fact dropped', { site, seq: msg.seq, error: (err as Error).message });
                msg.term();
                continue;
              }
              if (this.applied.first(fact.id)) applySiteFact(this.metrics, fact);
              msg.ack();
            }
          } finally {
            this.batches.delete(batch);
          }
        }
      } catch (err) {
        if (this.stopped) break;
        const message = (err as Error).message;
        if (failing !== message) {
          this.logger.warn('run facts of a site unreadable; trying again', { site, domain, error: message });
        }
        failing = message;
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }

  /** The cloud's durable consumer on the site's stream (created once; it keeps its place across restarts). */
  private async ensureConsumer(domain: string): Promise<void> {
    const jsm = await jetstreamManager(this.transport.connection, { domain });
    const existing = await jsm.consumers.info(SITE_FACTS_STREAM, SITE_FACTS_CONSUMER).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
      throw err;
    });
    if (existing) return;
    await jsm.consumers.add(SITE_FACTS_STREAM, {
      durable_name: SITE_FACTS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ACK_WAIT_MS),
      description: "the cloud's reader of this site's run facts (its /metrics)",
    });
  }
}
