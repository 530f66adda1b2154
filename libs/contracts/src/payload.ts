/** The object-store bucket large step values go to. */
export const PAYLOAD_BUCKET = 'yb-payloads';

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
