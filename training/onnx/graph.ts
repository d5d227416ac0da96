import { attr, floatAttr, floatTensor, int64Tensor, makeNode, type AttributeProto, type NodeProto, type TensorProto } from '../../src/onnx/proto.ts';

/**
 * A tensor of the ONNX graph under construction, with the shape the converter needs to compute
 * padding and flatten orders. Layouts are NCHW throughout; `perm` marks a flattened tensor whose
 * element order differs from tfjs's NHWC flatten: perm[onnxIndex] = tfjsIndex.
 */
export type TensorInfo =
  | { name: string; rank: 4; c: number; h: number; w: number; producer?: NodeProto }
  | { name: string; rank: 2; size: number; perm: Int32Array | null; producer?: NodeProto };

/** Collects nodes and initializers; names stay unique so layers can be named after tfjs layers. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers = new Map<string, { dims: number[]; values: Float32Array } | TensorProto>();
  private readonly used = new Set<string>();

  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  addFloat(base: string, dims: number[], values: Float32Array): string {
    const name = this.uniqueName(base);
    this.initializers.set(name, { dims, values });
    return name;
  }

  addInt64(base: string, values: number[]): string {
    const name = this.uniqueName(base);
    this.initializers.set(name, int64Tensor(name, [values.length], values));
    return name;
  }

  floatInit(name: string): { dims: number[]; values: Float32Array } {
    const t = this.initializers.get(name);
    if (!t || !('values' in t)) throw new Error(`initializer ${name} is not a float tensor under construction`);
    return t;
  }

  node(opType: string, inputs: string[], outputBase: string, attributes: AttributeProto[] = []): { node: NodeProto; output: string } {
    const output = this.uniqueName(outputBase);
    const node = makeNode(opType, inputs, [output], this.uniqueName(`${outputBase}/${opType}`), attributes);
    this.nodes.push(node);
    return { node, output };
  }

  initializerProtos(): TensorProto[] {
    return [...this.initializers.entries()].map(([name, t]) => ('values' in t ? floatTensor(name, t.dims, t.values) : t));
  }
}

/** Emits the ONNX form of a Keras activation; returns the output tensor name ('linear' returns input). */
export function emitActivation(g: GraphBuilder, activation: string, input: string, outBase: string, rank: 2 | 4): string {
  switch (activation) {
    case 'linear':
    case undefined:
      return input;
    case 'relu':
      return g.node('Relu', [input], outBase).output;
    case 'relu6': {
      const lo = g.addFloat(`${outBase}/min`, [], new Float32Array([0]));
      const hi = g.addFloat(`${outBase}/max`, [], new Float32Array([6]));
      return g.node('Clip', [input, lo, hi], outBase).output;
    }
    case 'sigmoid':
      return g.node('Sigmoid', [input], outBase).output;
    case 'tanh':
      return g.node('Tanh', [input], outBase).output;
    case 'elu':
      return g.node('Elu', [input], outBase, [floatAttr('alpha', 1)]).output;
    case 'selu':
      // ONNX's default alpha/gamma are the constants of Klambauer et al., as in tfjs.
      return g.node('Selu', [input], outBase).output;
    case 'softplus':
      return g.node('Softplus', [input], outBase).output;
    case 'softsign':
      return g.node('Softsign', [input], outBase).output;
    case 'hardSigmoid':
    case 'hard_sigmoid':
      return g.node('HardSigmoid', [input], outBase, [floatAttr('alpha', 0.2), floatAttr('beta', 0.5)]).output;
    case 'softmax':
      // Keras softmax is over the last (channel) axis; channels are axis 1 in NCHW.
      return g.node('Softmax', [input], outBase, [attr('axis', rank === 4 ? 1 : -1)]).output;
    case 'swish': {
      const s = g.node('Sigmoid', [input], `${outBase}/sigmoid`).output;
      return g.node('Mul', [input, s], outBase).output;
    }
    case 'mish': {
      const sp = g.node('Softplus', [input], `${outBase}/softplus`).output;
      const t = g.node('Tanh', [sp], `${outBase}/tanh`).output;
      return g.node('Mul', [input, t], outBase).output;
    }
    default:
      throw new Error(`activation "${activation}" is not supported by the ONNX exporter`);
  }
}

/** TF 'same' padding: the extra pixel goes at the end (bottom/right), as TensorFlow does it. */
export function samePads(inSize: number, kernel: number, stride: number, dilation: number): { begin: number; end: number; out: number } {
  const out = Math.ceil(inSize / stride);
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((out - 1) * stride + effective - inSize, 0);
  const begin = Math.floor(total / 2);
  return { begin, end: total - begin, out };
}

export function validOut(inSize: number, kernel: number, stride: number, dilation: number): number {
  return Math.floor((inSize - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

/** perm[onnxIndex] = tfjsIndex for ONNX Flatten of NCHW versus tfjs Flatten of NHWC; null when equal. */
export function flattenPerm(c: number, h: number, w: number): Int32Array | null {
  if (c === 1 || h * w === 1) return null;
  const perm = new Int32Array(c * h * w);
  for (let ci = 0; ci < c; ci++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) perm[ci * h * w + y * w + x] = (y * w + x) * c + ci;
  }
  return perm;
}

/** Conv kernel HWIO (tfjs) -> OIHW (ONNX). */
export function convKernelToOnnx(k: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
    out[((o * ci + i) * kh + y) * kw + x] = k[((y * kw + x) * ci + i) * co + o];
  }
  return out;
}

/** Conv kernel OIHW (ONNX) -> HWIO (tfjs). */
export function convKernelFromOnnx(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let c = 0; c < i; c++) for (let f = 0; f < o; f++) {
    out[((y * kw + x) * i + c) * o + f] = w[((f * i + c) * kh + y) * kw + x];
  }
  return out;
}
