import * as tf from '@tensorflow/tfjs';

/**
 * A [784] MLP whose embedding is pixels 0..2 and whose logits are 2x the embedding, in class
 * order (0,1,2) or, with `swap`, (1,0,2); further classes get logit 0. All values are dyadic, so
 * tfjs and onnxruntime compute them exactly.
 */
export function selector(swap: boolean, classes = 3, name = 'selector'): tf.LayersModel {
  const model = tf.sequential({ name, layers: [tf.layers.dense({ inputShape: [784], units: 3, name: 'embedding' }), tf.layers.dense({ units: classes, name: 'logits' })] });
  const pick = new Float32Array(784 * 3);
  for (let j = 0; j < 3; j++) pick[j * 3 + j] = 1;
  const toClass = swap ? [1, 0, 2] : [0, 1, 2];
  const v = new Float32Array(3 * classes);
  for (let j = 0; j < 3; j++) v[j * classes + toClass[j]] = 2;
  model.setWeights([tf.tensor(pick, [784, 3]), tf.zeros([3]), tf.tensor(v, [3, classes]), tf.zeros([classes])]);
  return model;
}

/** Images with pixels 0..2 set; the rest 0. */
export function images(rows: [number, number, number][]): Float32Array {
  const out = new Float32Array(rows.length * 784);
  rows.forEach((r, i) => out.set(r, i * 784));
  return out;
}
