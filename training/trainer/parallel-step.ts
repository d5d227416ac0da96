import * as tf from '@tensorflow/tfjs';
import type { DataParallelGradients } from '../backend/parallel/index.ts';
import { batchTargets, withSeededMathRandom, type TrainBatch } from './batch.ts';

/**
 * One optimiser step with the gradient computed data-parallel over worker threads: the main thread
 * takes the first part of the batch (and updates the BatchNorm moving averages from it), replicas
 * the rest; the size-weighted mean gradient is applied in model.trainableWeights order, the same
 * order trainStep uses, so optimiser slots line up whichever path a run (or its resume) takes.
 *
 * `correct` counts only the main thread's part (`measured` images): DataParallelGradients does not
 * return the replicas' predictions, so the training accuracy of a --workers run is an estimate on
 * a random share of every batch, not the whole batch.
 */
export async function parallelTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, parallel: DataParallelGradients, batch: TrainBatch, numClasses: number,
  dropoutSeed: number): Promise<{ loss: number; correct: number; measured: number }> {
  const { pixels, labels } = batch;
  const n = labels.length;
  const ys = batchTargets(batch, numClasses);
  let predicted: tf.Tensor | null = null;
  // The main thread's forward pass runs inside computeGradients, which returns no logits; wrapping
  // this instance's apply for the call captures its argmax without a second forward pass.
  const target = model as unknown as { apply?: tf.LayersModel['apply'] };
  const original = model.apply;
  target.apply = function (this: tf.LayersModel, inputs, kwargs) {
    const out = original.call(this, inputs, kwargs);
    tf.dispose(predicted ?? []);
    predicted = tf.keep(tf.argMax(out as tf.Tensor, 1));
    return out;
  };
  let result;
  try {
    // The main thread's part runs synchronously before computeGradients first awaits, so the seeded
    // Math.random covers its dropout masks (the replicas draw their own, see docs/training.md).
    const pending = withSeededMathRandom(dropoutSeed, () => parallel.computeGradients(pixels, ys, n));
    result = await pending;
  } finally {
    delete target.apply;
  }
  try {
    optimizer.applyGradients(result.grads);
  } finally {
    tf.dispose(result.grads.map((g) => g.tensor));
  }
  let correct = 0;
  let measured = 0;
  if (predicted) {
    const p = (predicted as tf.Tensor).dataSync();
    measured = p.length;
    for (let i = 0; i < measured; i++) if (p[i] === labels[i]) correct++;
    tf.dispose(predicted);
  }
  return { loss: result.loss, correct, measured };
}
