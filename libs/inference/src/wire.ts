import { bytesToBase64, float32FromBase64 } from '@yunbian/common';
import { YunbianError } from '@yunbian/transport';
import type { NamedTensors, Tensor } from './dynamic-batcher';

/** A tensor in a JSON message: float32 little-endian bytes as base64 (not a JSON array of numbers). */
export interface WireTensor {
  dims: number[];
  float32: string;
}

export function toWire(tensor: Tensor): WireTensor {
  return { dims: [...tensor.dims], float32: bytesToBase64(tensor.data) };
}

export function fromWire(name: string, wire: WireTensor): Tensor {
  const expected = wire.dims.reduce((a, b) => a * b, 1);
  try {
    return { dims: [...wire.dims], data: float32FromBase64(wire.float32, expected) };
  } catch (err) {
    throw new YunbianError('BAD_REQUEST', `tensor ${name} [${wire.dims.join(', ')}]: ${(err as Error).message}`, {
      pointer: `/inputs/${name}`,
    });
  }
}

export function namedFromWire(wire: Record<string, WireTensor>): NamedTensors {
  return Object.fromEntries(Object.entries(wire).map(([name, t]) => [name, fromWire(name, t)]));
}

export function namedToWire(tensors: NamedTensors): Record<string, WireTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, toWire(t)]));
}
