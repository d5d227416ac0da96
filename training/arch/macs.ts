import type * as tf from '@tensorflow/tfjs';

export interface LayerMacs {
  name: string;
  className: string;
  macs: number;
}

/** Shape of a layer's (first) input or output tensor, batch dimension as 1. */
function dims(t: tf.SymbolicTensor | tf.SymbolicTensor[]): number[] {
  const s = (Array.isArray(t) ? t[0] : t).shape;
  return s.map((d) => d ?? 1);
}

/**
 * Multiply-accumulates for one image, per layer: Conv2D (out pixels x out channels x kernel area x
 * in channels) and Dense (in x out). BatchNorm, pooling, additions and activations are counted as
 * zero: BN folds into the preceding conv at export and the rest are not multiply-accumulates.
 */
export function layerMacs(model: tf.LayersModel): LayerMacs[] {
  const out: LayerMacs[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    let macs = 0;
    if (className === 'Conv2D') {
      const cfg = layer.getConfig() as { kernelSize: number[] | number };
      const ks = Array.isArray(cfg.kernelSize) ? cfg.kernelSize : [cfg.kernelSize, cfg.kernelSize];
      const inShape = dims(layer.input);
      const outShape = dims(layer.output);
      macs = outShape[1] * outShape[2] * outShape[3] * ks[0] * ks[1] * inShape[3];
    } else if (className === 'Dense') {
      const inShape = dims(layer.input);
      const outShape = dims(layer.output);
      macs = inShape[inShape.length - 1] * outShape[outShape.length - 1];
    }
    out.push({ name: layer.name, className, macs });
  }
  return out;
}

export function countMacs(model: tf.LayersModel): number {
  return layerMacs(model).reduce((s, l) => s + l.macs, 0);
}
