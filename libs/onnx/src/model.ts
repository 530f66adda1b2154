import { onnx } from 'onnx-proto';
import { dataTypeName, tensorFromProto, tensorToProto, toNumber, type Tensor } from './tensor';

/**
 * An ONNX model as plain objects: what the protobuf `ModelProto` holds, with names instead of
 * field numbers, numbers instead of Longs, and tensors as typed arrays. `decodeModel` and
 * `encodeModel` are inverses for every field of the onnx-proto schema (ONNX IR 8, onnx 1.10):
 * fields of later IR versions are unknown to it and dropped on re-encode (a model's
 * `irVersion` is kept as it was). Parts this library does not interpret (functions, training
 * info, sparse tensors, non-tensor types, quantization annotations) are kept as their protos.
 */
export interface OnnxModel {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  metadataProps: { key: string; value: string }[];
  graph: Graph;
  functions?: onnx.IFunctionProto[];
  trainingInfo?: onnx.ITrainingInfoProto[];
}

export interface Graph {
  name: string;
  nodes: OnnxNode[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Types and shapes of intermediate tensors, where the file states them. */
  valueInfo: ValueInfo[];
  docString?: string;
  sparseInitializers?: onnx.ISparseTensorProto[];
  quantizationAnnotation?: onnx.ITensorAnnotation[];
}

export interface OnnxNode {
  opType: string;
  /** `''` is the default ONNX domain. */
  domain: string;
  name: string;
  /** Tensor names; `''` marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  docString?: string;
}

/** A dimension: a number when fixed, the symbolic name when dynamic, null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  /** Element type code of a tensor value (absent for sequences, maps… see `type`). */
  elemType?: number;
  /** Dimensions of a tensor value; absent when the file states no shape. */
  shape?: Dim[];
  /** The full TypeProto, kept when the value is not a plain tensor. */
  type?: onnx.ITypeProto;
  docString?: string;
}

export type Attribute =
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'tensor'; value: Tensor }
  | { name: string; type: 'graph'; value: Graph }
  | { name: string; type: 'floats'; value: number[] }
  | { name: string; type: 'ints'; value: number[] }
  | { name: string; type: 'strings'; value: string[] }
  | { name: string; type: 'tensors'; value: Tensor[] }
  | { name: string; type: 'graphs'; value: Graph[] }
  /** Sparse tensors, type protos and attribute references, kept as the proto. */
  | { name: string; type: 'other'; value: onnx.IAttributeProto };

const A = onnx.AttributeProto.AttributeType;
const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

const utf8 = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');
const optional = <K extends string, V>(key: K, value: V | null | undefined | '') =>
  (value === undefined || value === null || value === '' ? {} : { [key]: value }) as { [P in K]?: V };

function attributeFromProto(a: onnx.IAttributeProto): Attribute {
  const name = a.name ?? '';
  if (a.refAttrName) return { name, type: 'other', value: a };
  switch (a.type) {
    case A.FLOAT:
      return { name, type: 'float', value: a.f ?? 0 };
    case A.INT:
      return { name, type: 'int', value: toNumber(a.i, `attribute ${name}`) };
    case A.STRING:
      return { name, type: 'string', value: utf8(a.s) };
    case A.TENSOR:
      return { name, type: 'tensor', value: tensorFromProto(a.t ?? {}) };
    case A.GRAPH:
      return { name, type: 'graph', value: graphFromProto(a.g ?? {}) };
    case A.FLOATS:
      return { name, type: 'floats', value: [...(a.floats ?? [])] };
    case A.INTS:
      return { name, type: 'ints', value: (a.ints ?? []).map((i) => toNumber(i, `attribute ${name}`)) };
    case A.STRINGS:
      return { name, type: 'strings', value: (a.strings ?? []).map(utf8) };
    case A.TENSORS:
      return { name, type: 'tensors', value: (a.tensors ?? []).map(tensorFromProto) };
    case A.GRAPHS:
      return { name, type: 'graphs', value: (a.graphs ?? []).map(graphFromProto) };
    default:
      return { name, type: 'other', value: a };
  }
}

function attributeToProto(a: Attribute): onnx.IAttributeProto {
  switch (a.type) {
    case 'float':
      return { name: a.name, type: A.FLOAT, f: a.value };
    case 'int':
      return { name: a.name, type: A.INT, i: a.value };
    case 'string':
      return { name: a.name, type: A.STRING, s: Buffer.from(a.value, 'utf8') };
    case 'tensor':
      return { name: a.name, type: A.TENSOR, t: tensorToProto(a.value) };
    case 'graph':
      return { name: a.name, type: A.GRAPH, g: graphToProto(a.value) };
    case 'floats':
      return { name: a.name, type: A.FLOATS, floats: a.value };
    case 'ints':
      return { name: a.name, type: A.INTS, ints: a.value };
    case 'strings':
      return { name: a.name, type: A.STRINGS, strings: a.value.map((s) => Buffer.from(s, 'utf8')) };
    case 'tensors':
      return { name: a.name, type: A.TENSORS, tensors: a.value.map(tensorToProto) };
    case 'graphs':
      return { name: a.name, type: A.GRAPHS, graphs: a.value.map(graphToProto) };
    case 'other':
      return a.value;
  }
}

function valueInfoFromProto(v: onnx.IValueInfoProto): ValueInfo {
  const info: ValueInfo = { name: v.name ?? '', ...optional('docString', v.docString) };
  const t = v.type;
  const tensor = t?.tensorType;
  // A plain tensor type (no denotation) is read into elemType/shape; anything else stays a proto.
  if (t && tensor && !t.denotation && !tensor.shape?.dim?.some((d) => d.denotation)) {
    info.elemType = tensor.elemType ?? 0;
    if (tensor.shape) {
      info.shape = (tensor.shape.dim ?? []).map((d) =>
        // A decoded Dimension shows the oneof's defaults on its prototype: look at own fields.
        has(d, 'dimValue')
          ? toNumber(d.dimValue, `a dimension of ${info.name}`)
          : has(d, 'dimParam') && d.dimParam
            ? d.dimParam
            : null,
      );
    }
  } else if (t) info.type = t;
  return info;
}

function valueInfoToProto(v: ValueInfo): onnx.IValueInfoProto {
  const proto: onnx.IValueInfoProto = { name: v.name, ...optional('docString', v.docString) };
  if (v.type) proto.type = v.type;
  else if (v.elemType !== undefined) {
    proto.type = {
      tensorType: {
        elemType: v.elemType,
        ...(v.shape
          ? {
              shape: {
                dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d })),
              },
            }
          : {}),
      },
    };
  }
  return proto;
}

function nodeFromProto(n: onnx.INodeProto): OnnxNode {
  return {
    opType: n.opType ?? '',
    domain: n.domain ?? '',
    name: n.name ?? '',
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes: (n.attribute ?? []).map(attributeFromProto),
    ...optional('docString', n.docString),
  };
}

function nodeToProto(n: OnnxNode): onnx.INodeProto {
  return {
    opType: n.opType,
    domain: n.domain,
    name: n.name,
    input: n.inputs,
    output: n.outputs,
    attribute: n.attributes.map(attributeToProto),
    ...optional('docString', n.docString),
  };
}

function graphFromProto(g: onnx.IGraphProto): Graph {
  return {
    name: g.name ?? '',
    nodes: (g.node ?? []).map(nodeFromProto),
    initializers: (g.initializer ?? []).map(tensorFromProto),
    inputs: (g.input ?? []).map(valueInfoFromProto),
    outputs: (g.output ?? []).map(valueInfoFromProto),
    valueInfo: (g.valueInfo ?? []).map(valueInfoFromProto),
    ...optional('docString', g.docString),
    ...(g.sparseInitializer?.length ? { sparseInitializers: g.sparseInitializer } : {}),
    ...(g.quantizationAnnotation?.length ? { quantizationAnnotation: g.quantizationAnnotation } : {}),
  };
}

function graphToProto(g: Graph): onnx.IGraphProto {
  return {
    name: g.name,
    node: g.nodes.map(nodeToProto),
    initializer: g.initializers.map(tensorToProto),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    valueInfo: g.valueInfo.map(valueInfoToProto),
    ...optional('docString', g.docString),
    ...(g.sparseInitializers ? { sparseInitializer: g.sparseInitializers } : {}),
    ...(g.quantizationAnnotation ? { quantizationAnnotation: g.quantizationAnnotation } : {}),
  };
}

/** Reads an ONNX file. Throws, naming the problem, for bytes that are not a ModelProto with a graph. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`not an ONNX model: protobuf decoding failed (${(err as Error).message})`);
  }
  if (!proto.graph) throw new Error('not an ONNX model: the ModelProto has no graph');
  return {
    irVersion: toNumber(proto.irVersion, 'ir_version'),
    opsetImport: (proto.opsetImport ?? []).map((o) => ({
      domain: o.domain ?? '',
      version: toNumber(o.version, 'opset version'),
    })),
    ...optional('producerName', proto.producerName),
    ...optional('producerVersion', proto.producerVersion),
    ...optional('domain', proto.domain),
    ...(proto.modelVersion && toNumber(proto.modelVersion) !== 0
      ? { modelVersion: toNumber(proto.modelVersion, 'model_version') }
      : {}),
    ...optional('docString', proto.docString),
    metadataProps: (proto.metadataProps ?? []).map((p) => ({ key: p.key ?? '', value: p.value ?? '' })),
    graph: graphFromProto(proto.graph),
    ...(proto.functions?.length ? { functions: proto.functions } : {}),
    ...(proto.trainingInfo?.length ? { trainingInfo: proto.trainingInfo } : {}),
  };
}

/** Writes an ONNX file. */
export function encodeModel(model: OnnxModel): Buffer {
  const proto: onnx.IModelProto = {
    irVersion: model.irVersion,
    opsetImport: model.opsetImport.map((o) => ({ domain: o.domain, version: o.version })),
    ...optional('producerName', model.producerName),
    ...optional('producerVersion', model.producerVersion),
    ...optional('domain', model.domain),
    ...optional('modelVersion', model.modelVersion),
    ...optional('docString', model.docString),
    metadataProps: model.metadataProps,
    graph: graphToProto(model.graph),
    ...(model.functions ? { functions: model.functions } : {}),
    ...(model.trainingInfo ? { trainingInfo: model.trainingInfo } : {}),
  };
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The opset version the model imports for `domain` (`''`: the default ONNX domain). */
export function opsetVersion(model: OnnxModel, domain = ''): number | undefined {
  const found = model.opsetImport.find((o) => o.domain === domain || (domain === '' && o.domain === 'ai.onnx'));
  return found?.version;
}

/** A short description of a value's type, such as `float32[batch, 1, 28, 28]`. */
export function describeValue(v: ValueInfo): string {
  if (v.elemType === undefined) return `${v.name}: (not a tensor)`;
  const shape = v.shape ? `[${v.shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '';
  return `${v.name}: ${dataTypeName(v.elemType)}${shape}`;
}
