import { readFile } from 'node:fs/promises';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { DataType, decodeModel, encodeModel, tensorDims, tensorFloats, toNumber, type GraphProto, type NodeProto, type TensorProto } from '../../src/onnx/proto.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { createLogger } from '../../src/log.ts';
import { modelForTools, type AdoptOptions } from '../onnx/adopt.ts';
import { channelNchw, filterOihw } from './visual.ts';
import { MAX_CONV_LAYERS, type FeatureMaps, type FirstLayerFilters, type InsideView } from './inspect-types.ts';

/** Activations a feature map is shown after, when one directly follows the Conv (as tfjs fuses it). */
const FOLLOWING_ACTIVATIONS = new Set(['Relu', 'Clip', 'LeakyRelu', 'Tanh', 'Sigmoid']);

/** Integer values of an int8/uint8/int32 initializer, raw_data or int32_data. */
function integerValues(t: TensorProto): Float32Array {
  const raw = t.rawData && t.rawData.length > 0 ? new Uint8Array(t.rawData) : null;
  switch (t.dataType) {
    case DataType.INT8:
      return raw ? Float32Array.from(new Int8Array(raw.buffer, 0, raw.byteLength)) : Float32Array.from(t.int32Data ?? []);
    case DataType.UINT8:
      return raw ? Float32Array.from(raw) : Float32Array.from(t.int32Data ?? []);
    case DataType.INT32:
      return raw ? Float32Array.from(new Int32Array(raw.buffer, 0, raw.byteLength / 4)) : Float32Array.from(t.int32Data ?? []);
    default:
      throw new Error(`tensor ${t.name}: data type ${t.dataType} is not an integer type inspect reads`);
  }
}

/**
 * A constant weight as floats: a float initializer, or an int8/uint8 one behind DequantizeLinear
 * (edgeloom's QDQ int8 models), dequantised per tensor or per output channel (axis 0).
 */
export function constantWeight(graph: GraphProto, name: string): { values: Float32Array; dims: number[] } | null {
  const inits = graph.initializer ?? [];
  const init = inits.find((t) => t.name === name);
  if (init) return init.dataType === DataType.FLOAT ? { values: tensorFloats(init), dims: tensorDims(init) } : null;
  const dq = (graph.node ?? []).find((n) => n.opType === 'DequantizeLinear' && n.output?.[0] === name);
  const q = dq && inits.find((t) => t.name === dq.input?.[0]);
  const scale = dq && inits.find((t) => t.name === dq.input?.[1]);
  if (!q || !scale) return null;
  const zero = dq.input?.[2] ? inits.find((t) => t.name === dq.input![2]) : undefined;
  const dims = tensorDims(q);
  const values = integerValues(q);
  const scales = tensorFloats(scale);
  const zeros = zero ? integerValues(zero) : new Float32Array(scales.length);
  const per = scales.length > 1 ? values.length / scales.length : values.length;
  for (let i = 0; i < values.length; i++) {
    const c = scales.length > 1 ? Math.floor(i / per) : 0;
    values[i] = (values[i] - zeros[c]) * scales[c];
  }
  return { values, dims };
}

/** The tensor to show for each Conv: its output, or the activation's right after it. */
function featureTensors(nodes: readonly NodeProto[]): Array<{ layer: string; tensor: string }> {
  return nodes.filter((n) => n.opType === 'Conv').slice(0, MAX_CONV_LAYERS).map((conv, k) => {
    const out = conv.output![0];
    const users = nodes.filter((n) => n.input?.includes(out));
    const act = users.length === 1 && FOLLOWING_ACTIVATIONS.has(users[0].opType ?? '') ? users[0].output![0] : null;
    return { layer: conv.name || `conv_${k}`, tensor: act ?? out };
  });
}

function firstConvFilters(graph: GraphProto, maxChannels: number): FirstLayerFilters | null {
  const conv = (graph.node ?? []).find((n) => n.opType === 'Conv');
  const w = conv?.input?.[1] ? constantWeight(graph, conv.input[1]) : null;
  if (!conv || !w || w.dims.length !== 4) return null;
  const [outC, inC, kh, kw] = w.dims;
  const count = Math.min(outC, maxChannels);
  return { layer: conv.name || 'conv_0', height: kh, width: kw, total: outC, planes: Array.from({ length: count }, (_, o) => filterOihw(w.values, kh, kw, inC, o)) };
}

/**
 * An ONNX model (edgeloom's, int8 included, or a foreign one adopted in memory) with every Conv's
 * feature tensor added as an extra graph output, run once on the image.
 */
export async function inspectOnnx(path: string, pixels: Uint8Array, maxChannels: number, foreign: AdoptOptions = {}): Promise<InsideView & { classNames: string[]; recipe?: Record<string, unknown> }> {
  const { bytes, info } = modelForTools(await readFile(path), path, foreign, (line) => createLogger('inspect').warn(line));
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const wanted = featureTensors(graph.node ?? []);
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  for (const w of wanted) if (!existing.has(w.tensor)) graph.output!.push({ name: w.tensor, type: { tensorType: { elemType: DataType.FLOAT } } });
  const notes: string[] = ['saliency: needs gradients, which onnxruntime does not give; inspect the tfjs model directory for it'];
  const convs = (graph.node ?? []).filter((n) => n.opType === 'Conv').length;
  if (convs > MAX_CONV_LAYERS) notes.push(`${convs} conv layers: the first ${MAX_CONV_LAYERS} are shown`);
  if ((graph.node ?? []).some((n) => n.opType === 'QLinearConv')) notes.push('QLinearConv layers (a model quantised outside edgeloom) hold uint8 tensors: not shown');
  const session = await createOnnxSession(encodeModel(model));
  try {
    const out = await session.runOutputs(toModelInput(pixels), 1, ['logits', ...wanted.map((w) => w.tensor)]);
    const maps: FeatureMaps[] = wanted.map((w) => {
      const t = out[w.tensor];
      const [, c, h, wd] = t.dims.map(toNumber);
      const count = Math.min(c, maxChannels);
      return { layer: w.layer, height: h, width: wd, channels: c, planes: Array.from({ length: count }, (_, ch) => channelNchw(t.data, h, wd, ch)) };
    });
    return { logits: Float32Array.from(out.logits.data), filters: firstConvFilters(graph, maxChannels), maps, saliency: null, notes, classNames: info.metadata.classes, recipe: info.metadata.recipe };
  } finally {
    await session.close();
  }
}
