/**
 * JSON forms of the steps' binary data, for NATS messages: typed arrays travel as base64 of
 * their bytes (`@yunbian/common` binary.ts, as inference tensors do).
 */
import { bytesToBase64, float32FromBase64 } from '@yunbian/common';
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
  return { dims: [...dims], data: decodeFloats(float32, dims, `tensor [${dims.join(', ')}]`) };
}

export function probabilityMapToWire({ width, height, data }: ProbabilityMap): WireProbabilityMap {
  return { width, height, float32: bytesToBase64(data) };
}

export function probabilityMapFromWire({ width, height, float32 }: WireProbabilityMap): ProbabilityMap {
  return { width, height, data: decodeFloats(float32, [height, width], `probability map ${width}×${height}`) };
}

/** The values for `dims`, or an error naming `what`. */
function decodeFloats(base64: string, dims: readonly number[], what: string): Float32Array {
  const expected = dims.reduce((product, dim) => product * dim, 1);
  try {
    return float32FromBase64(base64, expected);
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(message.startsWith('needs') ? `${what} ${message}` : message);
  }
}
