import { YunbianError } from '@yunbian/transport';
import type { NamedTensors, Tensor } from './dynamic-batcher';

/** A tensor in a JSON message: float32 little-endian bytes as base64 (not a JSON array of numbers). */
export interface WireTensor {
  dims: number[];
  float32: string;
}

export function toWire(tensor: Tensor): WireTensor {
  return {
    dims: [...tensor.dims],
    float32: Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).toString('base64'),
  };
}

export function fromWire(name: string, wire: WireTensor): Tensor {
  const bytes = Buffer.from(wire.float32, 'base64');
  if (bytes.length % 4 !== 0)
    throw new YunbianError(
      'BAD_REQUEST',
      `tensor ${name}: ${bytes.length} bytes is not a whole number of float32 values`,
    );
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  const expected = wire.dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new YunbianError(
      'BAD_REQUEST',
      `tensor ${name} [${wire.dims.join(', ')}] needs ${expected} float32 values, got ${data.length}`,
      {
        pointer: `/inputs/${name}`,
      },
    );
  }
  return { dims: [...wire.dims], data };
}

export function namedFromWire(wire: Record<string, WireTensor>): NamedTensors {
  return Object.fromEntries(Object.entries(wire).map(([name, t]) => [name, fromWire(name, t)]));
}

export function namedToWire(tensors: NamedTensors): Record<string, WireTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, toWire(t)]));
}
