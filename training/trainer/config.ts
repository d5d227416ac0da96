import { resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { getArchitecture, type ArchSettings } from '../arch/index.ts';
import { checkArchSettings } from './recipe-file.ts';
import { DEFAULT_REFERENCE_SIZE, MIN_REFERENCE_IMAGES } from '../drift/profile-model.ts';
import { parseAugment } from './augment.ts';
import { DISTILL_DEFAULTS, validateDistill } from './distill.ts';
import { OPTIMIZERS, type OptimizerName } from './optim.ts';
import { SCHEDULES, type ScheduleName } from './schedules.ts';
import type { TrainConfig } from './types.ts';
import { DEFAULT_SEED } from '../../src/defaults.ts';

/** What `edgeloom train` passes in; anything unset falls back to the architecture's recipe. */
export interface TrainOptions {
  arch?: string;
  /** A recipe file (JSON, e.g. `edgeloom search`'s best-recipe.json): defaults under the flags given. */
  recipe?: string;
  /** Architecture settings (activation, width, dropout), from a recipe file. */
  settings?: ArchSettings;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: string;
  momentum?: number;
  schedule?: string;
  weightDecay?: number;
  labelSmoothing?: number;
  limit?: number;
  valSplit?: number;
  patience?: number;
  seed?: number;
  augment?: string;
  backend?: string;
  /** Accepted and ignored (with a warning): `--backend ort` needed it before it was a regular back end. */
  experimental?: boolean;
  out?: string;
  resume?: string;
  /** Start from the weights of this trained model (tfjs directory or fp32 edgeloom ONNX file) instead of a fresh init. */
  init?: string;
  /** A new `logits` layer for the data's classes (default: when the classes differ from --init's). */
  newHead?: boolean;
  /** Train only the `logits` layer for the first N epochs (fine-tuning). */
  freezeEpochs?: number;
  /** Distil from this trained tfjs model directory (the teacher). */
  distill?: string;
  distillWeight?: number;
  distillTemperature?: number;
  data?: string;
  dataDir?: string;
  /** false: no live progress line, only one line per epoch on stderr (default true). */
  progress?: boolean;
  /** Threads computing each batch's gradient (wasm/cpu back ends; default 1). */
  workers?: number;
  /** false: skip model.onnx and model.int8.onnx (default true). */
  onnx?: boolean;
  /** false: skip only model.int8.onnx (default true). */
  quantize?: boolean;
  /** Evaluate on a stratified subset of this many test images (0 or unset: the whole test set). */
  testLimit?: number;
  /** Reference images of the drift profiles in model.onnx / model.int8.onnx (default 5000). */
  referenceSize?: number;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new UserError(message);
}

function checkWorkers(workers: number | undefined): void {
  check(Number.isInteger(workers) && workers! >= 1 && workers! <= 64, `--workers: expected an integer from 1 to 64, got ${workers}`);
}

/** Flags that a resumed run ignores: the checkpoint's hyper-parameters stand. */
const FIXED_ON_RESUME = ['init', 'batchSize', 'lr', 'optimizer', 'momentum', 'schedule', 'weightDecay', 'labelSmoothing', 'limit', 'valSplit', 'patience', 'seed', 'augment', 'dataDir', 'distill',
  'distillWeight', 'distillTemperature', 'newHead', 'freezeEpochs'] as const;

/**
 * The config of a resumed run: the checkpoint's, with only --epochs and --workers taken from the
 * flags. `ignored` lists the other flags given, for a warning.
 */
export function resumeConfig(saved: TrainConfig, opts: TrainOptions): { config: TrainConfig; ignored: string[] } {
  const config = { ...saved, epochs: opts.epochs ?? saved.epochs, workers: opts.workers ?? saved.workers ?? 1 };
  checkWorkers(config.workers);
  return { config, ignored: FIXED_ON_RESUME.filter((k) => opts[k] !== undefined) };
}

/** Resolves flags against the architecture's recipe and validates them (one-line UserErrors). */
export function resolveConfig(opts: TrainOptions, classNames: readonly string[] = []): TrainConfig {
  if (!opts.arch) throw new UserError('--arch: required (run "edgeloom archs" for the list)');
  const arch = getArchitecture(opts.arch);
  const r = arch.recipe;
  const cfg: TrainConfig = {
    arch: arch.name,
    epochs: opts.epochs ?? r.epochs,
    batchSize: opts.batchSize ?? r.batchSize,
    lr: opts.lr ?? r.lr,
    optimizer: (opts.optimizer ?? r.optimizer) as OptimizerName,
    momentum: opts.momentum ?? r.momentum ?? 0.9,
    schedule: (opts.schedule ?? r.schedule ?? 'constant') as ScheduleName,
    weightDecay: opts.weightDecay ?? r.weightDecay ?? 0,
    labelSmoothing: opts.labelSmoothing ?? 0,
    limit: opts.limit ?? 0,
    valSplit: opts.valSplit ?? 0,
    patience: opts.patience ?? 0,
    seed: opts.seed ?? DEFAULT_SEED,
    workers: opts.workers ?? 1,
    augment: opts.augment ?? r.augment ?? 'none',
    data: opts.dataDir ? `idx:${opts.dataDir}` : (opts.data ?? 'fashion-mnist'),
    classNames: [...classNames],
    ...(opts.settings && Object.keys(opts.settings).length ? { settings: checkArchSettings(arch.name, opts.settings as Record<string, unknown>, '--recipe settings') } : {}),
    ...(opts.init ? { init: resolve(opts.init) } : {}),
    ...(opts.newHead !== undefined ? { newHead: opts.newHead } : {}),
    ...(opts.freezeEpochs ? { freezeEpochs: opts.freezeEpochs } : {}),
    ...(opts.distill ? { distill: { teacher: resolve(opts.distill), weight: opts.distillWeight ?? DISTILL_DEFAULTS.weight,
      temperature: opts.distillTemperature ?? DISTILL_DEFAULTS.temperature } } : {}),
  };
  check(Number.isInteger(cfg.epochs) && cfg.epochs >= 1, `--epochs: expected an integer >= 1, got ${cfg.epochs}`);
  check(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1, `--batch-size: expected an integer >= 1, got ${cfg.batchSize}`);
  check(cfg.lr > 0, `--lr: expected a positive number, got ${cfg.lr}`);
  check((OPTIMIZERS as readonly string[]).includes(cfg.optimizer), `--optimizer: unknown optimizer "${cfg.optimizer}" (expected ${OPTIMIZERS.join(', ')})`);
  check(cfg.momentum >= 0 && cfg.momentum < 1, `--momentum: expected 0 <= momentum < 1, got ${cfg.momentum}`);
  check((SCHEDULES as readonly string[]).includes(cfg.schedule), `--schedule: unknown schedule "${cfg.schedule}" (expected ${SCHEDULES.join(', ')})`);
  check(cfg.weightDecay >= 0 && cfg.weightDecay < 1, `--weight-decay: expected 0 <= wd < 1, got ${cfg.weightDecay}`);
  check(cfg.labelSmoothing >= 0 && cfg.labelSmoothing < 1, `--label-smoothing: expected 0 <= x < 1, got ${cfg.labelSmoothing}`);
  check(Number.isInteger(cfg.limit) && cfg.limit >= 0, `--limit: expected an integer >= 0, got ${cfg.limit}`);
  check(cfg.valSplit >= 0 && cfg.valSplit < 1, `--val-split: expected 0 <= x < 1, got ${cfg.valSplit}`);
  check(Number.isInteger(cfg.patience) && cfg.patience >= 0, `--patience: expected an integer >= 0, got ${cfg.patience}`);
  check(cfg.patience === 0 || cfg.valSplit > 0, '--patience: early stopping needs a validation set (add --val-split, e.g. 0.1)');
  check(Number.isInteger(cfg.seed), `--seed: expected an integer, got ${cfg.seed}`);
  checkWorkers(cfg.workers);
  check(Boolean(opts.distill) || (opts.distillWeight === undefined && opts.distillTemperature === undefined),
    `--distill-${opts.distillWeight !== undefined ? 'weight' : 'temperature'}: needs --distill DIR (the teacher model)`);
  if (cfg.distill) validateDistill(cfg.distill);
  const freeze = opts.freezeEpochs ?? 0;
  check(Number.isInteger(freeze) && freeze >= 0 && freeze <= cfg.epochs, `--freeze-epochs: expected an integer from 0 to --epochs (${cfg.epochs}), got ${freeze}`);
  check(freeze === 0 || Boolean(opts.init), '--freeze-epochs: trains only the head of a model given with --init (fine-tuning)');
  check(freeze === 0 || (cfg.workers ?? 1) === 1, '--freeze-epochs: not supported with --workers > 1');
  check(opts.newHead === undefined || Boolean(opts.init), `--${opts.newHead ? '' : 'no-'}new-head: needs --init (the model to fine-tune)`);
  parseAugment(cfg.augment);
  check(!cfg.settings || !opts.init, '--init: the recipe\'s architecture settings (activation, width, dropout) cannot change a trained model; drop them or --init');
  return cfg;
}

/** What a run evaluates and profiles on: --test-limit (0: the whole test set) and --reference-size. */
export function evaluationSizes(opts: Pick<TrainOptions, 'testLimit' | 'referenceSize'>): { testLimit: number; referenceSize: number } {
  const testLimit = opts.testLimit ?? 0;
  check(Number.isInteger(testLimit) && testLimit >= 0, `--test-limit: expected an integer >= 0, got ${testLimit}`);
  const referenceSize = opts.referenceSize ?? DEFAULT_REFERENCE_SIZE;
  check(Number.isInteger(referenceSize) && referenceSize >= MIN_REFERENCE_IMAGES, `--reference-size: expected an integer >= ${MIN_REFERENCE_IMAGES}, got ${referenceSize}`);
  return { testLimit, referenceSize };
}
