import * as tf from '@tensorflow/tfjs';
import { IMAGE_PIXELS, IMAGE_SIZE } from '../../src/classes.ts';
import { createRng } from '../../src/random.ts';
import type { Logger } from '../../src/log.ts';
import type { ImageSet } from '../data/dataset.ts';
import { batchPixels, parseAugment, type AugmentConfig, type Corrupter } from './augment.ts';
import { randomCorruption } from '../robustness/corrupt.ts';
import type { CheckpointState } from './checkpoint.ts';
import { applyWeightDecay, decayedVariables, makeOptimizer, setLearningRate } from './optim.ts';
import { ProgressLine, formatDuration } from './progress.ts';
import { learningRateAt } from './schedules.ts';
import { epochOrder, mixSeed } from '../data/split.ts';
import { predictTfjs } from '../model/io.ts';
import type { DataParallelGradients } from '../backend/parallel/index.ts';
import { parallelTrainStep } from './parallel-step.ts';
import type { Teacher } from './distill.ts';
import type { OrtTrainingStep } from '../ort/step.ts';
import { ortTrainStep } from './ort-step.ts';
import type { EpochRecord, TrainConfig } from './types.ts';
import { batchTargets, withSeededMathRandom, type TrainBatch } from './batch.ts';

export type LoopState = Omit<CheckpointState, 'optimizerSpecs' | 'bestSpecs' | 'version'>;

export interface LoopInput {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  config: TrainConfig;
  train: ImageSet;
  val: ImageSet | null;
  /** Where to start (a resumed checkpoint); a fresh run starts at epoch 0, batch 0. */
  resume?: LoopState;
  bestWeights?: tf.Tensor[] | null;
  /** Called after every epoch and on interruption; `bestWeights` are the early-stopping snapshot. */
  onCheckpoint?: (state: LoopState, bestWeights: tf.Tensor[] | null) => Promise<void>;
  /** Polled after every batch (Ctrl-C sets it): finish the batch, checkpoint, return. */
  shouldStop?: () => boolean;
  progress?: ProgressLine;
  log?: Logger;
  /** Gradient replicas on worker threads (--workers N > 1); null/undefined: one thread. */
  parallel?: DataParallelGradients | null;
  /** --distill: targets come from this teacher's view of each uncorrupted image. */
  teacher?: Teacher | null;
  /** Steps run on onnxruntime (--backend ort); `model` gets the weights back after each epoch. */
  ort?: OrtTrainingStep | null;
}

export interface LoopResult {
  history: EpochRecord[];
  interrupted: boolean;
  stoppedEarly: boolean;
  bestEpoch: number | null;
  elapsedMs: number;
  samplesSeen: number;
  state: LoopState;
}

/** Mean softmax cross-entropy and accuracy of logits rows against labels (numerically stable). */
export function lossAndAccuracy(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): { loss: number; acc: number } {
  const n = labels.length;
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * numClasses, (i + 1) * numClasses);
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < numClasses; c++) if (row[c] > max) { max = row[c]; arg = c; }
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += Math.exp(row[c] - max);
    loss += Math.log(sum) + max - row[labels[i]];
    if (arg === labels[i]) correct++;
  }
  return { loss: n ? loss / n : 0, acc: n ? correct / n : 0 };
}

/**
 * One optimiser step on one batch; BatchNorm and dropout in training mode. `vars` defaults to the
 * model's trainable weights in layer order: tfjs optimisers keep their slots by position, so every
 * step (and a resumed run) must pass the variables in the same order.
 */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, batch: TrainBatch, numClasses: number, labelSmoothing: number, vars?: tf.Variable[]): { loss: number; correct: number } {
  const n = batch.labels.length;
  const varList = vars ?? trainableVariables(model);
  const xs = tf.tensor4d(batch.pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const lbl = tf.tensor1d(batch.labels, 'int32');
  const y = tf.tensor2d(batchTargets(batch, numClasses), [n, numClasses]);
  let logits: tf.Tensor | null = null;
  const lossT = optimizer.minimize(() => {
    const out = model.apply(xs, { training: true }) as tf.Tensor;
    logits = tf.keep(out);
    return tf.losses.softmaxCrossEntropy(y, out, undefined, labelSmoothing) as tf.Scalar;
  }, true, varList);
  const correctT = tf.tidy(() => tf.equal(tf.argMax(logits!, 1), lbl).sum());
  const loss = lossT!.dataSync()[0];
  const correct = correctT.dataSync()[0];
  tf.dispose([xs, lbl, y, logits!, lossT!, correctT]);
  return { loss, correct };
}

/**
 * The model input of one training batch: images `idx` as pixel/255, with `aug`'s geometric
 * augmentation and, for `--augment robust`, its random corruptions at the strength the schedule
 * gives at `progress` (0 = first step, 1 = end of training). With `clean`, the same images without
 * the corruptions are written there too (see batchPixels).
 */
export function trainingBatch(images: Uint8Array, idx: ArrayLike<number>, aug: AugmentConfig, rng: () => number, progress: number, clean?: Float32Array): Float32Array {
  const corrupt: Corrupter | undefined = aug.corruption > 0 ? (img, r) => randomCorruption(img, aug.corruption, progress, r) : undefined;
  return batchPixels(images, idx, aug, rng, corrupt, clean);
}

export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

export function evaluateSet(model: tf.LayersModel, set: ImageSet, batchSize = 256): { loss: number; acc: number } {
  return lossAndAccuracy(predictTfjs(model, set, batchSize), set.labels, set.classNames.length);
}

export async function runTrainingLoop(input: LoopInput): Promise<LoopResult> {
  const { model, optimizer, config, train, val } = input;
  const numClasses = config.classNames.length;
  const batches = Math.ceil(train.count / config.batchSize);
  const totalSteps = batches * config.epochs;
  const aug = parseAugment(config.augment);
  const vars = trainableVariables(model);
  const decayVars = decayedVariables(model);
  // --freeze-epochs: the first epochs step only the head, with an optimiser of its own (tfjs
  // optimisers keep their slots by variable position, so the main one must always see `vars`).
  const freezeEpochs = config.freezeEpochs ?? 0;
  const headVars = freezeEpochs > 0 ? model.getLayer('logits').trainableWeights.map((w) => w.read() as tf.Variable) : [];
  const headDecay = decayVars.filter((v) => headVars.includes(v));
  let headOptimizer: tf.Optimizer | null = null;
  // With --backend ort the weights live in onnxruntime, except while --freeze-epochs trains the
  // head in tfjs: then the step reads them back before its first step.
  let ortHasWeights = true;
  const progress = input.progress ?? new ProgressLine(process.stderr, 'off');
  const state: LoopState = input.resume
    ? structuredClone(input.resume)
    : { config, epoch: 0, batch: 0, partial: { lossSum: 0, correct: 0, seen: 0, seconds: 0 }, history: [], best: null, elapsedMs: 0, samplesSeen: 0 };
  let bestWeights = input.bestWeights ?? null;
  let interrupted = false;
  let stoppedEarly = false;

  while (state.epoch < config.epochs && !interrupted && !stoppedEarly) {
    const epoch = state.epoch;
    const order = epochOrder(train.count, config.seed, epoch);
    const epochStart = performance.now() - state.partial.seconds * 1000;
    let { lossSum, correct, seen } = state.partial;
    let lr = config.lr;
    for (let b = state.batch; b < batches; b++) {
      const idx = order.subarray(b * config.batchSize, Math.min(train.count, (b + 1) * config.batchSize));
      const rng = createRng(mixSeed(config.seed, 0xa06, epoch, b));
      const clean = input.teacher ? new Float32Array(idx.length * IMAGE_PIXELS) : undefined;
      const pixels = trainingBatch(train.images, idx, aug, rng, (epoch * batches + b) / totalSteps, clean);
      const labels = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) labels[i] = train.labels[idx[i]];
      const batch: TrainBatch = { pixels, labels, targets: clean && input.teacher?.targets(clean, labels, numClasses) };
      lr = learningRateAt({ schedule: config.schedule, baseLr: config.lr, totalSteps, stepsPerEpoch: batches }, epoch * batches + b);
      setLearningRate(optimizer, lr);
      const dropoutSeed = mixSeed(config.seed, 0xd0, epoch, b);
      let step: { loss: number; correct: number };
      const frozen = epoch < freezeEpochs;
      if (frozen) {
        headOptimizer ??= makeOptimizer(config.optimizer, config.lr, config.momentum);
        setLearningRate(headOptimizer, lr);
        const opt = headOptimizer;
        step = withSeededMathRandom(dropoutSeed, () => trainStep(model, opt, batch, numClasses, config.labelSmoothing, headVars));
        ortHasWeights = false;
      } else if (input.ort) {
        if (!ortHasWeights) input.ort.readFrom(model);
        ortHasWeights = true;
        step = await ortTrainStep(input.ort, batch, numClasses, config.labelSmoothing, lr, dropoutSeed);
      } else if (input.parallel) {
        const p = await parallelTrainStep(model, optimizer, input.parallel, batch, numClasses, dropoutSeed);
        // Accuracy is measured on the main thread's share only; scaled to the whole batch.
        step = { loss: p.loss, correct: p.measured ? (p.correct * idx.length) / p.measured : 0 };
      } else {
        step = withSeededMathRandom(dropoutSeed, () => trainStep(model, optimizer, batch, numClasses, config.labelSmoothing, vars));
      }
      // The onnxruntime step decays its kernels in the graph.
      if (frozen || !input.ort) applyWeightDecay(frozen ? headDecay : decayVars, lr, config.weightDecay);
      lossSum += step.loss * idx.length;
      correct += step.correct;
      seen += idx.length;
      state.samplesSeen += idx.length;
      const seconds = (performance.now() - epochStart) / 1000;
      const rate = seen / Math.max(seconds, 1e-9);
      const remaining = (batches - b - 1) * config.batchSize + (config.epochs - epoch - 1) * train.count;
      progress.batch({ epoch: epoch + 1, epochs: config.epochs, batch: b + 1, batches, loss: lossSum / seen, acc: correct / seen, samplesPerSec: rate, etaSeconds: remaining / rate });
      if (input.shouldStop?.() && b + 1 < batches) {
        state.batch = b + 1;
        state.partial = { lossSum, correct, seen, seconds };
        interrupted = true;
        break;
      }
    }
    // Evaluation, early stopping and checkpoints read the tfjs model.
    if (ortHasWeights) input.ort?.writeTo(model);
    if (interrupted) break;
    const seconds = (performance.now() - epochStart) / 1000;
    const v = val && val.count > 0 ? evaluateSet(model, val, 256) : null;
    const record: EpochRecord = {
      epoch: epoch + 1,
      loss: lossSum / Math.max(1, seen),
      acc: correct / Math.max(1, seen),
      valLoss: v?.loss ?? null,
      valAcc: v?.acc ?? null,
      lr,
      seconds,
      samplesPerSec: seen / Math.max(seconds, 1e-9),
    };
    state.history.push(record);
    state.epoch = epoch + 1;
    state.batch = 0;
    state.partial = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    state.elapsedMs += seconds * 1000;
    if (v && config.patience > 0) {
      if (!state.best || v.acc > state.best.valAcc) {
        tf.dispose(bestWeights ?? []);
        bestWeights = model.getWeights().map((w) => w.clone());
        state.best = { valAcc: v.acc, epoch: epoch + 1, bad: 0 };
      } else {
        state.best.bad++;
        if (state.best.bad >= config.patience) stoppedEarly = true;
      }
    }
    const valText = v ? ` val_loss ${v.loss.toFixed(4)} val_acc ${v.acc.toFixed(4)}` : '';
    progress.epoch(`epoch ${epoch + 1}/${config.epochs} loss ${record.loss.toFixed(4)} acc ${record.acc.toFixed(4)}${valText} lr ${lr.toPrecision(3)} ` +
      `${record.samplesPerSec.toFixed(0)} img/s ${formatDuration(seconds)}`);
    if (input.shouldStop?.()) interrupted = state.epoch < config.epochs;
    await input.onCheckpoint?.(state, bestWeights);
  }
  // An interruption at an epoch boundary was checkpointed above; mid-epoch ones are saved here.
  if (interrupted && state.batch > 0) {
    progress.clear();
    await input.onCheckpoint?.(state, bestWeights);
  }
  if (stoppedEarly) input.log?.info(`early stopping: no val_acc gain for ${config.patience} epochs; best epoch ${state.best?.epoch}`);
  if (!interrupted && bestWeights && config.patience > 0) {
    model.setWeights(bestWeights);
    input.log?.info(`restored the weights of epoch ${state.best?.epoch} (val_acc ${state.best?.valAcc.toFixed(4)})`);
  }
  tf.dispose(bestWeights ?? []);
  headOptimizer?.dispose();
  return { history: state.history, interrupted, stoppedEarly, bestEpoch: state.best?.epoch ?? null, elapsedMs: state.elapsedMs, samplesSeen: state.samplesSeen, state };
}
