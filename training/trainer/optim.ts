import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';

export type OptimizerName = 'sgd' | 'adam' | 'adagrad';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adagrad'];

/** sgd uses momentum when momentum > 0 (heavy ball, as Keras' SGD(momentum=...)). */
export function makeOptimizer(name: OptimizerName, lr: number, momentum = 0): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return momentum > 0 ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
    case 'adam':
      return tf.train.adam(lr);
    case 'adagrad':
      return tf.train.adagrad(lr);
    default:
      throw new UserError(`--optimizer: unknown optimizer "${String(name)}" (expected ${OPTIMIZERS.join(', ')})`);
  }
}

/**
 * Changes the learning rate in place. SGD/momentum keep it in a cached tensor behind
 * setLearningRate; Adam and Adagrad read the plain `learningRate` field on every step.
 */
export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** Kernels of conv and dense layers: what weight decay applies to (not biases, not BatchNorm). */
export function decayedVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.filter((w) => /kernel$/.test(w.originalName)).map((w) => w.read() as tf.Variable);
}

/**
 * Decoupled weight decay (Loshchilov & Hutter, AdamW/SGDW): after each optimiser step,
 * w <- w * (1 - lr * wd), independent of the gradient and of Adam's scaling.
 */
export function applyWeightDecay(vars: tf.Variable[], lr: number, weightDecay: number): void {
  if (weightDecay <= 0) return;
  const factor = 1 - lr * weightDecay;
  tf.tidy(() => {
    for (const v of vars) v.assign(v.mul(factor));
  });
}
