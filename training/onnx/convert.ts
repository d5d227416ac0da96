import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import type * as tf from '@tensorflow/tfjs';
import { attr, encodeModel, floatValueInfo, onnx } from '../../src/onnx/proto.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';
import { UserError } from '../../src/errors.ts';
import { GraphBuilder, convKernelToOnnx, emitActivation, flattenPerm, samePads, validOut, type TensorInfo } from './graph.ts';

/**
 * tf.LayersModel (NHWC) -> ONNX ModelProto (NCHW throughout, opset 13). BatchNormalization that
 * follows a linear Conv/Dense is folded into its weights; Flatten keeps ONNX's NCHW order and the
 * following Dense gets its kernel rows permuted instead, so no Transpose runs at inference time.
 */
export const OPSET = 13;
export const IR_VERSION = 8;

type AnyLayer = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[]; outboundNodes: unknown[] };
type Config = Record<string, unknown>;

// Identity at inference. tfjs has no SpatialDropout2D or ActivityRegularization layer, and SpatialDropout1D
// needs a rank-3 tensor, which no convertible model has.
export const PASS_THROUGH = new Set(['Dropout', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/** tfjs's 2-D layers keep kernelSize, strides, dilationRate and poolSize as [h, w] whatever they were given (pooling strides default to poolSize). */
type Pair = [number, number];

/** Weights of a layer by their short name (kernel, bias, gamma, moving_mean...). */
function weightsByName(layer: tf.layers.Layer): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const w of layer.weights) {
    const short = w.originalName.split('/').pop() ?? w.originalName;
    const t = w.read();
    out.set(short, { shape: t.shape, values: Float32Array.from(t.dataSync()) });
  }
  return out;
}

function need<T>(m: Map<string, T>, key: string, layer: tf.layers.Layer): T {
  const v = m.get(key);
  if (!v) throw new Error(`layer ${layer.name}: weight "${key}" not found`);
  return v;
}

/** Depthwise [kh,kw,C,M] -> grouped conv weight [C*M,1,kh,kw]; channel c*M+m, as TensorFlow orders it. */
function depthwiseKernelToOnnx(k: Float32Array, kh: number, kw: number, c: number, m: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < c; ci++) for (let mi = 0; mi < m; mi++) {
    out[((ci * m + mi) * kh + y) * kw + x] = k[((y * kw + x) * c + ci) * m + mi];
  }
  return out;
}

interface Foldable {
  /** Conv or Gemm node whose weights a following BatchNormalization may be folded into. */
  weight: string;
  bias: string;
  kind: 'conv' | 'gemm';
  singleConsumer: boolean;
}

export interface ConvertResult {
  bytes: Uint8Array;
  logitsLayer: string;
  embeddingLayer: string;
  numClasses: number;
  embeddingSize: number;
}

export function convertLayersModel(model: tf.LayersModel): ConvertResult {
  const g = new GraphBuilder();
  g.reserve('input');
  g.reserve('logits');
  g.reserve('embedding');
  const tensors = new Map<string, TensorInfo>();
  const foldable = new Map<string, Foldable>();
  const inShape = model.inputs[0].shape;
  if (model.inputs.length !== 1) throw new UserError(`model has ${model.inputs.length} inputs, expected one 28x28x1 image input`);
  const inputInfo: TensorInfo = { name: 'input', rank: 4, c: 1, h: IMAGE_SIZE, w: IMAGE_SIZE };
  const key = inShape.slice(1).join('x');
  let modelInput: TensorInfo;
  if (key === `${IMAGE_SIZE}x${IMAGE_SIZE}x1`) modelInput = inputInfo;
  else if (key === String(IMAGE_PIXELS)) modelInput = { name: g.node('Flatten', ['input'], 'input/flat', [attr('axis', 1)]).output, rank: 2, size: IMAGE_PIXELS, perm: null };
  else throw new UserError(`model input shape [${inShape.join(',')}] is not supported, expected [null,28,28,1] or [null,784]`);

  const layers = model.layers as AnyLayer[];
  const named = (n: string) => layers.find((l) => l.name === n);
  const logitsLayer = named('logits') ?? (model.outputs[0].sourceLayer as AnyLayer);
  const embeddingLayer = named('embedding') ?? logitsLayer.inboundNodes[0].inboundLayers[0];
  const logitsActivation = (logitsLayer.getConfig() as Config).activation;
  if (logitsActivation && logitsActivation !== 'linear') {
    throw new UserError(`layer ${logitsLayer.name}: has a ${String(logitsActivation)} activation, but the model contract needs raw logits (no softmax)`);
  }

  // A Sequential's `layers` leave its InputLayer out (the embedding of a one-Dense model is that input).
  tensors.set(model.inputs[0].sourceLayer.name, modelInput);
  const converted = (layer: tf.layers.Layer): TensorInfo => {
    const t = tensors.get(layer.name);
    // model.layers is in topological order: only a tfjs change could make this fire.
    if (!t) throw new Error(`layer ${layer.name} was not converted`);
    return t;
  };
  for (const layer of layers) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1) throw new UserError(`layer ${layer.name} is used ${layer.inboundNodes.length} times; shared layers are not supported`);
    const inputs = layer.inboundNodes[0].inboundLayers.map(converted);
    const x = inputs[0];
    const cfg = layer.getConfig() as Config;
    const single = layer.outboundNodes.length <= 1 && layer !== embeddingLayer;
    const out = convertLayer(g, layer, cls, cfg, x, inputs, foldable, single);
    tensors.set(layer.name, out);
  }

  const finalOutput = (layer: tf.layers.Layer, name: 'logits' | 'embedding'): { size: number } => {
    const t = converted(layer);
    if (t.rank !== 2) throw new UserError(`layer ${layer.name} (the ${name} output) is not a flat [N,D] tensor`);
    if (t.perm) {
      // Restore tfjs's NHWC flatten order so `embedding` means the same in both runtimes.
      const idx = g.addInt64(`${name}/order`, Array.from(t.perm, (_, j) => j).sort((a, b) => t.perm![a] - t.perm![b]));
      g.nodes.push({ opType: 'Gather', input: [t.name, idx], output: [name], name: `${name}/Gather`, attribute: [attr('axis', 1)] });
    } else if (t.name === 'logits') {
      // The embedding is the logits tensor (a final Dropout passing it through): one tensor, two outputs.
      // ('logits' is reserved, so only the embedding, converted second, can find a tensor so named.)
      g.nodes.push({ opType: 'Identity', input: [t.name], output: [name], name: `${name}/Identity`, attribute: [] });
    } else if (t.name !== name) {
      // Give the producing tensor the contract name itself: no Identity node at run time.
      const old = t.name;
      for (const n of g.nodes) {
        n.input = (n.input ?? []).map((x) => (x === old ? name : x));
        n.output = (n.output ?? []).map((x) => (x === old ? name : x));
      }
      for (const other of tensors.values()) if (other.name === old) other.name = name;
    }
    return { size: t.size };
  };
  const logits = finalOutput(logitsLayer, 'logits');
  const embedding = finalOutput(embeddingLayer, 'embedding');

  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'edgeloom',
    producerVersion: EDGELOOM_VERSION,
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializerProtos(),
      input: [floatValueInfo('input', ['N', 1, IMAGE_SIZE, IMAGE_SIZE])],
      output: [floatValueInfo('logits', ['N', logits.size]), floatValueInfo('embedding', ['N', embedding.size])],
    },
  });
  return { bytes, logitsLayer: logitsLayer.name, embeddingLayer: embeddingLayer.name, numClasses: logits.size, embeddingSize: embedding.size };
}

function convertLayer(g: GraphBuilder, layer: tf.layers.Layer, cls: string, cfg: Config, x: TensorInfo, inputs: TensorInfo[], foldable: Map<string, Foldable>, single: boolean): TensorInfo {
  const name = layer.name;
  const activation = (cfg.activation as string | undefined) ?? 'linear';
  if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') throw new UserError(`layer ${name}: dataFormat ${String(cfg.dataFormat)} is not supported (channelsLast only)`);
  if (PASS_THROUGH.has(cls)) return x;
  switch (cls) {
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D': {
      if (x.rank !== 4) throw new UserError(`layer ${name}: ${cls} needs an image tensor`);
      const w = weightsByName(layer);
      const [kh, kw] = cfg.kernelSize as Pair;
      const [sh, sw] = cfg.strides as Pair;
      const [dh, dw] = cfg.dilationRate as Pair;
      const same = cfg.padding === 'same';
      if (cfg.padding === 'causal') throw new UserError(`layer ${name}: causal padding is not supported`);
      const py = same ? samePads(x.h, kh, sh, dh) : { begin: 0, end: 0, out: validOut(x.h, kh, sh, dh) };
      const px = same ? samePads(x.w, kw, sw, dw) : { begin: 0, end: 0, out: validOut(x.w, kw, sw, dw) };
      const convAttrs = (group: number, k: [number, number]) => [
        attr('kernel_shape', k), attr('strides', [sh, sw]), attr('dilations', [dh, dw]),
        attr('pads', [py.begin, px.begin, py.end, px.end]), attr('group', group),
      ];
      let input = x.name;
      let outC: number;
      let weight: string;
      let group = 1;
      if (cls === 'Conv2D') {
        const k = need(w, 'kernel', layer);
        outC = k.shape[3];
        weight = g.addFloat(`${name}/W`, [outC, x.c, kh, kw], convKernelToOnnx(k.values, kh, kw, x.c, outC));
      } else {
        const dk = need(w, 'depthwise_kernel', layer);
        const mult = dk.shape[3];
        const dwW = g.addFloat(`${name}/depthwise/W`, [x.c * mult, 1, kh, kw], depthwiseKernelToOnnx(dk.values, kh, kw, x.c, mult));
        outC = x.c * mult;
        weight = dwW;
        group = x.c;
        if (cls === 'SeparableConv2D') {
          input = g.node('Conv', [x.name, dwW], `${name}/depthwise`, convAttrs(x.c, [kh, kw])).output;
          const pk = need(w, 'pointwise_kernel', layer);
          const co = pk.shape[3];
          weight = g.addFloat(`${name}/W`, [co, outC, 1, 1], convKernelToOnnx(pk.values, 1, 1, outC, co));
          const bias = w.get('bias')?.values ?? new Float32Array(co);
          const b = g.addFloat(`${name}/B`, [co], Float32Array.from(bias));
          const pre = activation === 'linear' ? name : `${name}/pre`;
          const conv = g.node('Conv', [input, weight, b], pre, [attr('kernel_shape', [1, 1]), attr('strides', [1, 1]), attr('pads', [0, 0, 0, 0])]);
          if (activation === 'linear') foldable.set(conv.output, { weight, bias: b, kind: 'conv', singleConsumer: single });
          return { name: emitActivation(g, activation, conv.output, name, 4), rank: 4, c: co, h: py.out, w: px.out };
        }
      }
      const bias = w.get('bias')?.values ?? new Float32Array(outC);
      const b = g.addFloat(`${name}/B`, [outC], Float32Array.from(bias));
      const pre = activation === 'linear' ? name : `${name}/pre`;
      const conv = g.node('Conv', [input, weight, b], pre, convAttrs(group, [kh, kw]));
      if (activation === 'linear') foldable.set(conv.output, { weight, bias: b, kind: 'conv', singleConsumer: single });
      return { name: emitActivation(g, activation, conv.output, name, 4), rank: 4, c: outC, h: py.out, w: px.out };
    }
    case 'Dense': {
      if (x.rank !== 2) throw new UserError(`layer ${name}: Dense on a ${x.rank}-D tensor is not supported (add a Flatten or global pooling first)`);
      const w = weightsByName(layer);
      const k = need(w, 'kernel', layer);
      const units = k.shape[1];
      let kernel = k.values;
      if (x.perm) {
        kernel = new Float32Array(k.values.length);
        for (let j = 0; j < x.size; j++) kernel.set(k.values.subarray(x.perm[j] * units, (x.perm[j] + 1) * units), j * units);
      }
      const W = g.addFloat(`${name}/W`, [x.size, units], kernel);
      const b = g.addFloat(`${name}/B`, [units], Float32Array.from(w.get('bias')?.values ?? new Float32Array(units)));
      const pre = activation === 'linear' ? name : `${name}/pre`;
      const gemm = g.node('Gemm', [x.name, W, b], pre, [attr('transB', 0)]);
      if (activation === 'linear') foldable.set(gemm.output, { weight: W, bias: b, kind: 'gemm', singleConsumer: single });
      return { name: emitActivation(g, activation, gemm.output, name, 2), rank: 2, size: units, perm: null };
    }
    case 'BatchNormalization':
      return convertBatchNorm(g, layer, cfg, x, foldable);
    case 'Activation':
      return { ...x, name: emitActivation(g, activation, x.name, name, x.rank) };
    case 'ReLU': {
      const max = cfg.maxValue as number | null | undefined;
      if (max === null || max === undefined) return { ...x, name: g.node('Relu', [x.name], name).output };
      const lo = g.addFloat(`${name}/min`, [], new Float32Array([0]));
      const hi = g.addFloat(`${name}/max`, [], new Float32Array([max]));
      return { ...x, name: g.node('Clip', [x.name, lo, hi], name).output };
    }
    case 'LeakyReLU':
      return { ...x, name: g.node('LeakyRelu', [x.name], name, [attr('alpha', Number(cfg.alpha ?? 0.3)), ...[]]).output };
    case 'ELU':
      return { ...x, name: g.node('Elu', [x.name], name, [{ name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: Number(cfg.alpha ?? 1) }]).output };
    case 'Softmax':
      return { ...x, name: emitActivation(g, 'softmax', x.name, name, x.rank) };
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if (x.rank !== 4) throw new UserError(`layer ${name}: pooling needs an image tensor`);
      const [kh, kw] = cfg.poolSize as Pair;
      const [sh, sw] = cfg.strides as Pair;
      const same = cfg.padding === 'same';
      const py = same ? samePads(x.h, kh, sh, 1) : { begin: 0, end: 0, out: validOut(x.h, kh, sh, 1) };
      const px = same ? samePads(x.w, kw, sw, 1) : { begin: 0, end: 0, out: validOut(x.w, kw, sw, 1) };
      const op = cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
      // count_include_pad stays 0: TensorFlow averages over the valid pixels only.
      const out = g.node(op, [x.name], name, [attr('kernel_shape', [kh, kw]), attr('strides', [sh, sw]), attr('pads', [py.begin, px.begin, py.end, px.end])]);
      return { name: out.output, rank: 4, c: x.c, h: py.out, w: px.out };
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D': {
      if (x.rank !== 4) throw new UserError(`layer ${name}: global pooling needs an image tensor`);
      const pooled = g.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name], `${name}/pool`).output;
      return { name: g.node('Flatten', [pooled], name, [attr('axis', 1)]).output, rank: 2, size: x.c, perm: null };
    }
    case 'Flatten':
      if (x.rank === 2) return x;
      return { name: g.node('Flatten', [x.name], name, [attr('axis', 1)]).output, rank: 2, size: x.c * x.h * x.w, perm: flattenPerm(x.c, x.h, x.w) };
    case 'Add':
    case 'Multiply':
    case 'Maximum':
    case 'Minimum':
    case 'Average': {
      checkSameLayout(name, inputs);
      const op = { Add: 'Add', Multiply: 'Mul', Maximum: 'Max', Minimum: 'Min', Average: 'Sum' }[cls]!;
      let acc = inputs[0].name;
      if (op === 'Max' || op === 'Min' || op === 'Sum') acc = g.node(op, inputs.map((t) => t.name), cls === 'Average' ? `${name}/sum` : name).output;
      else for (let i = 1; i < inputs.length; i++) acc = g.node(op, [acc, inputs[i].name], i === inputs.length - 1 ? name : `${name}/${i}`).output;
      if (cls === 'Average') {
        const n = g.addFloat(`${name}/n`, [], new Float32Array([1 / inputs.length]));
        acc = g.node('Mul', [acc, n], name).output;
      }
      return { ...x, name: acc };
    }
    case 'Concatenate': {
      const axis = Number(cfg.axis);
      if (x.rank === 4) {
        if (axis !== -1 && axis !== 3) throw new UserError(`layer ${name}: only channel concatenation is supported`);
        // tfjs concatenates tensors of one rank only.
        const c = (inputs as Extract<TensorInfo, { rank: 4 }>[]).reduce((s, t) => s + t.c, 0);
        return { name: g.node('Concat', inputs.map((t) => t.name), name, [attr('axis', 1)]).output, rank: 4, c, h: x.h, w: x.w };
      }
      const flat = inputs as Extract<TensorInfo, { rank: 2 }>[];
      const size = flat.reduce((s, t) => s + t.size, 0);
      let perm: Int32Array | null = null;
      if (flat.some((t) => t.perm)) {
        perm = new Int32Array(size);
        let off = 0;
        for (const t of flat) {
          for (let j = 0; j < t.size; j++) perm[off + j] = off + (t.perm ? t.perm[j] : j);
          off += t.size;
        }
      }
      return { name: g.node('Concat', flat.map((t) => t.name), name, [attr('axis', 1)]).output, rank: 2, size, perm };
    }
    case 'ZeroPadding2D': {
      if (x.rank !== 4) throw new UserError(`layer ${name}: ZeroPadding2D needs an image tensor`);
      // tfjs keeps a number or [h, w] padding as [[top, bottom], [left, right]].
      const [[t, b], [l, r]] = cfg.padding as [Pair, Pair];
      const pads = g.addInt64(`${name}/pads`, [0, 0, t, l, 0, 0, b, r]);
      return { name: g.node('Pad', [x.name, pads], name).output, rank: 4, c: x.c, h: x.h + t + b, w: x.w + l + r };
    }
    default:
      throw new UserError(`layer ${name}: ${cls} is not supported by the ONNX exporter`);
  }
}

function checkSameLayout(name: string, inputs: TensorInfo[]): void {
  const key = (t: TensorInfo) => (t.rank === 4 ? `${t.c}x${t.h}x${t.w}` : `${t.size}:${t.perm ? t.perm.join(',') : ''}`);
  if (new Set(inputs.map(key)).size > 1) throw new UserError(`layer ${name}: inputs have different shapes or element orders`);
}

function convertBatchNorm(g: GraphBuilder, layer: tf.layers.Layer, cfg: Config, x: TensorInfo, foldable: Map<string, Foldable>): TensorInfo {
  const axis = Number(cfg.axis);
  if (axis !== -1 && axis !== (x.rank === 4 ? 3 : 1)) throw new UserError(`layer ${layer.name}: BatchNormalization over axis ${axis} is not supported (channels only)`);
  const w = weightsByName(layer);
  const mean = need(w, 'moving_mean', layer).values;
  const variance = need(w, 'moving_variance', layer).values;
  const n = mean.length;
  const gamma = w.get('gamma')?.values ?? new Float32Array(n).fill(1);
  const beta = w.get('beta')?.values ?? new Float32Array(n);
  // The layer's own epsilon (tfjs default 1e-3), not ONNX's 1e-5.
  const eps = Number(cfg.epsilon ?? 1e-3);
  const scale = new Float32Array(n);
  const shift = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    scale[c] = gamma[c] / Math.sqrt(variance[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  // Keyed by the BN's own input tensor, so the Conv/Gemm's width is n.
  const f = foldable.get(x.name);
  if (f && f.singleConsumer) {
    const W = g.floatInit(f.weight);
    const B = g.floatInit(f.bias);
    if (f.kind === 'conv') {
      const per = W.values.length / n; // OIHW: output channel is the slowest axis
      for (let o = 0; o < n; o++) for (let i = 0; i < per; i++) W.values[o * per + i] *= scale[o];
    } else {
      for (let r = 0; r < W.values.length / n; r++) for (let o = 0; o < n; o++) W.values[r * n + o] *= scale[o];
    }
    for (let o = 0; o < n; o++) B.values[o] = B.values[o] * scale[o] + shift[o];
    foldable.delete(x.name);
    return x;
  }
  // Standalone BN: y = x*scale + shift per channel, broadcast over H and W in NCHW.
  let s = scale;
  let t = shift;
  if (x.rank === 2 && x.perm) {
    s = Float32Array.from(x.perm, (p) => scale[p]);
    t = Float32Array.from(x.perm, (p) => shift[p]);
  }
  const dims = x.rank === 4 ? [n, 1, 1] : [s.length];
  const sName = g.addFloat(`${layer.name}/bn_scale`, dims, s);
  const tName = g.addFloat(`${layer.name}/bn_shift`, dims, t);
  const mul = g.node('Mul', [x.name, sName], `${layer.name}/mul`).output;
  return { ...x, name: g.node('Add', [mul, tName], layer.name).output };
}
