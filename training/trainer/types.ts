import type { OptimizerName } from './optim.ts';
import type { ScheduleName } from './schedules.ts';
import type { DistillConfig } from './distill.ts';
import type { ArchSettings } from '../arch/types.ts';

/** The full, resolved hyper-parameter set of one run (stored in checkpoints and report.json). */
export interface TrainConfig {
  arch: string;
  /** Architecture settings (activation, width, dropout) from a recipe file or a search (absent = the source's). */
  settings?: ArchSettings;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  momentum: number;
  schedule: ScheduleName;
  /** Decoupled weight decay (SGDW/AdamW style) on conv and dense kernels. */
  weightDecay: number;
  labelSmoothing: number;
  /** Stratified subset of the training set (0 = all). */
  limit: number;
  valSplit: number;
  /** Early stopping on validation accuracy (0 = off); restores the best weights when it stops. */
  patience: number;
  seed: number;
  /**
   * Threads computing each batch's gradient (main + workers-1 replicas; absent in older
   * checkpoints = 1). Recorded because it changes the numerics: BatchNorm statistics per part.
   */
  workers?: number;
  augment: string;
  /** Fine-tuning: the tfjs model directory or fp32 ONNX file whose weights the run started from (absent = fresh init). */
  init?: string;
  /** Fine-tuning: a freshly initialised `logits` layer for the data's classes (absent = false). */
  newHead?: boolean;
  /** Fine-tuning: epochs at the start that train only the `logits` layer (absent = 0). */
  freezeEpochs?: number;
  /** Knowledge distillation from a teacher model (absent = plain labels). */
  distill?: DistillConfig;
  data: string;
  classNames: string[];
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number | null;
  valAcc: number | null;
  lr: number;
  seconds: number;
  samplesPerSec: number;
}
