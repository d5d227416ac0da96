import { IMAGE_SIZE } from '../../../src/classes.ts';
import { tf } from '../index.ts';
import type { ArchSettings } from '../../arch/types.ts';

export interface ReplicaOptions {
  /** Architecture name from training/arch (models output logits). */
  arch: string;
  /** Architecture settings of the recipe (activation, width, dropout); the replica must be the same network. */
  settings?: ArchSettings;
  seed: number;
  numClasses: number;
  /** Back end for the worker thread: same as the main thread's. */
  backend: string;
  labelSmoothing: number;
}

export interface GradientRequest {
  weights: Float32Array[];
  xs: Float32Array; // count * 28 * 28, pixel / 255
  ys: Float32Array; // count * numClasses, one-hot (or smoothed)
  count: number;
}

export interface GradientResult {
  loss: number;
  count: number;
  /** In model.trainableWeights order. */
  grads: Float32Array[];
}

/**
 * Mean softmax cross-entropy on logits and its gradients for every trainable weight. Tensors are
 * disposed by hand: wrapped in an outer tf.tidy the same computation measured ~25% slower on wasm
 * (the backward pass's intermediates then live until the scope ends).
 */
export function halfBatchGradients(model: tf.LayersModel, xs: Float32Array, ys: Float32Array, count: number, labelSmoothing: number): GradientResult {
  const x = tf.tensor4d(xs, [count, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const y = tf.tensor2d(ys, [count, ys.length / count]);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  try {
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.apply(x, { training: true }) as tf.Tensor;
      return tf.losses.softmaxCrossEntropy(y, logits, undefined, labelSmoothing) as tf.Scalar;
    }, variables);
    const result = {
      loss: value.dataSync()[0],
      count,
      grads: variables.map((v) => Float32Array.from(grads[v.name].dataSync())),
    };
    tf.dispose([value, ...Object.values(grads)]);
    return result;
  } finally {
    tf.dispose([x, y]);
  }
}
