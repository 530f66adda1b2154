import { Inject } from '@nestjs/common';
import { DeliverPolicy } from '@nats-io/jetstream';
import {
  telemetryAggSubject,
  telemetryRawRoot,
  type StoredReading,
  type TelemetryAggregateInput,
  type TelemetryAggregateResult,
} from '@yunbian/contracts';
import { YunbianService, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport } from '@yunbian/transport';
import {
  DEFAULT_AGGREGATE_TIERS,
  DEFAULT_WINDOW_S,
  summarise,
  summaryMsgId,
  TELEMETRY_AGGREGATE_SCHEMA,
  tierOfSubject,
} from './telemetry';
import { ensureAggStream, ensureRawStream, purgeExpired, siteJetStream } from './telemetry-site';

/** Readings read per fetch of the window. */
const FETCH_BATCH = 1_000;

/**
 * Summarises its site's raw readings of the last `windowS` seconds (default 10) per sensor —
 * count, mean, min, max, window start and end — and appends the summaries to the site's
 * stream `yb-telemetry-agg-<site>` (subjects `yb.telemetry-agg.<site>.<sensor>`). Summaries are
 * public: the hub's `yb-telemetry-agg` sources them from every site. Readings of the tiers in
 * `tiers` count (default public and edge-private; a user-private reading is summarised only
 * when the call names the tier). A window summarised twice is stored once (duplicate ids).
 */
@YunbianService({
  name: 'telemetry-aggregate',
  version: '1.0.0',
  kind: 'data',
  description:
    'Summarises the edge site’s raw readings per sensor over a window into its public summary stream (yb-telemetry-agg-<site>), which the cloud sources',
  input: TELEMETRY_AGGREGATE_SCHEMA,
  output: {
    type: 'object',
    required: ['site', 'stream', 'readings', 'summaries'],
    properties: {
      site: { type: 'string' },
      stream: { type: 'string' },
      readings: { type: 'integer' },
      summaries: { type: 'array', items: { type: 'object' } },
    },
  },
  requirements: { memoryMb: 128 },
  concurrency: 2,
})
export class TelemetryAggregateService implements ServiceHandler<TelemetryAggregateInput, TelemetryAggregateResult> {
  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async handle(input: TelemetryAggregateInput): Promise<TelemetryAggregateResult> {
    const windowEnd = new Date();
    const windowStart = new Date(windowEnd.getTime() - (input.windowS ?? DEFAULT_WINDOW_S) * 1_000);
    const tiers = new Set(input.tiers ?? DEFAULT_AGGREGATE_TIERS);
    const site = await siteJetStream(this.transport, 'telemetry-aggregate');
    const raw = await ensureRawStream(site);
    const stream = await ensureAggStream(site);
    await purgeExpired(site, windowEnd);

    const readings: StoredReading[] = [];
    const consumer = await site.js.consumers.get(raw, {
      filter_subjects: `${telemetryRawRoot(site.site)}.>`,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: windowStart.toISOString(),
    });
    try {
      // What was in the window when the call came; later readings belong to the next window.
      let left = (await consumer.info()).num_pending;
      const endNs = BigInt(windowEnd.getTime()) * 1_000_000n;
      while (left > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(left, FETCH_BATCH), expires: 5_000 });
        let got = 0;
        let past = false;
        for await (const m of batch) {
          got++;
          left--;
          if (BigInt(m.info.timestampNanos) >= endNs) past = true;
          const tier = tierOfSubject(m.subject);
          if (past || !tier || !tiers.has(tier)) continue;
          readings.push(m.json<StoredReading>());
        }
        if (!got || past) break;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }

    const summaries = summarise(readings, site.site, windowStart, windowEnd);
    await Promise.all(
      summaries.map((s) =>
        // No expected-stream header: stored with the message, it would make the hub's stream
        // refuse the sourced copy ("expected stream does not match"). The id travels on, and
        // names the site, so the hub's duplicate window tells sites apart.
        site.js.publish(telemetryAggSubject(site.site, s.sensor), JSON.stringify(s), { msgID: summaryMsgId(s) }),
      ),
    );
    return { site: site.site, stream, readings: readings.length, summaries };
  }
}
