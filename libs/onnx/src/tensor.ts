import os from 'node:os';
import { onnx } from 'onnx-proto';

// raw_data is little-endian; typed arrays use the host's order.
if (os.endianness() !== 'LE')
  throw new Error('@yunbian/onnx reads raw_data as little-endian and needs a little-endian host');

/** ONNX element types (`TensorProto.DataType`), by the names onnxruntime-node uses. */
export const DATA_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
} as const;

export type DataTypeName = keyof typeof DATA_TYPES;

const NAME_OF = new Map<number, DataTypeName>(
  Object.entries(DATA_TYPES).map(([name, code]) => [code, name as DataTypeName]),
);

/** The name of an element type code; `type<code>` for codes this library has no name for. */
export function dataTypeName(code: number): string {
  return NAME_OF.get(code) ?? `type${code}`;
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/**
 * A constant tensor (an initializer or a Constant node's value). `data` is a typed array of
 * its own, aligned memory: int64 as BigInt64Array (exact), float16/bfloat16 as their raw
 * Uint16Array bits, bool as Uint8Array, strings as UTF-8 decoded strings.
 */
export interface Tensor {
  name: string;
  dataType: number;
  dims: number[];
  data: TensorData;
  docString?: string;
}

interface TypedArrayCtor {
  BYTES_PER_ELEMENT: number;
  new (length: number): Exclude<TensorData, string[]>;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): Exclude<TensorData, string[]>;
}

const ARRAYS: Record<number, TypedArrayCtor> = {
  1: Float32Array,
  2: Uint8Array,
  3: Int8Array,
  4: Uint16Array,
  5: Int16Array,
  6: Int32Array,
  7: BigInt64Array,
  9: Uint8Array,
  10: Uint16Array,
  11: Float64Array,
  12: Uint32Array,
  13: BigUint64Array,
  16: Uint16Array,
} as unknown as Record<number, TypedArrayCtor>;

/** Number of elements of a shape (1 for a scalar `[]`). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** A Long, number or bigint field as a number; throws past 2^53 (ONNX dims and ints are small in practice). */
export function toNumber(value: number | { toString(): string } | bigint | null | undefined, what = 'value'): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  const big = BigInt(value.toString());
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER))
    throw new RangeError(`${what} ${big} does not fit a JavaScript number exactly`);
  return Number(big);
}

/** An empty typed array of the element type (throws for types that have no fixed-width layout). */
export function typedArrayFor(dataType: number, length: number): Exclude<TensorData, string[]> {
  const Ctor = ARRAYS[dataType];
  if (!Ctor) throw new Error(`tensors of element type ${dataTypeName(dataType)} are not supported`);
  return new Ctor(length);
}

/** Values of a tensor as numbers (int64 converted, exactly where safe; throws for strings). */
export function tensorValues(t: Tensor): Float64Array {
  if (Array.isArray(t.data)) throw new Error(`tensor ${t.name} holds strings, not numbers`);
  const out = new Float64Array(t.data.length);
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
    t.data.forEach((v, i) => (out[i] = toNumber(v, `element ${i} of ${t.name}`)));
  } else out.set(t.data as ArrayLike<number>);
  return out;
}

/** A tensor from plain values (numbers converted into the element type's typed array). */
export function createTensor(
  name: string,
  type: DataTypeName,
  dims: number[],
  values: ArrayLike<number> | ArrayLike<bigint>,
): Tensor {
  const dataType = DATA_TYPES[type];
  const data = typedArrayFor(dataType, values.length);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
  } else {
    for (let i = 0; i < values.length; i++) data[i] = Number(values[i]);
  }
  if (elementCount(dims) !== data.length)
    throw new RangeError(
      `tensor ${name}: dims [${dims.join(', ')}] hold ${elementCount(dims)} values, got ${data.length}`,
    );
  return { name, dataType, dims: [...dims], data };
}

/**
 * Decodes a TensorProto. `raw_data` is copied into fresh memory before a typed view is made
 * (protobufjs hands out unaligned slices of the file's buffer); typed fields (`float_data`,
 * `int64_data`, …) are converted to the same typed arrays. External data is refused.
 */
export function tensorFromProto(proto: onnx.ITensorProto): Tensor {
  const name = proto.name ?? '';
  const dataType = proto.dataType ?? 0;
  const dims = (proto.dims ?? []).map((d) => toNumber(d, `a dimension of tensor ${name}`));
  if (proto.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || proto.externalData?.length)
    throw new Error(`tensor ${name} keeps its data in an external file, which is not supported; embed it in the model`);
  if (proto.segment) throw new Error(`tensor ${name} is a segment of a larger tensor, which is not supported`);
  const count = elementCount(dims);
  const base: Omit<Tensor, 'data'> = {
    name,
    dataType,
    dims,
    ...(proto.docString ? { docString: proto.docString } : {}),
  };
  if (dataType === DATA_TYPES.string) {
    return { ...base, data: (proto.stringData ?? []).map((s) => Buffer.from(s).toString('utf8')) };
  }
  const raw = proto.rawData;
  if (raw && raw.length > 0) {
    const Ctor = ARRAYS[dataType];
    if (!Ctor) throw new Error(`tensor ${name} has element type ${dataTypeName(dataType)}, which is not supported`);
    if (raw.length !== count * Ctor.BYTES_PER_ELEMENT)
      throw new Error(
        `tensor ${name}: raw_data has ${raw.length} bytes, dims [${dims.join(', ')}] of ${dataTypeName(dataType)} need ${count * Ctor.BYTES_PER_ELEMENT}`,
      );
    const copy = new ArrayBuffer(raw.length);
    new Uint8Array(copy).set(raw);
    return { ...base, data: new Ctor(copy, 0, count) };
  }
  const data = typedArrayFor(dataType, count);
  const source: ArrayLike<unknown> =
    dataType === DATA_TYPES.float32
      ? (proto.floatData ?? [])
      : dataType === DATA_TYPES.float64
        ? (proto.doubleData ?? [])
        : dataType === DATA_TYPES.int64
          ? (proto.int64Data ?? [])
          : dataType === DATA_TYPES.uint32 || dataType === DATA_TYPES.uint64
            ? (proto.uint64Data ?? [])
            : (proto.int32Data ?? []);
  if (source.length !== count)
    throw new Error(`tensor ${name}: ${source.length} values stored, dims [${dims.join(', ')}] need ${count}`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < count; i++) data[i] = BigInt(String(source[i]));
  } else if (dataType === DATA_TYPES.float16 || dataType === DATA_TYPES.bfloat16) {
    // 16-bit floats sit in int32_data as their bit patterns.
    for (let i = 0; i < count; i++) data[i] = Number(source[i]) & 0xffff;
  } else {
    for (let i = 0; i < count; i++) data[i] = Number(source[i]);
  }
  return { ...base, data };
}

/** Encodes a tensor, its numbers as little-endian `raw_data` (strings as `string_data`). */
export function tensorToProto(t: Tensor): onnx.ITensorProto {
  const proto: onnx.ITensorProto = { name: t.name, dataType: t.dataType, dims: [...t.dims] };
  if (t.docString) proto.docString = t.docString;
  if (Array.isArray(t.data)) proto.stringData = t.data.map((s) => Buffer.from(s, 'utf8'));
  else proto.rawData = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return proto;
}
