/**
 * A minimal writer of ONNX files (protobuf `ModelProto`), for tests and benchmarks that
 * need small real models without shipping binary fixtures: a graph of nodes with tensor
 * initializers and typed inputs/outputs. Field numbers are those of onnx/onnx.proto.
 */

export type OnnxElementType = 'float32' | 'int64';

const ELEMENT_TYPE: Record<OnnxElementType, number> = { float32: 1, int64: 7 };

export interface OnnxTensor {
  name?: string;
  type: OnnxElementType;
  dims: number[];
  values: number[];
}

export interface OnnxValue {
  name: string;
  type: OnnxElementType;
  /** Numbers are fixed sizes, strings are symbolic (dynamic) dimensions. */
  shape: (number | string)[];
}

export type OnnxAttribute = { tensor: OnnxTensor } | { int: number } | { float: number } | { ints: number[] };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, OnnxAttribute>;
}

export interface OnnxGraph {
  name?: string;
  nodes: OnnxNode[];
  initializers?: (OnnxTensor & { name: string })[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** Default opset 13. */
  opset?: number;
}

/** Protobuf encoding, only the wire types ONNX needs (varint, 32-bit, length-delimited). */
class Writer {
  private readonly parts: Buffer[] = [];

  private tag(field: number, wireType: number): void {
    this.varint(BigInt((field << 3) | wireType));
  }

  private varint(value: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement, as protobuf does.
    let v = BigInt.asUintN(64, value);
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.parts.push(Buffer.from(bytes));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array | string): this {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    this.tag(field, 2);
    this.varint(BigInt(b.length));
    this.parts.push(b);
    return this;
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, ELEMENT_TYPE[t.type]);
  if (t.name) w.bytes(8, t.name);
  let raw: Buffer;
  if (t.type === 'float32') {
    raw = Buffer.alloc(4 * t.values.length);
    t.values.forEach((v, i) => raw.writeFloatLE(v, 4 * i));
  } else {
    raw = Buffer.alloc(8 * t.values.length);
    t.values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), 8 * i));
  }
  w.bytes(9, raw); // raw_data, little-endian
}

function writeValue(w: Writer, v: OnnxValue): void {
  w.bytes(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ELEMENT_TYPE[v.type]);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.bytes(2, d)));
      });
    }),
  );
}

function writeAttribute(w: Writer, name: string, a: OnnxAttribute): void {
  w.bytes(1, name);
  if ('tensor' in a) w.message(5, (t) => writeTensor(t, a.tensor)).int(20, 4);
  else if ('int' in a) w.int(3, a.int).int(20, 2);
  else if ('float' in a) w.float(2, a.float).int(20, 1);
  else {
    for (const i of a.ints) w.int(8, i);
    w.int(20, 7);
  }
}

/** The bytes of an ONNX model (IR version 8) holding `graph`. */
export function writeOnnxModel(graph: OnnxGraph): Buffer {
  const model = new Writer();
  model.int(1, 8); // ir_version
  model.bytes(2, 'yunbian-onnx-writer');
  model.message(7, (g) => {
    for (const n of graph.nodes) {
      g.message(1, (node) => {
        for (const i of n.inputs) node.bytes(1, i);
        for (const o of n.outputs) node.bytes(2, o);
        if (n.name) node.bytes(3, n.name);
        node.bytes(4, n.op);
        for (const [name, a] of Object.entries(n.attributes ?? {})) node.message(5, (w) => writeAttribute(w, name, a));
      });
    }
    g.bytes(2, graph.name ?? 'graph');
    for (const t of graph.initializers ?? []) g.message(5, (w) => writeTensor(w, t));
    for (const v of graph.inputs) g.message(11, (w) => writeValue(w, v));
    for (const v of graph.outputs) g.message(12, (w) => writeValue(w, v));
  });
  model.message(8, (opset) => opset.bytes(1, '').int(2, graph.opset ?? 13));
  return model.finish();
}

/**
 * `y = x + bias` over `[batch, width]` float32, bias `offset + i` at position i: a real
 * model of `4 × width` weight bytes; different offsets make versions whose answers differ.
 */
export function addBiasModel(width = 4, offset = 0): Buffer {
  return writeOnnxModel({
    name: 'add-bias',
    nodes: [{ op: 'Add', inputs: ['x', 'bias'], outputs: ['y'] }],
    initializers: [
      { name: 'bias', type: 'float32', dims: [width], values: Array.from({ length: width }, (_, i) => offset + i) },
    ],
    inputs: [{ name: 'x', type: 'float32', shape: ['batch', width] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['batch', width] }],
  });
}

/**
 * A model of a few hundred bytes whose only node, `ConstantOfShape`, makes a float32 tensor
 * of `elements` ones from a constant shape: harmless unless a graph optimiser folds the
 * constant at load time, which then allocates `4 × elements` bytes.
 */
export function constantOfShapeModel(elements: number): Buffer {
  return writeOnnxModel({
    name: 'constant-of-shape',
    nodes: [
      {
        op: 'ConstantOfShape',
        inputs: ['shape'],
        outputs: ['filled'],
        attributes: { value: { tensor: { type: 'float32', dims: [1], values: [1] } } },
      },
      { op: 'Add', inputs: ['x', 'filled'], outputs: ['y'] },
    ],
    initializers: [{ name: 'shape', type: 'int64', dims: [1], values: [elements] }],
    inputs: [{ name: 'x', type: 'float32', shape: [1] }],
    outputs: [{ name: 'y', type: 'float32', shape: [elements] }],
  });
}
