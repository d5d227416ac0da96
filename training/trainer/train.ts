import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { backendDescription, parseBackendName, selectBackend } from '../backend/index.ts';
import { loadDataset } from '../data/load.ts';
import { checkTrainable, subset, type ImageSet } from '../data/dataset.ts';
import { argmaxRows, classificationMetrics } from '../eval/metrics.ts';
import { imageErrors, pickMisclassified, reportMarkdown, topConfidences, writeTrainReport, type TrainReport } from '../eval/report.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { countMacs, getArchitecture, type ArchSettings } from '../arch/index.ts';
import { parseAugment } from './augment.ts';
import { checkArchSettings } from '../studies/recipe-file.ts';
import { CHECKPOINT_DIR, loadCheckpoint, resolveCheckpointDir, saveCheckpoint } from './checkpoint.ts';
import { runTrainingLoop, type LoopState } from './loop.ts';
import { DataParallelGradients } from '../backend/parallel/index.ts';
import { checkSameClasses, loadTfjsModel, predictTfjs, readTfjsModelMeta, saveTfjsModel, type EdgeloomModelMeta } from './model-io.ts';
import { makeOptimizer, OPTIMIZERS, type OptimizerName } from './optim.ts';
import { ProgressLine } from './progress.ts';
import { INT8_TEST_SEED, onnxMarkdown, removeStaleOnnx, writeOnnxOutputs, type OnnxOutputs } from './onnx-outputs.ts';
import { DEFAULT_REFERENCE_SIZE, MIN_REFERENCE_IMAGES } from '../drift/profile-model.ts';
import { SCHEDULES, type ScheduleName } from './schedules.ts';
import { mixSeed, stratifiedSample, stratifiedSplit } from './split.ts';
import type { TrainConfig } from './types.ts';
import { DISTILL_DEFAULTS, Teacher, validateDistill } from './distill.ts';

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

export interface TrainSummary {
  arch: string;
  backend: string;
  parameters: number;
  macs: number;
  epochsRun: number;
  testAccuracy: number | null;
  macroF1: number | null;
  bestValAccuracy: number | null;
  trainSeconds: number;
  wallTimeSeconds: number;
  samplesPerSec: number;
  out: string;
  files: string[];
  interrupted: boolean;
  checkpoint: string;
  workers: number;
  /** null: interrupted, or --no-onnx. */
  onnx: OnnxOutputs | null;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new UserError(message);
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
    seed: opts.seed ?? 42,
    workers: opts.workers ?? 1,
    augment: opts.augment ?? r.augment ?? 'none',
    data: opts.dataDir ? `idx:${opts.dataDir}` : (opts.data ?? 'fashion-mnist'),
    classNames: [...classNames],
    ...(opts.settings && Object.keys(opts.settings).length ? { settings: checkArchSettings(arch.name, opts.settings as Record<string, unknown>, '--recipe settings') } : {}),
    ...(opts.init ? { init: resolve(opts.init) } : {}),
    ...(opts.newHead !== undefined ? { newHead: opts.newHead } : {}),
    ...(opts.freezeEpochs ? { freezeEpochs: opts.freezeEpochs } : {}),
    ...(opts.distill ? { distill: { teacher: resolve(opts.distill), weight: opts.distillWeight ?? DISTILL_DEFAULTS.weight, temperature: opts.distillTemperature ?? DISTILL_DEFAULTS.temperature } } : {}),
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
  check(Number.isInteger(cfg.workers) && cfg.workers! >= 1 && cfg.workers! <= 64, `--workers: expected an integer from 1 to 64, got ${cfg.workers}`);
  check(Boolean(opts.distill) || (opts.distillWeight === undefined && opts.distillTemperature === undefined), `--distill-${opts.distillWeight !== undefined ? 'weight' : 'temperature'}: needs --distill DIR (the teacher model)`);
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

/** Training and validation sets for a config: stratified --limit subset, then stratified split. */
export function prepareSplits(train: ImageSet, cfg: TrainConfig): { train: ImageSet; val: ImageSet | null } {
  const k = train.classNames.length;
  let base = train;
  if (cfg.limit > 0 && cfg.limit < train.count) base = subset(train, stratifiedSample(train.labels, k, cfg.limit, mixSeed(cfg.seed, 1)));
  if (cfg.valSplit <= 0) return { train: base, val: null };
  const s = stratifiedSplit(base.labels, k, cfg.valSplit, mixSeed(cfg.seed, 2));
  return { train: subset(base, s.train), val: subset(base, s.val) };
}

/** `--init INT8.onnx` with its fp32 parent beside it fine-tunes from that parent, and says so. */
async function withFp32Init(opts: TrainOptions, log: Logger): Promise<TrainOptions> {
  if (!opts.init || opts.resume) return opts;
  const { fp32InitFor } = await import('../onnx/read-back.ts');
  const init = await fp32InitFor(opts.init);
  if (init !== opts.init) log.info(`--init ${opts.init}: an int8 model; fine-tuning from its fp32 parent ${init} (the same network before its weights were rounded)`);
  return { ...opts, init };
}

/** `--init`'s architecture and classes, read before any data is loaded (an int8 file fails here). */
async function readInitMeta(path: string): Promise<{ arch: string; classNames: string[] }> {
  if (!existsSync(path)) throw new UserError(`--init ${path}: not found (a tfjs model directory or an fp32 edgeloom .onnx file)`);
  if (!statSync(path).isDirectory()) {
    const { readOnnxInitMeta } = await import('../onnx/read-back.ts');
    const m = await readOnnxInitMeta(path);
    return { arch: m.arch, classNames: m.classes };
  }
  const meta = await readTfjsModelMeta(path);
  if (!meta) throw new UserError(`--init ${path}: not an edgeloom tfjs model directory (model.json without edgeloom metadata)`);
  return meta;
}

/**
 * The model to fine-tune from `--init`, once the data's classes are known. With a new head (the
 * default when the classes differ) every layer but `logits` keeps the parent's weights and
 * `logits` is the fresh, seeded init of a model built for the data's classes.
 */
async function loadInitModel(path: string, meta: { arch: string; classNames: string[] }, config: TrainConfig, train: ImageSet, log: ReturnType<typeof createLogger>): Promise<tf.LayersModel> {
  const differ = meta.classNames.join('|') !== config.classNames.join('|');
  if (differ && config.newHead === false) checkSameClasses(`--init ${path} (--no-new-head)`, meta as EdgeloomModelMeta, config.classNames);
  const parent = statSync(path).isDirectory()
    ? await loadTfjsModel(path)
    : (await (await import('../onnx/read-back.ts')).readOnnxWeights(path, train.images)).model;
  if (!differ && !config.newHead) return parent;
  config.newHead = true;
  const model = getArchitecture(config.arch).build({ seed: config.seed, numClasses: config.classNames.length });
  const from = parent.layers;
  if (from.length !== model.layers.length) throw new UserError(`--init ${path}: ${from.length} layers, but ${config.arch} has ${model.layers.length}`);
  // By position: tfjs names layers from a process-wide counter, so names differ between builds.
  for (const [i, layer] of model.layers.entries()) if (layer.name !== 'logits' && layer.weights.length) layer.setWeights(from[i].getWeights());
  parent.dispose();
  log.info(`new head: ${config.classNames.length} classes (${config.classNames.join(', ')}) instead of the parent's ${meta.classNames.length}; every other layer starts from ${path}`);
  return model;
}

/** `--recipe FILE`: its values under the flags given (training/studies/recipe-file.ts). */
async function withRecipeFile(opts: TrainOptions): Promise<TrainOptions> {
  if (!opts.recipe) return opts;
  if (opts.resume) throw new UserError(`--recipe ${opts.recipe}: a resumed run keeps its checkpoint's recipe; drop --recipe or --resume`);
  const { mergeRecipe, readRecipeFile } = await import('../studies/recipe-file.ts');
  return mergeRecipe(await readRecipeFile(opts.recipe), opts);
}

export async function runTrain(options: TrainOptions): Promise<TrainSummary> {
  const log = createLogger('train');
  const opts = await withFp32Init(await withRecipeFile(options), log);
  const wallStart = performance.now();
  const backend = await selectBackend(parseBackendName(opts.backend ?? 'auto'));
  const backendText = await backendDescription();
  log.info(`back end: ${backendText}`);

  const checkpoint = opts.resume ? await loadCheckpoint(opts.resume) : null;
  const initMeta = !checkpoint && opts.init ? await readInitMeta(opts.init) : null;
  let config: TrainConfig;
  if (checkpoint) {
    config = { ...checkpoint.state.config, epochs: opts.epochs ?? checkpoint.state.config.epochs, workers: opts.workers ?? checkpoint.state.config.workers ?? 1 };
    check(Number.isInteger(config.workers) && config.workers! >= 1 && config.workers! <= 64, `--workers: expected an integer from 1 to 64, got ${config.workers}`);
    const ignored = (['init', 'batchSize', 'lr', 'optimizer', 'momentum', 'schedule', 'weightDecay', 'labelSmoothing', 'limit', 'valSplit', 'patience', 'seed', 'augment', 'dataDir', 'distill', 'distillWeight', 'distillTemperature', 'newHead', 'freezeEpochs'] as const).filter((k) => opts[k] !== undefined);
    if (ignored.length) log.warn(`--resume keeps the checkpoint's hyper-parameters; ignoring ${ignored.join(', ')}`);
    if (opts.arch && opts.arch !== config.arch) throw new UserError(`--arch ${opts.arch}: the checkpoint in ${opts.resume} trains ${config.arch}`);
    log.info(`resuming ${config.arch} from ${resolveCheckpointDir(opts.resume!)} at epoch ${checkpoint.state.epoch + 1}, batch ${checkpoint.state.batch + 1}`);
  } else {
    config = resolveConfig({ ...opts, arch: opts.arch ?? initMeta?.arch });
    if (initMeta && initMeta.arch !== config.arch) throw new UserError(`--init ${opts.init}: the model is ${initMeta.arch}, but --arch is ${config.arch}`);
  }
  if (config.workers! > 1 && backend.name === 'node') {
    log.warn(`--workers ${config.workers}: ignored on the node back end (tfjs-node already uses every core); training on one thread`);
    config.workers = 1;
  }
  const workers = config.workers ?? 1;
  const out = resolve(opts.out ?? (opts.resume ? dirname(resolveCheckpointDir(opts.resume)) : join('runs', config.arch)));
  const arch = getArchitecture(config.arch);

  const testLimit = opts.testLimit ?? 0;
  check(Number.isInteger(testLimit) && testLimit >= 0, `--test-limit: expected an integer >= 0, got ${testLimit}`);
  const referenceSize = opts.referenceSize ?? DEFAULT_REFERENCE_SIZE;
  check(Number.isInteger(referenceSize) && referenceSize >= MIN_REFERENCE_IMAGES, `--reference-size: expected an integer >= ${MIN_REFERENCE_IMAGES}, got ${referenceSize}`);

  const ds = await loadDataset({ data: config.data, seed: config.seed, onProgress: (m) => log.info(m) });
  checkTrainable(ds, config.data);
  config.classNames = [...ds.train.classNames];
  const { train, val } = prepareSplits(ds.train, config);
  const testSet = testLimit > 0 && testLimit < ds.test.count ? subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, testLimit, INT8_TEST_SEED)) : ds.test;
  log.info(`data: ${ds.source}; ${train.count} train, ${val?.count ?? 0} val, ${testSet.count} test images${testSet === ds.test ? '' : ` (--test-limit: a stratified subset of ${ds.test.count})`}`);

  if (config.init && !checkpoint) log.info(`fine-tuning: starting from the weights of ${config.init}${config.freezeEpochs ? `; only the head trains for the first ${config.freezeEpochs} epoch(s)` : ''}`);
  const model = checkpoint ? checkpoint.model : config.init && initMeta ? await loadInitModel(config.init, initMeta, config, train, log) : arch.build({ seed: config.seed, numClasses: config.classNames.length, ...config.settings });
  // Loaded before the loop so a bad teacher fails before any training time is spent.
  const teacher = config.distill ? await Teacher.load(config.distill, config.classNames) : null;
  if (config.distill) log.info(`distilling from ${config.distill.teacher} (weight ${config.distill.weight}, temperature ${config.distill.temperature}) on the uncorrupted view of every image`);
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  if (checkpoint) await optimizer.setWeights(checkpoint.optimizerWeights);
  const parameters = model.countParams();
  const macs = countMacs(model);
  log.info(`${config.arch}: ${parameters.toLocaleString('en-US')} parameters, ${macs.toLocaleString('en-US')} MACs/image; ${config.optimizer} lr ${config.lr} ${config.schedule}, batch ${config.batchSize}, ${config.epochs} epochs, augment ${config.augment}`);

  let stopRequested = false;
  // SIGTERM too: runs in the background (nohup, a job scheduler, systemd) are stopped that way, and
  // a shell starts background jobs with SIGINT ignored.
  const onStopSignal = (signal: NodeJS.Signals) => {
    stopRequested = true;
    process.stderr.write(`\n${signal === 'SIGINT' ? 'interrupt' : signal}: finishing the current batch and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to abort)\n`);
  };
  process.once('SIGINT', onStopSignal);
  process.once('SIGTERM', onStopSignal);
  let result;
  let parallel: DataParallelGradients | null = null;
  try {
    if (workers > 1) {
      log.info(`data-parallel gradients: main thread + ${workers - 1} worker thread(s), ${backend.name} back end`);
      parallel = await DataParallelGradients.start(model, { arch: config.arch, settings: config.settings, seed: config.seed, numClasses: config.classNames.length, labelSmoothing: config.labelSmoothing }, workers - 1);
    }
    result = await runTrainingLoop({
      parallel,
      teacher,
      model,
      optimizer,
      config,
      train,
      val,
      resume: checkpoint?.state as LoopState | undefined,
      bestWeights: checkpoint?.bestWeights ?? null,
      shouldStop: () => stopRequested,
      progress: new ProgressLine(process.stderr, opts.progress === false ? 'epochs' : 'auto'),
      log,
      onCheckpoint: async (state, best) => {
        await saveCheckpoint(out, model, optimizer, best, { ...state, config });
      },
    });
  } finally {
    process.removeListener('SIGINT', onStopSignal);
    process.removeListener('SIGTERM', onStopSignal);
    await parallel?.close();
    teacher?.dispose();
  }
  const ckptDir = join(out, CHECKPOINT_DIR);
  const trainSeconds = result.elapsedMs / 1000;
  const samplesPerSec = result.samplesSeen / Math.max(trainSeconds, 1e-9);
  const summaryBase = {
    arch: config.arch,
    backend: backend.name,
    parameters,
    macs,
    epochsRun: result.history.length,
    bestValAccuracy: result.state.best?.valAcc ?? (val ? (result.history.at(-1)?.valAcc ?? null) : null),
    trainSeconds,
    samplesPerSec,
    out,
    checkpoint: ckptDir,
    workers,
  };
  if (result.interrupted) {
    model.dispose();
    optimizer.dispose();
    return { ...summaryBase, testAccuracy: null, macroF1: null, wallTimeSeconds: (performance.now() - wallStart) / 1000, files: [], interrupted: true, onnx: null };
  }

  await saveTfjsModel(model, out, { arch: config.arch, classNames: config.classNames });
  const logits = predictTfjs(model, testSet, 256);
  const predicted = argmaxRows(logits, config.classNames.length);
  const test = classificationMetrics(testSet.labels, predicted, config.classNames);
  log.info(`test accuracy ${(test.accuracy * 100).toFixed(2)}% on ${test.count} images`);
  const report: TrainReport = {
    arch: config.arch,
    description: arch.description,
    source: arch.source,
    parameters,
    macs,
    backend: { name: backend.name, description: backendText },
    config,
    classNames: config.classNames,
    data: { source: ds.source, train: train.count, val: val?.count ?? 0, test: testSet.count },
    wallTimeSeconds: 0,
    trainSeconds,
    samplesPerSec,
    epochsRun: result.history.length,
    stoppedEarly: result.stoppedEarly,
    bestEpoch: result.bestEpoch,
    resumed: Boolean(checkpoint),
    history: result.history,
    test,
    plots: [],
    createdAt: new Date().toISOString(),
  };
  report.wallTimeSeconds = (performance.now() - wallStart) / 1000;
  const errs = imageErrors(testSet.labels, predicted, topConfidences(logits, config.classNames.length), config.classNames, testSet.files);
  report.errors = errs.errors;
  report.errorsTotal = errs.total;
  const written = await writeTrainReport(out, report, pickMisclassified(testSet.images, testSet.labels, predicted, 36, testSet.files));
  const stale = await removeStaleOnnx(out);
  if (stale.length) log.info(`removed ONNX files of an earlier run: ${stale.join(', ')}`);
  let onnx: OnnxOutputs | null = null;
  try {
    if (opts.onnx !== false) {
      onnx = await writeOnnxOutputs({
        model, out, arch: config.arch, train: ds.train, test: testSet, tfjsPredicted: predicted, referenceSize,
        quick: config.limit > 0 && config.limit < ds.train.count, quantize: opts.quantize !== false, log,
      });
      // report.json was needed first (its metrics go into the ONNX metadata); now it lists the files.
      const full = { ...written, onnx };
      await writeFileAtomic(join(out, 'report.json'), `${JSON.stringify(full, null, 2)}\n`);
      await writeFileAtomic(join(out, 'report.md'), `${reportMarkdown(full).trimEnd()}\n\n${onnxMarkdown(onnx)}`);
    }
  } finally {
    model.dispose();
    optimizer.dispose();
  }
  const onnxFiles = onnx ? ['model.onnx', ...(onnx.int8 ? ['model.int8.onnx'] : [])] : [];
  return {
    ...summaryBase,
    testAccuracy: test.accuracy,
    macroF1: test.macro.f1,
    wallTimeSeconds: (performance.now() - wallStart) / 1000,
    files: ['model.json', 'weights.bin', ...onnxFiles, 'report.json', 'report.md', ...written.plots, `${CHECKPOINT_DIR}/`],
    interrupted: false,
    onnx,
  };
}
