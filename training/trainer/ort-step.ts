import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { OrtTrainingStep, TFJS_ADAM } from '../ort/step.ts';
import type { OptimizerSpec } from '../ort/step-graph.ts';
import { batchTargets, type TrainBatch } from './batch.ts';
import type { TrainConfig } from './types.ts';

/**
 * `edgeloom train --backend ort --experimental`: the training step runs as one ONNX graph on
 * onnxruntime-node (training/ort); tfjs keeps the model for evaluation, checkpoints and
 * export, and gets the weights back at the end of every epoch. What is not wired yet is refused
 * here with one line rather than trained differently.
 */
export const ORT_BACKEND = 'ort';

export function checkOrtConfig(config: TrainConfig, resuming: boolean): void {
  const refuse = (what: string) => {
    throw new UserError(`--backend ort (experimental): ${what} is not supported yet; use --backend wasm`);
  };
  if (resuming) refuse('--resume (the optimiser state lives in onnxruntime and is not checkpointed)');
  if (config.optimizer === 'adagrad') refuse('--optimizer adagrad');
  if (config.weightDecay > 0) refuse('--weight-decay');
  if ((config.freezeEpochs ?? 0) > 0) refuse('--freeze-epochs');
}

function optimizerSpec(config: TrainConfig): OptimizerSpec {
  // `sgd` is tfjs's momentum optimiser when momentum > 0 and plain SGD otherwise: momentum 0 is the same update.
  return config.optimizer === 'adam' ? TFJS_ADAM : { kind: 'momentum', momentum: config.momentum };
}

/** Builds the step graph for `model` (a UserError names the first layer it cannot differentiate). */
export function startOrtTraining(model: tf.LayersModel, config: TrainConfig): Promise<OrtTrainingStep> {
  return OrtTrainingStep.create(model, {
    batch: config.batchSize,
    numClasses: config.classNames.length,
    optimizer: optimizerSpec(config),
    seed: config.seed,
    // --workers N: onnxruntime's own intra-op threads instead of data-parallel replicas.
    session: { intraOpThreads: config.workers ?? 1 },
  });
}

/** tfjs's label smoothing: y * (1 - s) + s / K. */
export function smoothTargets(ys: Float32Array, numClasses: number, smoothing: number): Float32Array {
  if (smoothing <= 0) return ys;
  return ys.map((v) => v * (1 - smoothing) + smoothing / numClasses);
}

export async function ortTrainStep(ort: OrtTrainingStep, batch: TrainBatch, numClasses: number, labelSmoothing: number, lr: number): Promise<{ loss: number; correct: number }> {
  const ys = smoothTargets(batchTargets(batch, numClasses), numClasses, labelSmoothing);
  const { loss, logits } = await ort.step(batch.pixels, ys, lr);
  let correct = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    let arg = 0;
    for (let c = 1; c < numClasses; c++) if (row[c] > row[arg]) arg = c;
    if (arg === batch.labels[i]) correct++;
  }
  return { loss, correct };
}
