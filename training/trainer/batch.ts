import { createRng } from '../../src/random.ts';

/** One training batch: model input (pixel/255, NHWC), labels, and optional soft targets [n, K]. */
export interface TrainBatch {
  pixels: Float32Array;
  labels: Int32Array;
  /** Distillation targets; absent: one-hot labels. Label smoothing applies to either. */
  targets?: Float32Array;
}

/** Targets of a batch as a flat [n, K] array: its soft targets, or one-hot labels. */
export function batchTargets(batch: TrainBatch, numClasses: number): Float32Array {
  if (batch.targets) return batch.targets;
  const ys = new Float32Array(batch.labels.length * numClasses);
  for (let i = 0; i < batch.labels.length; i++) ys[i * numClasses + batch.labels[i]] = 1;
  return ys;
}

/**
 * Runs `fn` with Math.random replaced by a seeded stream. tfjs draws dropout masks from
 * tf.randomUniform without a seed, which seeds itself from Math.random; a per-layer `seed` would
 * repeat the same mask every step. `fn` is synchronous, so nothing else sees the swap.
 */
export function withSeededMathRandom<T>(seed: number, fn: () => T): T {
  const original = Math.random;
  Math.random = createRng(seed);
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
