import {
  TELEMETRY_MAX_AGE_S,
  TELEMETRY_TIERS,
  type TelemetryReading,
  type TelemetrySummary,
  type TelemetryTier,
} from '@yunbian/contracts';

/** Pure parts of the telemetry services: what is stored, what a window sums to, what is purged. */

/** The tiers a summary covers unless the call names others: user-private readings only when asked. */
export const DEFAULT_AGGREGATE_TIERS: TelemetryTier[] = ['public', 'edge-private'];
export const DEFAULT_WINDOW_S = 10;
/** Readings one ingest call takes (one publish each, acknowledged by the stream). */
export const MAX_READINGS_PER_CALL = 10_000;

const SENSOR_PATTERN = '^[A-Za-z0-9_-]{1,128}$';
export const TELEMETRY_INGEST_SCHEMA = {
  type: 'object',
  required: ['readings'],
  additionalProperties: false,
  properties: {
    readings: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_READINGS_PER_CALL,
      items: {
        type: 'object',
        required: ['sensor', 'value'],
        additionalProperties: false,
        properties: {
          sensor: { type: 'string', pattern: SENSOR_PATTERN },
          user: { type: 'string', minLength: 1, maxLength: 128 },
          value: { type: 'number' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
    tier: { type: 'string', enum: [...TELEMETRY_TIERS] },
  },
} as const;

export const TELEMETRY_AGGREGATE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    windowS: { type: 'number', exclusiveMinimum: 0, maximum: 7 * 24 * 3_600 },
    tiers: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...TELEMETRY_TIERS] } },
  },
} as const;

/** The tier of a raw subject `yb.telemetry.<site>.raw.<tier>.<sensor>` (undefined: not one). */
export function tierOfSubject(subject: string): TelemetryTier | undefined {
  const parts = subject.split('.');
  if (parts.length !== 6 || parts[3] !== 'raw') return undefined;
  return (TELEMETRY_TIERS as readonly string[]).includes(parts[4]) ? (parts[4] as TelemetryTier) : undefined;
}

/**
 * Per-sensor count, mean, min and max of the readings in one window, sensors in name order.
 * Sensors without readings in the window have no summary.
 */
export function summarise(
  readings: Pick<TelemetryReading, 'sensor' | 'value'>[],
  site: string,
  windowStart: Date,
  windowEnd: Date,
): TelemetrySummary[] {
  const bySensor = new Map<string, { count: number; sum: number; min: number; max: number }>();
  for (const { sensor, value } of readings) {
    if (!Number.isFinite(value)) continue;
    const s = bySensor.get(sensor);
    if (!s) bySensor.set(sensor, { count: 1, sum: value, min: value, max: value });
    else {
      s.count++;
      s.sum += value;
      s.min = Math.min(s.min, value);
      s.max = Math.max(s.max, value);
    }
  }
  return [...bySensor.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([sensor, s]) => ({
      site,
      sensor,
      count: s.count,
      mean: s.sum / s.count,
      min: s.min,
      max: s.max,
      windowStart: windowStart.toISOString(),
      windowEnd: windowEnd.toISOString(),
    }));
}

/**
 * The tiers kept shorter than the stream's own max age, each with the time before which its
 * readings are purged (the stream's max age removes the rest).
 */
export function telemetryPurgeCutoffs(
  now: Date,
  streamMaxAgeS: number,
  maxAge: Record<TelemetryTier, number> = TELEMETRY_MAX_AGE_S,
): { tier: TelemetryTier; before: Date }[] {
  return TELEMETRY_TIERS.filter((tier) => maxAge[tier] < streamMaxAgeS).map((tier) => ({
    tier,
    before: new Date(now.getTime() - maxAge[tier] * 1_000),
  }));
}

/** The longest tier max age: the raw stream's own (seconds). */
export function rawStreamMaxAgeS(maxAge: Record<TelemetryTier, number> = TELEMETRY_MAX_AGE_S): number {
  return Math.max(...TELEMETRY_TIERS.map((t) => maxAge[t]));
}

/**
 * The dedup id of one summary, so a retried aggregation does not append the same window twice;
 * it names the site, as the hub's stream (which sources every site's) dedups on it too.
 */
export function summaryMsgId(summary: TelemetrySummary): string {
  return `${summary.site}:${summary.sensor}:${summary.windowStart}:${summary.windowEnd}`;
}

/**
 * A reading's time: its `at` when given (refused when not a time), else `now`.
 * Returns an ISO string, or an error message saying what is accepted.
 */
export function readingTime(at: string | undefined, now: Date): string | { error: string } {
  if (at === undefined) return now.toISOString();
  const t = Date.parse(at);
  if (Number.isNaN(t)) return { error: `"${at}" is not an ISO 8601 time (e.g. 2026-12-01T10:00:00Z)` };
  return new Date(t).toISOString();
}
