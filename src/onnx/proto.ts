import onnxProto from 'onnx-proto';

/**
 * The ONNX protobuf definitions (onnx-proto, generated from onnx.proto by protobufjs). Writing and
 * reading models with the same definitions keeps metadata_props and initializers round-tripping.
 * The package is CommonJS, so the namespace comes from the default import.
 */
export const onnx = onnxProto.onnx;
// eslint-disable-next-line @typescript-eslint/no-namespace
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = onnxProto.onnx.TensorProto.DataType;

/** protobufjs decodes int64 as Long objects (the `long` package is installed); callers want numbers. */
export function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v && typeof (v as { toNumber: unknown }).toNumber === 'function') {
    return (v as { toNumber(): number }).toNumber();
  }
  return Number(v);
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: onnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

// ---- building blocks -------------------------------------------------------------------------

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): TensorProto {
  return rawTensor(name, dims, DataType.FLOAT, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

export function int8Tensor(name: string, dims: readonly number[], values: Int8Array): TensorProto {
  return rawTensor(name, dims, DataType.INT8, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

export function uint8Tensor(name: string, dims: readonly number[], values: Uint8Array): TensorProto {
  return rawTensor(name, dims, DataType.UINT8, values);
}

export function int32Tensor(name: string, dims: readonly number[], values: Int32Array): TensorProto {
  return rawTensor(name, dims, DataType.INT32, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  const buf = new BigInt64Array(values.map((v) => BigInt(v)));
  return rawTensor(name, dims, DataType.INT64, new Uint8Array(buf.buffer));
}

function rawTensor(name: string, dims: readonly number[], dataType: number, bytes: Uint8Array): TensorProto {
  // Copy: raw_data must not alias a buffer the caller may reuse.
  return { name, dims: [...dims], dataType, rawData: new Uint8Array(bytes) };
}

/** Float values of an initializer, whether stored as raw_data or float_data. */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name}: expected float32, found data type ${t.dataType}`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

export type AttrValue = number | number[] | string | TensorProto | { floats: number[] };

export function attr(name: string, value: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.TENSOR, t: value };
}

/** A float attribute that happens to be integral (alpha = 1) must still be written as FLOAT. */
export function floatAttr(name: string, value: number): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

export function getAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export function getIntAttr(node: NodeProto, name: string, fallback: number): number {
  const a = getAttr(node, name);
  return a ? toNumber(a.i) : fallback;
}

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attributes: AttributeProto[] = [], domain = ''): NodeProto {
  return { opType, input: inputs, output: outputs, name, attribute: attributes, domain };
}

export function floatValueInfo(name: string, dims: readonly (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** Dims of a graph input/output: numbers, or the symbolic name (e.g. "N") for dynamic ones. */
export function valueInfoDims(v: ValueInfoProto): (number | string)[] {
  const dims = v.type?.tensorType?.shape?.dim ?? [];
  return dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : '?'));
}
