import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import {
  TELEMETRY_MAX_AGE_S,
  telemetryAggStreamConfig,
  telemetryRawRoot,
  telemetryRawStreamConfig,
  type TelemetryTier,
} from '@yunbian/contracts';
import { NatsTransport, YunbianError } from '@yunbian/transport';
import { rawStreamMaxAgeS, telemetryPurgeCutoffs } from './telemetry';

/** The JetStream of the site a telemetry service runs at, and the site's name (its domain). */
export interface SiteJetStream {
  site: string;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

const opened = new WeakMap<NatsTransport, Promise<SiteJetStream>>();
const ensured = new Set<string>();

/**
 * The site is the JetStream domain of the NATS server the worker is connected to: at an edge
 * site its leaf node's (compose/nats/leaf.conf names it after the site). A server with no
 * domain of its own, or one whose domain is the one this process reaches remotely (the hub's),
 * is no site: readings would not stay at one, so the call is refused.
 */
export function siteJetStream(transport: NatsTransport, service: string): Promise<SiteJetStream> {
  let site = opened.get(transport);
  if (!site) {
    site = (async () => {
      const local = await jetstreamManager(transport.connection);
      const { domain } = await local.getAccountInfo();
      if (!domain || domain === transport.jetStreamDomain) {
        throw new YunbianError(
          'UNSATISFIABLE',
          `${service} keeps readings in the JetStream domain of its edge site, and the NATS server this node is connected to has ${domain ? `the domain "${domain}" it reaches as the hub's` : 'no JetStream domain'}: run it on a node connected to its site's leaf node (compose/nats/leaf.conf, jetstream.domain = the site)`,
        );
      }
      return {
        site: domain,
        js: jetstream(transport.connection, { domain }),
        jsm: await jetstreamManager(transport.connection, { domain }),
      };
    })();
    site.catch(() => opened.delete(transport));
    opened.set(transport, site);
  }
  return site;
}

/** Creates the site's raw stream if missing (max age: the longest tier's; shorter tiers are purged). */
export async function ensureRawStream({ site, jsm }: SiteJetStream): Promise<string> {
  const config = telemetryRawStreamConfig(site);
  if (ensured.has(config.name)) return config.name;
  await jsm.streams.info(config.name).catch(() => jsm.streams.add(config));
  ensured.add(config.name);
  return config.name;
}

/** Creates the site's summary stream if missing (the same settings as the orchestrator's). */
export async function ensureAggStream({ site, jsm }: SiteJetStream): Promise<string> {
  const config = telemetryAggStreamConfig(site);
  if (ensured.has(config.name)) return config.name;
  await jsm.streams.info(config.name).catch(() => jsm.streams.add(config));
  ensured.add(config.name);
  return config.name;
}

/**
 * Removes the readings of tiers kept shorter than the stream (user-private: 1 h) that are older
 * than their max age: everything of the tier before its first reading at or after the cutoff.
 * Returns how many were purged per tier.
 */
export async function purgeExpired(
  site: SiteJetStream,
  now = new Date(),
  maxAge: Record<TelemetryTier, number> = TELEMETRY_MAX_AGE_S,
): Promise<Partial<Record<TelemetryTier, number>>> {
  const stream = await ensureRawStream(site);
  const purged: Partial<Record<TelemetryTier, number>> = {};
  for (const { tier, before } of telemetryPurgeCutoffs(now, rawStreamMaxAgeS(maxAge), maxAge)) {
    const filter = `${telemetryRawRoot(site.site)}.${tier}.>`;
    // Readings stored after this are kept whatever happens below.
    const { state } = await site.jsm.streams.info(stream);
    const consumer = await site.js.consumers.get(stream, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: before.toISOString(),
    });
    const { num_pending } = await consumer.info();
    const first = num_pending > 0 ? await consumer.next({ expires: 5_000 }) : null;
    await consumer.delete().catch(() => undefined);
    const seq = first ? Math.min(first.seq, state.last_seq + 1) : state.last_seq + 1;
    const { purged: n } = await site.jsm.streams.purge(stream, { filter, seq });
    purged[tier] = n;
  }
  return purged;
}
