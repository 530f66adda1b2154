import type { TrainCheckpoint, WeightTensor } from './cnn';

/** First bytes of an encoded checkpoint (and its layout's version). */
const MAGIC = 'YBCK1';

/**
 * A checkpoint as bytes: `YBCK1`, a uint32 (LE) length, a JSON header in which every tensor is
 * `{ shape, at }` (its offset in float32s), then every tensor's values as little-endian
 * float32, back to back. Exact: the values are the bits tfjs held.
 */
export function encodeCheckpoint(checkpoint: TrainCheckpoint): Buffer {
  const tensors: Float32Array[] = [];
  let at = 0;
  const ref = (t: WeightTensor) => {
    tensors.push(t.values);
    const r = { shape: t.shape, at };
    at += t.values.length;
    return r;
  };
  const layer = (l: { kernel: WeightTensor; bias: WeightTensor }) => ({ kernel: ref(l.kernel), bias: ref(l.bias) });
  const header = JSON.stringify({
    ...checkpoint,
    weights: {
      spec: checkpoint.weights.spec,
      convs: checkpoint.weights.convs.map(layer),
      dense: checkpoint.weights.dense.map(layer),
    },
    optimizer: { ...checkpoint.optimizer, moments: checkpoint.optimizer.moments.map(ref) },
  });
  const head = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(MAGIC.length + 4 + head.length + 4 * at);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(head.length, MAGIC.length);
  head.copy(out, MAGIC.length + 4);
  let offset = MAGIC.length + 4 + head.length;
  for (const values of tensors) {
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(out, offset);
    offset += values.byteLength;
  }
  return out;
}

/** The inverse of `encodeCheckpoint`; throws saying what is wrong with bytes that are not one. */
export function decodeCheckpoint(bytes: Uint8Array): TrainCheckpoint {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < MAGIC.length + 4 || buffer.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new Error(`not a training checkpoint (it does not start with ${MAGIC})`);
  const headLength = buffer.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + headLength;
  if (start > buffer.length)
    throw new Error(`truncated checkpoint: a ${headLength}-byte header in ${buffer.length} bytes`);
  const header = JSON.parse(buffer.toString('utf8', MAGIC.length + 4, start)) as TrainCheckpoint;
  const floats = new Float32Array((buffer.length - start) / 4);
  new Uint8Array(floats.buffer).set(buffer.subarray(start, start + floats.length * 4));
  const tensor = (r: unknown): WeightTensor => {
    const { shape, at } = r as { shape: number[]; at: number };
    const size = shape.reduce((a, d) => a * d, 1);
    if (at + size > floats.length) throw new Error(`truncated checkpoint: a tensor of ${size} values at ${at}`);
    return { shape, values: floats.slice(at, at + size) };
  };
  const layer = (l: { kernel: unknown; bias: unknown }) => ({ kernel: tensor(l.kernel), bias: tensor(l.bias) });
  return {
    ...header,
    weights: {
      spec: header.weights.spec,
      convs: header.weights.convs.map(layer),
      dense: header.weights.dense.map(layer),
    },
    optimizer: { ...header.optimizer, moments: header.optimizer.moments.map(tensor) },
  };
}
