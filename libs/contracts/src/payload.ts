/** The object-store bucket large step values go to. */
export const PAYLOAD_BUCKET = 'yb-payloads';

/** What travels on NATS in place of a large value. */
export interface PayloadRef {
  $ybRef: { bucket: string; name: string; bytes: number };
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
