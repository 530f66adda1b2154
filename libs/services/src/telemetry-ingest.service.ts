import { Inject } from '@nestjs/common';
import {
  telemetryRawSubject,
  type StoredReading,
  type TelemetryIngestInput,
  type TelemetryIngestResult,
} from '@yunbian/contracts';
import { YunbianService, type CallContext, type ServiceHandler } from '@yunbian/service-sdk';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { readingTime, TELEMETRY_INGEST_SCHEMA } from './telemetry';
import { ensureRawStream, purgeExpired, siteJetStream } from './telemetry-site';

/** Readings published before their acknowledgements are awaited. */
const PUBLISH_BATCH = 100;

/**
 * Appends device readings to its site's raw stream `yb-telemetry-<site>`, in the site's own
 * JetStream domain (subjects `yb.telemetry.<site>.raw.<tier>.<sensor>`, which the site's leaf
 * never exports): raw readings of every tier stay at the site, public ones too. Creates the
 * stream when missing; purges the tiers kept shorter than the stream (user-private: 1 h).
 * A retried call (same idempotency key) is not stored twice (JetStream's duplicate window).
 */
@YunbianService({
  name: 'telemetry-ingest',
  version: '1.0.0',
  kind: 'data',
  description:
    'Stores device readings in the edge site’s own telemetry stream (yb-telemetry-<site>), by privacy tier; they never leave the site',
  input: TELEMETRY_INGEST_SCHEMA,
  output: {
    type: 'object',
    required: ['site', 'stream', 'stored'],
    properties: {
      site: { type: 'string' },
      stream: { type: 'string' },
      tier: { type: 'string' },
      stored: { type: 'integer' },
      firstSeq: { type: 'integer' },
      lastSeq: { type: 'integer' },
    },
  },
  requirements: { memoryMb: 64 },
  concurrency: 4,
})
export class TelemetryIngestService implements ServiceHandler<TelemetryIngestInput, TelemetryIngestResult> {
  constructor(@Inject(NatsTransport) private readonly transport: NatsTransport) {}

  async handle(input: TelemetryIngestInput, context: CallContext): Promise<TelemetryIngestResult> {
    const tier = input.tier ?? 'edge-private';
    const now = new Date();
    const stored: { subject: string; reading: StoredReading }[] = [];
    const site = await siteJetStream(this.transport, 'telemetry-ingest');
    input.readings.forEach((r, i) => {
      const at = readingTime(r.at, now);
      if (typeof at !== 'string') {
        throw new YunbianError('VALIDATION_FAILED', `readings/${i}/at: ${at.error}`, {
          pointer: `/readings/${i}/at`,
        });
      }
      stored.push({
        subject: telemetryRawSubject(site.site, tier, r.sensor),
        reading: { sensor: r.sensor, ...(r.user ? { user: r.user } : {}), value: r.value, at, tier, site: site.site },
      });
    });
    const stream = await ensureRawStream(site);
    let firstSeq = 0;
    let lastSeq = 0;
    for (let from = 0; from < stored.length; from += PUBLISH_BATCH) {
      const acks = await Promise.all(
        stored.slice(from, from + PUBLISH_BATCH).map(({ subject, reading }, j) =>
          site.js.publish(subject, JSON.stringify(reading), {
            expect: { streamName: stream },
            ...(context.idempotencyKey ? { msgID: `${context.idempotencyKey}:${from + j}` } : {}),
          }),
        ),
      );
      for (const ack of acks) {
        if (!firstSeq || ack.seq < firstSeq) firstSeq = ack.seq;
        lastSeq = Math.max(lastSeq, ack.seq);
      }
    }
    await purgeExpired(site, now);
    return { site: site.site, stream, tier, stored: stored.length, firstSeq, lastSeq };
  }
}
