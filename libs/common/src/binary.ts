/**
 * Binary data in JSON messages: the bytes of a typed array as base64 (float32 little-endian,
 * as every platform Yunbian targets). `JSON.stringify` would write a Float32Array as an
 * object keyed by index, 10× larger.
 */
export function bytesToBase64(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

/**
 * float32 values from base64, copied into a fresh, 4-byte-aligned buffer (Buffer.from may
 * return a slice of a shared pool). With `expected`, the count must match. Errors say
 * what was wrong; callers add where (a tensor name, a JSON pointer).
 */
export function float32FromBase64(base64: string, expected?: number): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`float32 data must be a multiple of 4 bytes (got ${bytes.byteLength})`);
  }
  const values = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(values.buffer).set(bytes);
  if (expected !== undefined && values.length !== expected) {
    throw new Error(`needs ${expected} float32 values, got ${values.length}`);
  }
  return values;
}
