/**
 * JSON forms of the steps' binary data, for NATS messages: typed arrays travel as base64 of
 * their bytes (little-endian float32 for tensors, as every platform Yunbian targets).
 * `JSON.stringify` would turn a Float32Array into an object keyed by index, 10× larger.
 */
import type { FloatTensor, ProbabilityMap, RgbaImage } from './types';

/** An image as RGBA bytes, or as RGB bytes when alpha carries nothing (crops: a quarter smaller). */
export type WireImage = { width: number; height: number } & ({ rgba: string } | { rgb: string });

export interface WireTensor {
  dims: number[];
  /** float32 little-endian bytes, base64. */
  float32: string;
}

export interface WireProbabilityMap {
  width: number;
  height: number;
  float32: string;
}

export function imageToWire({ width, height, data }: RgbaImage): WireImage {
  return { width, height, rgba: bytesToBase64(data) };
}

/** The image without its alpha channel (decoded with alpha 255). */
export function imageToWireRgb({ width, height, data }: RgbaImage): WireImage {
  const rgb = Buffer.allocUnsafe(width * height * 3);
  for (let source = 0, target = 0; target < rgb.length; source += 4, target += 3) {
    rgb[target] = data[source];
    rgb[target + 1] = data[source + 1];
    rgb[target + 2] = data[source + 2];
  }
  return { width, height, rgb: rgb.toString('base64') };
}

export function imageFromWire(image: WireImage): RgbaImage {
  const { width, height } = image;
  if ('rgba' in image) {
    const data = new Uint8Array(Buffer.from(image.rgba, 'base64'));
    if (data.length !== width * height * 4) {
      throw new Error(`image ${width}×${height} needs ${width * height * 4} RGBA bytes, got ${data.length}`);
    }
    return { width, height, data };
  }
  const rgb = Buffer.from(image.rgb, 'base64');
  if (rgb.length !== width * height * 3) {
    throw new Error(`image ${width}×${height} needs ${width * height * 3} RGB bytes, got ${rgb.length}`);
  }
  const data = new Uint8Array(width * height * 4);
  for (let source = 0, target = 0; source < rgb.length; source += 3, target += 4) {
    data[target] = rgb[source];
    data[target + 1] = rgb[source + 1];
    data[target + 2] = rgb[source + 2];
    data[target + 3] = 255;
  }
  return { width, height, data };
}

export function tensorToWire({ dims, data }: FloatTensor): WireTensor {
  return { dims: [...dims], float32: bytesToBase64(data) };
}

export function tensorFromWire({ dims, float32 }: WireTensor): FloatTensor {
  const data = floatsFromBase64(float32);
  const expected = dims.reduce((product, dim) => product * dim, 1);
  if (data.length !== expected) {
    throw new Error(`tensor [${dims.join(', ')}] needs ${expected} float32 values, got ${data.length}`);
  }
  return { dims: [...dims], data };
}

export function probabilityMapToWire({ width, height, data }: ProbabilityMap): WireProbabilityMap {
  return { width, height, float32: bytesToBase64(data) };
}

export function probabilityMapFromWire({ width, height, float32 }: WireProbabilityMap): ProbabilityMap {
  const data = floatsFromBase64(float32);
  if (data.length !== width * height) {
    throw new Error(`probability map ${width}×${height} needs ${width * height} float32 values, got ${data.length}`);
  }
  return { width, height, data };
}

function bytesToBase64(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

function floatsFromBase64(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength % 4 !== 0)
    throw new Error(`float32 data must be a multiple of 4 bytes (got ${bytes.byteLength})`);
  // Copy into a fresh, 4-byte-aligned buffer: Buffer.from may return a slice of a shared pool.
  return new Float32Array(new Uint8Array(bytes).buffer);
}
