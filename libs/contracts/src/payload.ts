/** The object-store bucket large step values go to. */
export const PAYLOAD_BUCKET = 'yb-payloads';

/**
 * Request header an engine sets on service calls when its payloads live in a JetStream domain
 * other than the workers' default (a site engine: its site's): the worker stores large
 * outputs there, so a site run's data stays at the site instead of crossing the uplink.
 */
export const PAYLOAD_DOMAIN_HEADER = 'Yb-Payload-Domain';

/** What travels on NATS in place of a large value. */
export interface PayloadRef {
  /**
   * `domain`: the JetStream domain holding the bucket when it is not the reader's default
   * (a site engine's payloads stay in its site's domain; the site's workers read them there).
   */
  $ybRef: { bucket: string; name: string; bytes: number; domain?: string };
}

export function isPayloadRef(value: unknown): value is PayloadRef {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    typeof (value as PayloadRef).$ybRef?.name === 'string' &&
    Object.keys(value).length === 1
  );
}

/**
 * What a run record that leaves an edge site holds in place of a value above the `public`
 * tier (or one too large for a message): where the value is — the site, the run and the JSON
 * pointer into its record — its tier and its size in bytes. Only the site resolves it: its
 * site engine's `GET /runs/{run}` shows the record whole.
 */
export interface SiteRef {
  $ybSiteRef: {
    site: string;
    run: string;
    path: string;
    tier: 'public' | 'edge-private' | 'user-private';
    bytes: number;
  };
}

export function isSiteRef(value: unknown): value is SiteRef {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    typeof (value as SiteRef).$ybSiteRef?.path === 'string' &&
    Object.keys(value).length === 1
  );
}
