import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { getArchitecture } from '../arch/index.ts';
import { planLayers } from '../ort/plan.ts';
import { OrtTrainingStep, TFJS_ADAGRAD, TFJS_ADAM, type NamedTensor } from '../ort/step.ts';
import type { OptimizerSpec } from '../ort/step-graph.ts';
import { batchTargets, type TrainBatch } from './batch.ts';
import type { TrainConfig } from './types.ts';

/**
 * `edgeloom train --backend ort --experimental`: the training step runs as one ONNX graph on
 * onnxruntime-node (training/ort); tfjs keeps the model for evaluation, checkpoints and
 * export, and gets the weights back at the end of every epoch. Architectures the graph cannot
 * differentiate are refused when the step is built, with one line naming the layer.
 */
export const ORT_BACKEND = 'ort';

/** Why the onnxruntime step cannot train `config`'s architecture (its first layer it cannot differentiate), or null. */
export function ortUnsupported(config: TrainConfig): string | null {
  const model = getArchitecture(config.arch).build({ seed: config.seed, ...config.settings });
  try {
    planLayers(model);
    return null;
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  } finally {
    model.dispose();
  }
}

function optimizerSpec(config: TrainConfig): OptimizerSpec {
  if (config.optimizer === 'adam') return TFJS_ADAM;
  if (config.optimizer === 'adagrad') return TFJS_ADAGRAD;
  // `sgd` is tfjs's momentum optimiser when momentum > 0 and plain SGD otherwise: momentum 0 is the same update.
  return { kind: 'momentum', momentum: config.momentum };
}

/**
 * Builds the step graph for `model` (a UserError names the first layer it cannot differentiate);
 * with `optimizerState` (a checkpoint's, in tfjs's format) the optimiser continues from it.
 */
export async function startOrtTraining(model: tf.LayersModel, config: TrainConfig, optimizerState?: readonly NamedTensor[]): Promise<OrtTrainingStep> {
  const step = await OrtTrainingStep.create(model, {
    batch: config.batchSize,
    numClasses: config.classNames.length,
    optimizer: optimizerSpec(config),
    weightDecay: config.weightDecay,
    seed: config.seed,
    // --workers N: onnxruntime's own intra-op threads instead of data-parallel replicas.
    session: { intraOpThreads: config.workers ?? 1 },
  });
  if (optimizerState) await step.setOptimizerWeights(model, optimizerState);
  return step;
}

/** tfjs's label smoothing: y * (1 - s) + s / K. */
export function smoothTargets(ys: Float32Array, numClasses: number, smoothing: number): Float32Array {
  if (smoothing <= 0) return ys;
  return ys.map((v) => v * (1 - smoothing) + smoothing / numClasses);
}

/** One step; `dropoutSeed` is the batch's, as the wasm step seeds its dropout, so a resumed run draws the same masks. */
export async function ortTrainStep(ort: OrtTrainingStep, batch: TrainBatch, numClasses: number, labelSmoothing: number, lr: number,
  dropoutSeed: number): Promise<{ loss: number; correct: number }> {
  const ys = smoothTargets(batchTargets(batch, numClasses), numClasses, labelSmoothing);
  const { loss, logits } = await ort.step(batch.pixels, ys, lr, {}, dropoutSeed);
  let correct = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    let arg = 0;
    for (let c = 1; c < numClasses; c++) if (row[c] > row[arg]) arg = c;
    if (arg === batch.labels[i]) correct++;
  }
  return { loss, correct };
}
