import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';

/**
 * The layers of a tfjs functional model as the ONNX training step sees them: a directed acyclic
 * graph in an order where every layer comes after its inputs (`inputs` name the layers, the first
 * spec is the image input, the last the logits). Only what the architectures of training/arch use
 * is accepted; anything else is refused with the layer's name, so a model never trains on a
 * silently different graph.
 */
export type LayerSpec = { name: string; inputs: string[] } & (
  | { kind: 'input' }
  | { kind: 'conv'; kh: number; kw: number; sh: number; sw: number; same: boolean; filters: number; bias: boolean; activation: Activation }
  | { kind: 'bn'; epsilon: number; momentum: number }
  | { kind: 'relu' }
  | { kind: 'maxpool' }
  | { kind: 'avgpool' }
  | { kind: 'gap' }
  | { kind: 'add' }
  | { kind: 'flatten' }
  | { kind: 'dropout'; rate: number }
  | { kind: 'dense'; units: number; activation: Activation }
);

/** The activations a Conv2D or Dense may carry (mlp and cnn accept tanh as a setting). */
export type Activation = 'linear' | 'relu' | 'tanh';

type Config = Record<string, unknown>;
type AnyLayer = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] };
type Body = LayerSpec extends infer S ? (S extends LayerSpec ? Omit<S, 'name' | 'inputs'> : never) : never;

function pair(v: unknown, fallback: number): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (Array.isArray(v)) return [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [Number(v), Number(v)];
}

function activationOf(layer: tf.layers.Layer, cfg: Config): Activation {
  const a = (cfg.activation as string | undefined) ?? 'linear';
  if (a !== 'linear' && a !== 'relu' && a !== 'tanh') throw unsupported(layer, `activation ${a}`);
  return a;
}

function unsupported(layer: tf.layers.Layer, what: string): UserError {
  return new UserError(`--backend ort: layer ${layer.name} (${layer.getClassName()}): ${what} is not supported by the onnxruntime training step yet; use --backend wasm`);
}

/**
 * Layer specs in topological order, checked against what the graph builder can differentiate.
 * Identity layers (a linear Activation) are dropped and their consumers read their input.
 */
export function planLayers(model: tf.LayersModel): LayerSpec[] {
  const input = model.inputs[0].shape;
  if (model.inputs.length !== 1 || input.slice(1).join('x') !== '28x28x1') throw new UserError('--backend ort: the model must take one [N,28,28,1] image input');
  if (model.outputs.length !== 1) throw new UserError('--backend ort: the model must have one output (the logits)');
  const specs: LayerSpec[] = [];
  /** tfjs layer name -> the spec that computes its value (identity layers map to their input's). */
  const source = new Map<string, string>();
  for (const layer of model.layers as AnyLayer[]) {
    const cls = layer.getClassName();
    if (layer.inboundNodes.length !== 1) throw unsupported(layer, 'a layer applied more than once (shared weights)');
    const inbound = layer.inboundNodes[0].inboundLayers.map((l) => {
      const s = source.get(l.name);
      if (s === undefined) throw unsupported(layer, `an input (${l.name}) that comes after it`);
      return s;
    });
    if (cls === 'InputLayer') {
      specs.push({ kind: 'input', name: layer.name, inputs: [] });
      source.set(layer.name, layer.name);
      continue;
    }
    const body = specOf(layer, cls, layer.getConfig() as Config);
    if (body && (body.kind === 'add' ? inbound.length !== 2 : inbound.length !== 1)) throw unsupported(layer, `${inbound.length} inputs`);
    if (!body) {
      source.set(layer.name, inbound[0]);
      continue;
    }
    specs.push({ ...body, name: layer.name, inputs: inbound } as LayerSpec);
    source.set(layer.name, layer.name);
  }
  const output = model.outputs[0].sourceLayer.name;
  if (source.get(output) !== specs.at(-1)!.name) throw new UserError(`--backend ort: the model's output ${output} must be its last layer`);
  return specs;
}

function specOf(layer: tf.layers.Layer, cls: string, cfg: Config): Body | null {
  switch (cls) {
    case 'Conv2D': {
      const [kh, kw] = pair(cfg.kernelSize, 1);
      const [sh, sw] = pair(cfg.strides, 1);
      const [dh, dw] = pair(cfg.dilationRate, 1);
      if (dh !== 1 || dw !== 1) throw unsupported(layer, 'dilation');
      if (cfg.padding !== 'same' && cfg.padding !== 'valid') throw unsupported(layer, `padding ${String(cfg.padding)}`);
      return { kind: 'conv', kh, kw, sh, sw, same: cfg.padding === 'same', filters: Number(cfg.filters), bias: cfg.useBias !== false, activation: activationOf(layer, cfg) };
    }
    case 'BatchNormalization': {
      const axis = Number(cfg.axis ?? -1);
      if (axis !== -1 && axis !== 3) throw unsupported(layer, `axis ${axis}`);
      if (cfg.center === false || cfg.scale === false) throw unsupported(layer, 'center/scale off');
      return { kind: 'bn', epsilon: Number(cfg.epsilon ?? 1e-3), momentum: Number(cfg.momentum ?? 0.99) };
    }
    case 'Activation': {
      const a = activationOf(layer, cfg);
      if (a === 'tanh') throw unsupported(layer, 'a tanh Activation layer (tanh inside Conv2D or Dense is)');
      return a === 'relu' ? { kind: 'relu' } : null;
    }
    case 'ReLU':
      if (cfg.maxValue !== null && cfg.maxValue !== undefined) throw unsupported(layer, 'maxValue');
      return { kind: 'relu' };
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [kh, kw] = pair(cfg.poolSize, 2);
      const [sh, sw] = pair(cfg.strides ?? cfg.poolSize, 2);
      if (kh !== 2 || kw !== 2 || sh !== 2 || sw !== 2 || cfg.padding === 'same') throw unsupported(layer, 'pooling other than 2x2, stride 2, valid');
      return { kind: cls === 'MaxPooling2D' ? 'maxpool' : 'avgpool' };
    }
    case 'GlobalAveragePooling2D':
      return { kind: 'gap' };
    case 'Add':
      return { kind: 'add' };
    case 'Flatten':
      return { kind: 'flatten' };
    case 'Dropout':
      return { kind: 'dropout', rate: Number(cfg.rate ?? 0) };
    case 'Dense':
      return { kind: 'dense', units: Number(cfg.units), activation: activationOf(layer, cfg) };
    default:
      throw unsupported(layer, 'this layer type');
  }
}

/** How many specs read each spec's output. */
export function consumers(specs: readonly LayerSpec[]): Map<string, number> {
  const count = new Map<string, number>();
  for (const s of specs) for (const i of s.inputs) count.set(i, (count.get(i) ?? 0) + 1);
  return count;
}

/**
 * ReLU commutes with 2x2 max pooling (max(relu(a), relu(b)) = relu(max(a, b))): pooling first
 * runs the ReLU and its gradient mask on a quarter of the values. Only where the pool is the
 * ReLU's one consumer; the two specs swap kinds and keep their names, so the pool's consumers
 * still read the same value.
 */
export function poolBeforeRelu(specs: readonly LayerSpec[]): LayerSpec[] {
  const out = [...specs];
  const readers = consumers(specs);
  for (let i = 0; i + 1 < out.length; i++) {
    const [r, p] = [out[i], out[i + 1]];
    if (r.kind === 'relu' && p.kind === 'maxpool' && p.inputs[0] === r.name && readers.get(r.name) === 1) {
      out[i] = { kind: 'maxpool', name: r.name, inputs: r.inputs };
      out[i + 1] = { kind: 'relu', name: p.name, inputs: [r.name] };
    }
  }
  return out;
}
