import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { getArchitecture } from '../arch/index.ts';
import { BACKEND_NAMES, backendDescription, parseBackendName, selectBackend, type BackendInfo, type BackendName } from '../backend/index.ts';
import { planLayers } from '../ort/plan.ts';
import { OrtTrainingStep, TFJS_ADAGRAD, TFJS_ADAM, type NamedTensor } from '../ort/step.ts';
import type { OptimizerSpec } from '../ort/step-graph.ts';
import { batchTargets, type TrainBatch } from './batch.ts';
import type { TrainConfig } from './types.ts';

/**
 * `--backend ort`: the training step runs as one ONNX graph on onnxruntime-node (training/ort);
 * tfjs keeps the model for evaluation, checkpoints and export, and gets the weights back at the
 * end of every epoch. Architectures the graph cannot differentiate are refused when the step is
 * built, with one line naming the layer.
 */
export const ORT_BACKEND = 'ort';

/** What `--backend` accepts wherever a model is trained (train, cv, search, reproduce). */
export const TRAINING_BACKENDS = [...BACKEND_NAMES, ORT_BACKEND] as const;

/** The tfjs back end to start for `--backend VALUE`: with ort, tfjs's best evaluates and exports. */
export function tfjsBackendFor(value: string): BackendName {
  if (value === ORT_BACKEND) return 'auto';
  if (!(BACKEND_NAMES as readonly string[]).includes(value)) throw new UserError(`--backend: unknown back end "${value}" (expected ${TRAINING_BACKENDS.join(', ')})`);
  return parseBackendName(value);
}

/**
 * Whether `config`'s steps run on onnxruntime: always with `--backend ort`; with `auto` unless
 * tfjs-node is installed (not measured against it) or the step cannot differentiate the
 * architecture (one line says why). The step measured 3.1-3.9x the wasm back end on customnet and
 * edgenet, one or two threads, with the same test accuracy (docs/backends.md).
 */
export function stepsOnOrt(value: string, tfjs: BackendInfo, config: TrainConfig, log: Logger, unsupported = ortUnsupported): boolean {
  if (value === ORT_BACKEND) return true;
  if (value !== 'auto' || tfjs.name === 'node') return false;
  const reason = unsupported(config);
  if (reason) log.info(`--backend auto: training ${config.arch} on ${tfjs.name}, not ort (${reason})`);
  return reason === null;
}

/** The back end line of logs and reports. */
export async function trainingBackendText(ort: boolean): Promise<string> {
  const tfjs = await backendDescription();
  return ort ? `ort (training steps on onnxruntime-node; evaluation and export on ${tfjs})` : tfjs;
}

/**
 * For the commands that train models from recipes (cv, search, reproduce): starts tfjs's back end
 * for `--backend VALUE`, says per recipe whether its steps run on onnxruntime (a setting such as an
 * activation can take a recipe out of the step's reach), and logs the back end line once.
 */
export async function selectTrainingBackends(value: string, configs: readonly TrainConfig[], log: Logger): Promise<{ tfjs: BackendInfo; ort: boolean[] }> {
  const tfjs = await selectBackend(tfjsBackendFor(value));
  const ort = configs.map((c) => stepsOnOrt(value, tfjs, c, log));
  log.info(`back end: ${await trainingBackendText(ort.some(Boolean))}`);
  return { tfjs, ort };
}

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
