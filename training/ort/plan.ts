import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { samePads } from '../onnx/graph.ts';

/**
 * The layers of a sequential tfjs model as the ONNX training step sees them. Only what the
 * spike's architectures use is accepted (customnet; mlp and cnn by the same rules); anything else
 * is refused with the layer's name, so a model never trains on a silently different graph.
 */
export type LayerSpec =
  | { kind: 'conv'; name: string; kh: number; kw: number; filters: number; pads: [number, number, number, number]; bias: boolean; relu: boolean }
  | { kind: 'bn'; name: string; epsilon: number; momentum: number }
  | { kind: 'relu'; name: string }
  | { kind: 'maxpool'; name: string }
  | { kind: 'flatten'; name: string }
  | { kind: 'dropout'; name: string; rate: number }
  | { kind: 'dense'; name: string; units: number; relu: boolean };

type Config = Record<string, unknown>;
type AnyLayer = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] };

function pair(v: unknown, fallback: number): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (Array.isArray(v)) return [Number(v[0]), Number(v[v.length > 1 ? 1 : 0])];
  return [Number(v), Number(v)];
}

function activationOf(layer: tf.layers.Layer, cfg: Config): boolean {
  const a = (cfg.activation as string | undefined) ?? 'linear';
  if (a !== 'linear' && a !== 'relu') throw unsupported(layer, `activation ${a}`);
  return a === 'relu';
}

function unsupported(layer: tf.layers.Layer, what: string): UserError {
  return new UserError(`--backend ort: layer ${layer.name} (${layer.getClassName()}): ${what} is not supported by the onnxruntime training step yet; use --backend wasm`);
}

/** Layer specs in order, checked against what the graph builder can differentiate. */
export function planLayers(model: tf.LayersModel): LayerSpec[] {
  const specs: LayerSpec[] = [];
  let previous: tf.layers.Layer | null = null;
  for (const layer of model.layers as AnyLayer[]) {
    const cls = layer.getClassName();
    if (cls === 'InputLayer') {
      previous = layer;
      continue;
    }
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (layer.inboundNodes.length !== 1 || inbound.length !== 1 || (previous && inbound[0] !== previous)) {
      throw unsupported(layer, 'a non-sequential graph (branches, residual Add)');
    }
    previous = layer;
    const cfg = layer.getConfig() as Config;
    const spec = specOf(layer, cls, cfg);
    if (spec) specs.push(spec);
  }
  const input = model.inputs[0].shape;
  if (model.inputs.length !== 1 || input.slice(1).join('x') !== '28x28x1') throw new UserError('--backend ort: the model must take one [N,28,28,1] image input');
  return specs;
}

function specOf(layer: tf.layers.Layer, cls: string, cfg: Config): LayerSpec | null {
  const name = layer.name;
  switch (cls) {
    case 'Conv2D': {
      const [kh, kw] = pair(cfg.kernelSize, 1);
      const [sh, sw] = pair(cfg.strides, 1);
      const [dh, dw] = pair(cfg.dilationRate, 1);
      if (sh !== 1 || sw !== 1) throw unsupported(layer, 'a stride other than 1');
      if (dh !== 1 || dw !== 1) throw unsupported(layer, 'dilation');
      if (cfg.padding !== 'same' && cfg.padding !== 'valid') throw unsupported(layer, `padding ${String(cfg.padding)}`);
      // At stride 1 'same' pads k-1 pixels whatever the size; the extra one goes at the end, as in TensorFlow.
      const same = cfg.padding === 'same';
      const [py, px] = [kh, kw].map((k) => (same ? samePads(k, k, 1, 1) : { begin: 0, end: 0 }));
      return { kind: 'conv', name, kh, kw, filters: Number(cfg.filters), pads: [py.begin, px.begin, py.end, px.end], bias: cfg.useBias !== false, relu: activationOf(layer, cfg) };
    }
    case 'BatchNormalization': {
      const axis = Number(cfg.axis ?? -1);
      if (axis !== -1 && axis !== 3) throw unsupported(layer, `axis ${axis}`);
      if (cfg.center === false || cfg.scale === false) throw unsupported(layer, 'center/scale off');
      return { kind: 'bn', name, epsilon: Number(cfg.epsilon ?? 1e-3), momentum: Number(cfg.momentum ?? 0.99) };
    }
    case 'Activation':
      return activationOf(layer, cfg) ? { kind: 'relu', name } : null;
    case 'ReLU':
      if (cfg.maxValue !== null && cfg.maxValue !== undefined) throw unsupported(layer, 'maxValue');
      return { kind: 'relu', name };
    case 'MaxPooling2D': {
      const [kh, kw] = pair(cfg.poolSize, 2);
      const [sh, sw] = pair(cfg.strides ?? cfg.poolSize, 2);
      if (kh !== 2 || kw !== 2 || sh !== 2 || sw !== 2 || cfg.padding === 'same') throw unsupported(layer, 'pooling other than 2x2, stride 2, valid');
      return { kind: 'maxpool', name };
    }
    case 'Flatten':
      return { kind: 'flatten', name };
    case 'Dropout':
      return { kind: 'dropout', name, rate: Number(cfg.rate ?? 0) };
    case 'Dense':
      return { kind: 'dense', name, units: Number(cfg.units), relu: activationOf(layer, cfg) };
    default:
      throw unsupported(layer, 'this layer type');
  }
}

/**
 * ReLU commutes with 2x2 max pooling (max(relu(a), relu(b)) = relu(max(a, b))): pooling first
 * runs the ReLU and its gradient mask on a quarter of the values.
 */
export function poolBeforeRelu(specs: readonly LayerSpec[]): LayerSpec[] {
  const out = [...specs];
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i].kind === 'relu' && out[i + 1].kind === 'maxpool') [out[i], out[i + 1]] = [out[i + 1], out[i]];
  }
  return out;
}
