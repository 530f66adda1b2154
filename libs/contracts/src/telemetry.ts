import type { DatasetPrivacy } from './compression';
import { assertToken } from './subjects';

/**
 * Telemetry (data collaboration): device readings are kept at the edge site that collected them,
 * in a stream of the site's own JetStream domain; the site summarises them per sensor over
 * windows into a second site stream, and only those summaries (public) reach the cloud, through
 * a hub stream that sources every site's summary stream across the leaf connection.
 *
 *   site domain  yb-telemetry-<site>       yb.telemetry.<site>.raw.<tier>.<sensor>   raw readings, every tier
 *   site domain  yb-telemetry-agg-<site>   yb.telemetry-agg.<site>.<sensor>          public summaries
 *   hub domain   yb-telemetry-agg          (no subjects: sources the site streams)   the cloud's copy
 */

/** The privacy tier of a reading: who may see it (the dataset tiers). */
export type TelemetryTier = DatasetPrivacy;
export const TELEMETRY_TIERS: readonly TelemetryTier[] = ['public', 'edge-private', 'user-private'];

/** Subject roots: raw readings, and per-window summaries. */
export const TELEMETRY_SUBJECT_ROOT = 'yb.telemetry';
export const TELEMETRY_AGG_SUBJECT_ROOT = 'yb.telemetry-agg';
/** The hub's stream of every site's summaries. */
export const TELEMETRY_CLOUD_STREAM = 'yb-telemetry-agg';

/**
 * How long raw readings of each tier are kept at the site (seconds). JetStream 2.9 has one
 * max age per stream: the stream keeps the longest, and the telemetry services purge the
 * shorter-lived tiers' older readings (`telemetryPurgeCutoffs`) each time they run.
 */
export const TELEMETRY_MAX_AGE_S: Record<TelemetryTier, number> = {
  'user-private': 3_600,
  'edge-private': 7 * 24 * 3_600,
  public: 7 * 24 * 3_600,
};
/** How long a site keeps its summaries, and the cloud its copy of them (seconds). */
export const TELEMETRY_AGG_MAX_AGE_S = 30 * 24 * 3_600;

/** The site's raw stream: `yb-telemetry-<site>`. */
export function telemetryStream(site: string): string {
  return `yb-telemetry-${assertToken(site, 'site name')}`;
}
/** The site's summary stream: `yb-telemetry-agg-<site>`. */
export function telemetryAggStream(site: string): string {
  return `yb-telemetry-agg-${assertToken(site, 'site name')}`;
}
/** The subject one raw reading is appended on. */
export function telemetryRawSubject(site: string, tier: TelemetryTier, sensor: string): string {
  return `${telemetryRawRoot(site)}.${assertToken(tier, 'privacy tier')}.${assertToken(sensor, 'sensor')}`;
}
/** Every raw reading of a site (`yb.telemetry.<site>.raw`, add `.>`): never exported by its leaf. */
export function telemetryRawRoot(site: string): string {
  return `${TELEMETRY_SUBJECT_ROOT}.${assertToken(site, 'site name')}.raw`;
}
/** The subject one sensor's summaries are appended on. */
export function telemetryAggSubject(site: string, sensor: string): string {
  return `${TELEMETRY_AGG_SUBJECT_ROOT}.${assertToken(site, 'site name')}.${assertToken(sensor, 'sensor')}`;
}

/** One device reading as ingested. */
export interface TelemetryReading {
  sensor: string;
  /** The user the reading belongs to (a wearable, a badge…); absent for a machine's. */
  user?: string;
  value: number;
  /** ISO 8601 time it was taken; default: when it was ingested. */
  at?: string;
}

/** A reading as stored in the site's raw stream. */
export interface StoredReading extends TelemetryReading {
  at: string;
  tier: TelemetryTier;
  site: string;
}

export interface TelemetryIngestInput {
  readings: TelemetryReading[];
  /** The tier of every reading in the call; default `edge-private`. */
  tier?: TelemetryTier;
}
export interface TelemetryIngestResult {
  site: string;
  stream: string;
  tier: TelemetryTier;
  stored: number;
  /** Stream sequence numbers of the first and last reading stored. */
  firstSeq: number;
  lastSeq: number;
}

export interface TelemetryAggregateInput {
  /** The window summarised: the last `windowS` seconds before the call (default 10). */
  windowS?: number;
  /** The tiers whose readings are summarised (default `public` and `edge-private`, never user-private unless named). */
  tiers?: TelemetryTier[];
}

/** One sensor's summary of one window: a message of the site's summary stream (public). */
export interface TelemetrySummary {
  site: string;
  sensor: string;
  count: number;
  mean: number;
  min: number;
  max: number;
  /** The window, ISO 8601: start inclusive, end exclusive (by the time the reading was stored). */
  windowStart: string;
  windowEnd: string;
}
export interface TelemetryAggregateResult {
  site: string;
  stream: string;
  readings: number;
  summaries: TelemetrySummary[];
}

/** `POST /telemetry/users/{user}/transfer` body: the site the user's edge-private readings leave and the one they go to. */
export interface TelemetryTransferRequest {
  from: string;
  to: string;
}
export interface TelemetryTransferResult {
  user: string;
  from: string;
  to: string;
  /** Readings copied to `to` and then deleted at `from`. */
  count: number;
}

/**
 * The settings of a site's summary stream (in its domain). The telemetry services and the
 * orchestrator (which creates it when it first sees the site, so the hub's source finds it)
 * create it with the same settings, so either may come first. Plain JSON: JetStream's defaults
 * (file storage, limits retention) for the rest.
 */
export function telemetryAggStreamConfig(site: string): {
  name: string;
  subjects: string[];
  max_age: number;
  description: string;
} {
  return {
    name: telemetryAggStream(site),
    subjects: [`${TELEMETRY_AGG_SUBJECT_ROOT}.${assertToken(site, 'site name')}.>`],
    max_age: TELEMETRY_AGG_MAX_AGE_S * 1e9,
    description: `Yunbian telemetry: public per-sensor window summaries of site ${site}`,
  };
}

/** The source of the hub's `yb-telemetry-agg` for one site: its summary stream, through its domain's JetStream API. */
export function telemetryCloudSource(site: string): { name: string; external: { api: string; deliver: string } } {
  return {
    name: telemetryAggStream(site),
    external: { api: `$JS.${assertToken(site, 'site name')}.API`, deliver: '' },
  };
}

/** The settings of a site's raw stream (in its domain); max age: the longest tier's. */
export function telemetryRawStreamConfig(site: string): {
  name: string;
  subjects: string[];
  max_age: number;
  description: string;
} {
  return {
    name: telemetryStream(site),
    subjects: [`${telemetryRawRoot(site)}.>`],
    max_age: Math.max(...TELEMETRY_TIERS.map((t) => TELEMETRY_MAX_AGE_S[t])) * 1e9,
    description: `Yunbian telemetry: raw readings of site ${site}, every tier; never leaves the site`,
  };
}
