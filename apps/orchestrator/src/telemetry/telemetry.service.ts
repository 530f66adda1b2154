import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { JsonLogger } from '@yunbian/common';
import {
  TELEMETRY_AGG_MAX_AGE_S,
  TELEMETRY_CLOUD_STREAM,
  telemetryAggStreamConfig,
  telemetryCloudSource,
  telemetryRawRoot,
  telemetryRawStreamConfig,
  telemetryStream,
  type Principal,
  type StoredReading,
  type TelemetryTransferRequest,
  type TelemetryTransferResult,
} from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { AuditService } from '../auth/audit.service';
import { siteProblem } from '../auth/site-scope';
import { CatalogService } from '../catalog/catalog.service';
import { ENGINE_CONFIG, type EngineConfig } from '../engine-config';
import { selectTransfer, transferProblems, type RawTelemetryMessage } from './telemetry-transfer';

/** How often the catalogue is looked at for sites not sourced yet, and how long a failed site waits. */
const SITE_CHECK_MS = 2_000;
const SITE_RETRY_MS = 30_000;
/** Readings read per fetch when a transfer scans a site's stream. */
const FETCH_BATCH = 1_000;

/**
 * The cloud side of telemetry. When a node of a site it has not sourced yet is in the catalogue,
 * the orchestrator creates that site's summary stream in the site's domain (so the source finds
 * it at once, before the site's first aggregation) and adds it to the sources of the hub's
 * `yb-telemetry-agg`; the hub stream has no subjects of its own, so only the sourced summaries
 * land in it — raw readings have no way in. The orchestrator does it rather than an operator's
 * call because it is the one process that sees every site join, with credentials for every
 * domain; it keeps no state for it (the stream's sources are the record), so a replica or a
 * restart just finds the sources there. A site without a JetStream domain of its own (the local
 * stack's sites are labels on one server) is logged once and tried again later.
 *
 * It also moves a user's edge-private readings between sites, when an admin asks (`transfer`).
 */
@Injectable()
export class TelemetryService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new JsonLogger('telemetry');
  private readonly sourced = new Set<string>();
  private readonly failedAt = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    @Inject(NatsTransport) private readonly transport: NatsTransport,
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(ENGINE_CONFIG) private readonly engine: EngineConfig,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.sourceNewSites(), SITE_CHECK_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Sites of the catalogue's nodes whose summaries the hub stream sources now. */
  sourcedSites(): string[] {
    return [...this.sourced].sort();
  }

  private hubManager(): Promise<JetStreamManager> {
    const domain = this.transport.jetStreamDomain;
    return jetstreamManager(this.transport.connection, domain ? { domain } : {});
  }

  async sourceNewSites(now = Date.now()): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const sites = new Set(
        this.catalog
          .listNodes()
          .map((n) => n.site)
          .filter((s): s is string => !!s && s !== this.engine.site),
      );
      for (const site of sites) {
        if (this.sourced.has(site)) continue;
        const failed = this.failedAt.get(site);
        if (failed !== undefined && now - failed < SITE_RETRY_MS) continue;
        try {
          await this.sourceSite(site);
          this.sourced.add(site);
          this.failedAt.delete(site);
          this.logger.info('telemetry summaries of a site sourced by the cloud', {
            site,
            stream: TELEMETRY_CLOUD_STREAM,
          });
        } catch (err) {
          if (failed === undefined)
            this.logger.warn('telemetry summaries of a site not sourced (retried)', {
              site,
              error: (err as Error).message,
            });
          this.failedAt.set(site, now);
        }
      }
    } finally {
      this.checking = false;
    }
  }

  /** The site's summary stream in its domain, then the hub stream's source of it. */
  private async sourceSite(site: string): Promise<void> {
    const siteJsm = await jetstreamManager(this.transport.connection, { domain: site, timeout: 5_000 });
    const config = telemetryAggStreamConfig(site);
    await siteJsm.streams.info(config.name).catch(() => siteJsm.streams.add(config));
    const hub = await this.hubManager();
    const source = telemetryCloudSource(site);
    const info = await hub.streams.info(TELEMETRY_CLOUD_STREAM).catch(() => undefined);
    if (!info) {
      await hub.streams.add({
        name: TELEMETRY_CLOUD_STREAM,
        // No subjects: what the leaves carry cannot be captured here, only the sources arrive.
        subjects: [],
        sources: [source],
        max_age: TELEMETRY_AGG_MAX_AGE_S * 1e9,
        description: 'Yunbian telemetry: every site’s public per-sensor summaries, sourced across the leaf nodes',
      });
      return;
    }
    const sources = info.config.sources ?? [];
    if (sources.some((s) => s.name === source.name)) return;
    await hub.streams.update(TELEMETRY_CLOUD_STREAM, { ...info.config, sources: [...sources, source] });
  }

  /**
   * Moves `user`'s edge-private readings from site `from`'s raw stream to site `to`'s: copied
   * (each once, by a duplicate id, so a retried transfer does not copy twice), then deleted at
   * `from`. They pass through this process on the way, and are stored nowhere on the hub.
   * Audited: who, user, from, to, count.
   */
  async transfer(
    user: string,
    body: TelemetryTransferRequest,
    principal?: Principal,
  ): Promise<TelemetryTransferResult> {
    const knownSites = [
      ...new Set(
        this.catalog
          .listNodes()
          .map((n) => n.site)
          .filter((s): s is string => !!s && s !== this.engine.site),
      ),
    ].sort();
    const problems = transferProblems(user, body, knownSites);
    if (problems.length)
      throw new YunbianError('BAD_REQUEST', `telemetry transfer refused: ${problems.join('; ')}`, { problems });
    for (const site of [body.from, body.to]) {
      const problem = siteProblem(principal, site, `site ${site}`);
      if (problem) throw new YunbianError('FORBIDDEN', `telemetry transfer refused: ${problem}`);
    }
    const { from, to } = body;
    const stream = telemetryStream(from);
    const fromJs = jetstream(this.transport.connection, { domain: from, timeout: 10_000 });
    const fromJsm = await jetstreamManager(this.transport.connection, { domain: from, timeout: 10_000 });
    await fromJsm.streams.info(stream).catch((err: Error) => {
      throw new YunbianError(
        'NOT_FOUND',
        `site ${from} has no telemetry stream ${stream} reachable in its JetStream domain "${from}" (${err.message}): name a site whose nodes ingest telemetry`,
      );
    });

    const messages: RawTelemetryMessage[] = [];
    const consumer = await fromJs.consumers.get(stream, {
      filter_subjects: `${telemetryRawRoot(from)}.edge-private.>`,
      deliver_policy: DeliverPolicy.All,
    });
    try {
      let left = (await consumer.info()).num_pending;
      while (left > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(left, FETCH_BATCH), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          left--;
          try {
            messages.push({ seq: m.seq, subject: m.subject, reading: m.json<StoredReading>() });
          } catch {
            // Not a reading (not JSON): nobody's, not moved.
          }
        }
        if (!got) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    const items = selectTransfer(messages, user, from, to);

    if (items.length) {
      const toJs = jetstream(this.transport.connection, { domain: to, timeout: 10_000 });
      const toJsm = await jetstreamManager(this.transport.connection, { domain: to, timeout: 10_000 });
      const toConfig = telemetryRawStreamConfig(to);
      await toJsm.streams.info(toConfig.name).catch(() => toJsm.streams.add(toConfig));
      for (const item of items) {
        await toJs.publish(item.subject, JSON.stringify(item.reading), {
          expect: { streamName: toConfig.name },
          msgID: `transfer:${from}:${item.fromSeq}`,
        });
      }
      for (const item of items) await fromJsm.streams.deleteMessage(stream, item.fromSeq, false);
    }
    const result = { user, from, to, count: items.length };
    await this.audit.record({
      time: new Date().toISOString(),
      kind: 'telemetry',
      actor: principal?.id ?? 'anonymous',
      ...(principal?.name ? { actorName: principal.name } : {}),
      ...(principal ? { role: principal.role } : {}),
      action: 'telemetry user transfer',
      details: { ...result },
    });
    this.logger.info('telemetry of a user transferred', { ...result });
    return result;
  }
}
