import { createRng } from '../../src/random.ts';
import { tf } from '../../training/backend/index.ts';
import type { MaskSpec } from '../../training/ort/step-builder.ts';
import { randomValues } from './helpers.ts';

/** What the onnxruntime step tests compare against tfjs: a batch, dropout masks in both layouts, tfjs's gradients. */
export interface Batch {
  x: Float32Array;
  y: Float32Array;
}

export function batchOf(seed: number, batch: number, classes: number): Batch {
  const x = randomValues(batch * 784, seed).map((v) => (v + 1) / 2);
  const y = new Float32Array(batch * classes);
  // Smoothed labels (rows sum to 1), as `--label-smoothing` feeds them.
  for (let i = 0; i < batch; i++) for (let k = 0; k < classes; k++) y[i * classes + k] = k === (i * 3 + seed) % classes ? 0.91 : 0.01;
  return { x, y };
}

/**
 * Dropout masks (values 0 or 1/keep) for every mask input of a step graph, keyed by input name in
 * the graph's layout ([C, H*W*N] or [F, N]), and the same masks in tfjs's layout ([N, H, W, C] or
 * [N, F] in tfjs's flatten order), one per Dropout layer in the model's order (the graph's too).
 */
export function dropoutMasks(specs: readonly MaskSpec[], batch: number, seed: number): { graph: Record<string, Float32Array>; tfjs: Float32Array[] } {
  const graph: Record<string, Float32Array> = {};
  const tfjs: Float32Array[] = [];
  const rng = createRng(seed);
  for (const spec of specs) {
    const [rows, cols] = spec.dims;
    const perBatch = cols / batch;
    const g = new Float32Array(rows * cols);
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let p = 0; p < perBatch; p++) for (let n = 0; n < batch; n++) {
      const v = rng() < spec.rate ? 0 : 1 / (1 - spec.rate);
      g[r * cols + p * batch + n] = v;
      // An image row r is a channel (p its pixel); a flat row is a feature in the graph's order.
      const tIndex = perBatch > 1 ? (n * perBatch + p) * rows + r : n * rows + (spec.perm ? spec.perm[r] : r);
      t[tIndex] = v;
    }
    graph[spec.input] = g;
    tfjs.push(t);
  }
  return { graph, tfjs };
}

type AnyLayer = tf.layers.Layer & { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] };

/**
 * tfjs's loss and gradients for every trainable weight (keyed `<layer>/<weight>`): the model's
 * layers applied in training mode one by one along its graph, the i-th Dropout replaced by masks[i].
 */
export function tfjsGradients(model: tf.LayersModel, b: Batch, masks: readonly Float32Array[], classes: number):
  { loss: number; grads: Map<string, tf.Tensor>; byVariable: { name: string; tensor: tf.Tensor }[] } {
  const batch = b.y.length / classes;
  const xs = tf.tensor4d(b.x, [batch, 28, 28, 1]);
  const ys = tf.tensor2d(b.y, [batch, classes]);
  const { value, grads } = tf.variableGrads(() => {
    const values = new Map<string, tf.Tensor>();
    let last: tf.Tensor = xs;
    let dropouts = 0;
    for (const layer of model.layers as AnyLayer[]) {
      const inputs = layer.inboundNodes[0].inboundLayers.map((l) => values.get(l.name)!);
      const cls = layer.getClassName();
      if (cls === 'InputLayer') last = xs;
      else if (cls === 'Dropout') last = tf.mul(inputs[0], tf.tensor(masks[dropouts++], inputs[0].shape));
      else last = layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: true }) as tf.Tensor;
      values.set(layer.name, last);
    }
    return tf.losses.softmaxCrossEntropy(ys, last) as tf.Scalar;
  }, model.trainableWeights.map((w) => w.read() as tf.Variable));
  const named = new Map<string, tf.Tensor>();
  for (const layer of model.layers) for (const w of layer.trainableWeights) named.set(`${layer.name}/${w.originalName.split('/').pop()}`, grads[w.name]);
  const loss = value.dataSync()[0];
  tf.dispose([xs, ys, value]);
  return { loss, grads: named, byVariable: Object.entries(grads).map(([name, tensor]) => ({ name, tensor })) };
}
