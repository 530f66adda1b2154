/**
 * What a site engine tells the cloud about its runs, once each: the cloud's /metrics counts
 * site runs and step times from these facts (label `site`), so runs done while the uplink
 * was cut are counted when it returns. A site engine appends them to the stream
 * `SITE_FACTS_STREAM` in its site's JetStream domain with `id` as the message id (the
 * stream drops a repeat within its duplicate window); the cloud reads each site's stream
 * with the durable consumer `SITE_FACTS_CONSUMER` and acknowledges a fact once applied.
 */
export const SITE_FACTS_STREAM = 'yb-site-facts';
/** The cloud's durable consumer on every site's facts stream. */
export const SITE_FACTS_CONSUMER = 'yb-cloud-site-facts';

export const SITE_FACT_KINDS = ['started', 'finished'] as const;
export type SiteFactKind = (typeof SITE_FACT_KINDS)[number];

/** One step attempt of a finished run, as the cloud's step-duration histogram records it. */
export interface SiteStepFact {
  /** `name@version` of the instance that ran it. */
  service: string;
  node: string;
  /** `ok` or the error's code. */
  outcome: string;
  durationMs: number;
}

export interface SiteRunFact {
  /** Unique per fact, stable across resends (the message id): `<run>.started` or `<run>.finished.<finishedAt>`. */
  id: string;
  kind: SiteFactKind;
  site: string;
  /** The site engine that executed the run. */
  engine: string;
  runId: string;
  workflow: string;
  /** When it happened (the run's `createdAt` or `finishedAt`). */
  at: string;
  /** A finished run's status (`succeeded`, `failed`, `cancelled`). */
  status?: string;
  /** A finished run's step attempts that reached an instance and ended. */
  steps?: SiteStepFact[];
}
