import { bytesToBase64, float32FromBase64 } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';
import type { NamedTensors, Tensor } from './dynamic-batcher';

/**
 * Tensors in JSON messages: the values' bytes as base64 (not a JSON array of numbers), in one of
 * three element types (`dtype`). Readers decode every form back to float32.
 *
 * - `float32` (the default; `dtype` may be left out): little-endian float32 bytes under `float32`.
 * - `float16`: little-endian IEEE 754 half-precision bytes under `data` (2 bytes a value).
 * - `int8`: signed bytes under `data` (1 byte a value) with a per-tensor `scale` and integer
 *   `zeroPoint`: value = (q − zeroPoint) × scale, as ONNX's DequantizeLinear.
 *
 * Narrowed bytes travel under `data`, never under `float32`, so a reader that predates `dtype`
 * refuses them (its schema requires `float32`) instead of misreading them as float32.
 */
export const WIRE_DTYPES = ['float32', 'float16', 'int8'] as const;
export type WireDtype = (typeof WIRE_DTYPES)[number];

/** A float32 tensor on the wire (what inference services answer). */
export interface WireTensor {
  dims: number[];
  dtype?: 'float32';
  float32: string;
}

/** A float32 tensor narrowed to float16 for the wire. */
export interface Float16WireTensor {
  dims: number[];
  dtype: 'float16';
  data: string;
}

/** A float32 tensor quantized to int8 for the wire: value = (q − zeroPoint) × scale. */
export interface Int8WireTensor {
  dims: number[];
  dtype: 'int8';
  data: string;
  scale: number;
  zeroPoint: number;
}

/** Any tensor a reader accepts. */
export type AnyWireTensor = WireTensor | Float16WireTensor | Int8WireTensor;

const ACCEPTED =
  'accepted: float32 (bytes under "float32", dtype optional), float16 (bytes under "data"), int8 (bytes under "data", with scale and zeroPoint)';

export function toWire(tensor: Tensor): WireTensor {
  return { dims: [...tensor.dims], float32: bytesToBase64(tensor.data) };
}

/** A float32 tensor in the wire form of `dtype` (float16 and int8 narrow the values: see `narrowTo`). */
export function packWire(tensor: Tensor, dtype: WireDtype): AnyWireTensor {
  const dims = [...tensor.dims];
  if (dtype === 'float32') return toWire(tensor);
  if (dtype === 'float16') return { dims, dtype, data: bytesToBase64(float16Bytes(tensor.data)) };
  const { q, scale, zeroPoint } = quantizeInt8(tensor.data);
  return { dims, dtype, data: bytesToBase64(q), scale, zeroPoint };
}

/** Any wire form to float32; an unknown dtype, a wrong byte count or a bad int8 scale is a BAD_REQUEST naming the tensor. */
export function fromWire(name: string, wire: AnyWireTensor): Tensor {
  const dims = Array.isArray(wire?.dims) ? wire.dims : [];
  const where = `tensor ${name} [${dims.join(', ')}]`;
  const fail = (message: string) =>
    new YunbianError('BAD_REQUEST', `${where}: ${message}`, { pointer: `/inputs/${name}` });
  const expected = dims.reduce((a, b) => a * b, 1);
  const dtype = (wire as { dtype?: unknown }).dtype ?? 'float32';
  switch (dtype) {
    case 'float32': {
      const data = (wire as WireTensor).float32;
      if (typeof data !== 'string') throw fail(`the bytes of a float32 tensor travel as base64 under "float32"`);
      try {
        return { dims: [...dims], data: float32FromBase64(data, expected) };
      } catch (err) {
        throw fail((err as Error).message);
      }
    }
    case 'float16': {
      const bytes = dataBytes(wire, fail);
      if (bytes.byteLength !== 2 * expected)
        throw fail(
          `float16 data must be 2 bytes a value: ${2 * expected} bytes for ${expected} values, got ${bytes.byteLength}`,
        );
      return { dims: [...dims], data: float32FromFloat16Bytes(bytes) };
    }
    case 'int8': {
      const bytes = dataBytes(wire, fail);
      if (bytes.byteLength !== expected)
        throw fail(`int8 data must be 1 byte a value: ${expected} bytes, got ${bytes.byteLength}`);
      const { scale, zeroPoint } = wire as Int8WireTensor;
      if (typeof scale !== 'number' || !(scale > 0) || !Number.isFinite(scale))
        throw fail(`an int8 tensor needs a finite scale above 0 (got ${JSON.stringify(scale)})`);
      if (!Number.isInteger(zeroPoint) || zeroPoint < -128 || zeroPoint > 127)
        throw fail(`an int8 tensor needs an integer zeroPoint in [-128, 127] (got ${JSON.stringify(zeroPoint)})`);
      const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return { dims: [...dims], data: dequantizeInt8(q, scale, zeroPoint) };
    }
    default:
      throw fail(`dtype ${JSON.stringify(dtype)} is not one this reader knows; ${ACCEPTED}`);
  }
}

function dataBytes(wire: AnyWireTensor, fail: (m: string) => Error): Uint8Array {
  const data = (wire as { data?: unknown }).data;
  if (typeof data !== 'string')
    throw fail(`the bytes of a ${(wire as { dtype: string }).dtype} tensor travel as base64 under "data"`);
  const bytes = Buffer.from(data, 'base64');
  // A fresh copy: Buffer.from may return a slice of a shared pool, unaligned for typed arrays.
  return new Uint8Array(bytes);
}

/** Bytes of values a wire tensor carries (the base64 decoded; the JSON envelope not counted). */
export function wireDataBytes(wire: AnyWireTensor): number {
  const b64 = wire.dtype === 'float16' || wire.dtype === 'int8' ? wire.data : wire.float32;
  if (typeof b64 !== 'string') return 0;
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}

export function namedFromWire(wire: Record<string, AnyWireTensor>): NamedTensors {
  return Object.fromEntries(Object.entries(wire).map(([name, t]) => [name, fromWire(name, t)]));
}

export function namedToWire(tensors: NamedTensors): Record<string, WireTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, toWire(t)]));
}

// --- float16 -------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE 754 half-precision bits nearest a float32 (ties to even; past 65504 rounds to ±Infinity; NaN stays NaN). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or zero): the implicit 1 joins the mantissa, shifted right.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rest > mid || (rest === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is what rounding up should do (up to Infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half);
}

/** The float32 value of half-precision bits (exact). */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 values as little-endian half-precision bytes. */
export function float16Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(2 * i, float16Bits(values[i]), true);
  return out;
}

export function float32FromFloat16Bytes(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = float16Value(view.getUint16(2 * i, true));
  return out;
}

// --- int8 ----------------------------------------------------------------------------------

/**
 * Per-tensor affine int8 over the values' range widened to include 0 (ONNX's dynamic
 * quantization: zero, what ReLU makes most of, stays exact): scale = (max − min) / 255,
 * zeroPoint = round(−128 − min / scale). Every finite value comes back within scale / 2.
 * Non-finite values are clamped to the ends of the range.
 */
export function quantizeInt8(values: Float32Array): { q: Int8Array; scale: number; zeroPoint: number } {
  let lo = 0;
  let hi = 0;
  for (const v of values) {
    if (v < lo && Number.isFinite(v)) lo = v;
    if (v > hi && Number.isFinite(v)) hi = v;
  }
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.min(127, Math.max(-128, Math.round(-128 - lo / scale)));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const r = Number.isNaN(v) ? zeroPoint : Math.round(v / scale) + zeroPoint;
    q[i] = r < -128 ? -128 : r > 127 ? 127 : r;
  }
  return { q, scale, zeroPoint };
}

export function dequantizeInt8(q: Int8Array, scale: number, zeroPoint: number): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = (q[i] - zeroPoint) * scale;
  return out;
}

/** The float32 values as they arrive after travelling in `dtype` (what the tail of a lossy split reads). */
export function narrowTo(values: Float32Array, dtype: WireDtype): Float32Array {
  if (dtype === 'float32') return values;
  if (dtype === 'float16') return float32FromFloat16Bytes(float16Bytes(values));
  const { q, scale, zeroPoint } = quantizeInt8(values);
  return dequantizeInt8(q, scale, zeroPoint);
}
