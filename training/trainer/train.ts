import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { countMacs, getArchitecture } from '../arch/index.ts';
import { selectBackend, type BackendInfo } from '../backend/index.ts';
import { DataParallelGradients } from '../backend/parallel/index.ts';
import { checkTrainable, subset, type ImageSet, type SplitDataset } from '../data/dataset.ts';
import { loadDataset } from '../data/load.ts';
import { prepareSplits, stratifiedSample } from '../data/split.ts';
import { imageErrors, topConfidences } from '../eval/image-errors.ts';
import { argmaxRows, classificationMetrics, type ClassificationMetrics } from '../eval/metrics.ts';
import { metadataFromTrainReport } from '../onnx/export.ts';
import { predictTfjs, saveTfjsModel } from '../model/io.ts';
import { CHECKPOINT_DIR, loadCheckpoint, resolveCheckpointDir, saveRunCheckpoint, type LoadedCheckpoint } from './checkpoint.ts';
import { evaluationSizes, resolveConfig, resumeConfig, type TrainOptions } from './config.ts';
import { Teacher } from './distill.ts';
import { loadInitModel, readInitMeta, withFp32Init } from './init-model.ts';
import { runTrainingLoop, type LoopResult, type LoopState } from './loop.ts';
import { INT8_TEST_SEED, removeStaleOnnx, writeOnnxOutputs, type OnnxOutputs } from './onnx-outputs.ts';
import { makeOptimizer } from './optim.ts';
import { ProgressLine } from './progress.ts';
import { pickMisclassified, writeTrainReport, type TrainReport } from './report.ts';
import type { TrainConfig } from './types.ts';
import { ORT_BACKEND, startOrtTraining, stepsOnOrt, tfjsBackendFor, trainingBackendText } from './ort-step.ts';
import type { OrtTrainingStep } from '../ort/step.ts';

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

/** What one run is: the resolved recipe and where it starts from, before any data is loaded. */
interface RunPlan {
  opts: TrainOptions;
  config: TrainConfig;
  backend: BackendInfo;
  backendText: string;
  /** Steps on onnxruntime (--backend ort, or auto where it can), `backend` for everything else. */
  ort: boolean;
  checkpoint: LoadedCheckpoint | null;
  initMeta: { arch: string; classNames: string[] } | null;
  out: string;
  testLimit: number;
  referenceSize: number;
}

/** The run's data, loaded once: the whole data set (drift profiles draw on it) and its splits. */
interface RunData {
  ds: SplitDataset;
  train: ImageSet;
  val: ImageSet | null;
  test: ImageSet;
}

interface RunModel {
  model: tf.LayersModel;
  optimizer: tf.Optimizer;
  teacher: Teacher | null;
  parameters: number;
  macs: number;
}

interface TestResult {
  logits: Float32Array;
  predicted: Int32Array;
  metrics: ClassificationMetrics;
}

/** `--recipe FILE`: its values under the flags given (./recipe-file.ts). */
async function withRecipeFile(opts: TrainOptions): Promise<TrainOptions> {
  if (!opts.recipe) return opts;
  if (opts.resume) throw new UserError(`--recipe ${opts.recipe}: a resumed run keeps its checkpoint's recipe; drop --recipe or --resume`);
  const { mergeRecipe, readRecipeFile } = await import('./recipe-file.ts');
  return mergeRecipe(await readRecipeFile(opts.recipe), opts);
}

/**
 * `edgeloom train`, as its phases: plan (back end, recipe, checkpoint or --init), data (loaded once),
 * model, training (checkpoints as it goes), test evaluation, then the files: tfjs model, ONNX models
 * and the report. Everything between the phases is passed in memory.
 */
export async function runTrain(options: TrainOptions): Promise<TrainSummary> {
  const log = createLogger('train');
  const wallStart = performance.now();
  const plan = await planRun(await withFp32Init(await withRecipeFile(options), log), log);
  const data = await loadRunData(plan, log);
  const run = await buildModel(plan, data, log);
  const result = await train(plan, data, run, log);
  const summary = summaryBase(plan, run, data, result);
  if (result.interrupted) {
    run.model.dispose();
    run.optimizer.dispose();
    return { ...summary, testAccuracy: null, macroF1: null, wallTimeSeconds: seconds(wallStart), files: [], interrupted: true, onnx: null };
  }
  try {
    const test = evaluateOnTest(run.model, data.test, plan.config, log);
    const report = trainReport(plan, data, run, result, test, seconds(wallStart));
    const { onnx, plots } = await writeOutputs(plan, data, run.model, test, report, log);
    const onnxFiles = onnx ? ['model.onnx', ...(onnx.int8 ? ['model.int8.onnx'] : [])] : [];
    return {
      ...summary,
      testAccuracy: test.metrics.accuracy,
      macroF1: test.metrics.macro.f1,
      wallTimeSeconds: seconds(wallStart),
      files: ['model.json', 'weights.bin', ...onnxFiles, 'report.json', 'report.md', ...plots, `${CHECKPOINT_DIR}/`],
      interrupted: false,
      onnx,
    };
  } finally {
    run.model.dispose();
    run.optimizer.dispose();
  }
}

const seconds = (since: number) => (performance.now() - since) / 1000;

/** Phase 1: the back end, then the recipe from the flags, the checkpoint (--resume) or the --init model. */
async function planRun(opts: TrainOptions, log: Logger): Promise<RunPlan> {
  const backendValue = opts.backend ?? 'auto';
  const askedOrt = backendValue === ORT_BACKEND;
  if (opts.experimental) log.warn('--experimental: no longer needed (--backend ort is a regular back end, and auto picks it); ignored');
  // With ort, tfjs still evaluates, checkpoints and exports the model: on the best back end it has.
  const backend = await selectBackend(tfjsBackendFor(backendValue));

  const checkpoint = opts.resume ? await loadCheckpoint(opts.resume) : null;
  const initMeta = !checkpoint && opts.init ? await readInitMeta(opts.init) : null;
  let config: TrainConfig;
  if (checkpoint) {
    const resumed = resumeConfig(checkpoint.state.config, opts);
    config = resumed.config;
    if (resumed.ignored.length) log.warn(`--resume keeps the checkpoint's hyper-parameters; ignoring ${resumed.ignored.join(', ')}`);
    if (opts.arch && opts.arch !== config.arch) throw new UserError(`--arch ${opts.arch}: the checkpoint in ${opts.resume} trains ${config.arch}`);
    log.info(`resuming ${config.arch} from ${resolveCheckpointDir(opts.resume!)} at epoch ${checkpoint.state.epoch + 1}, batch ${checkpoint.state.batch + 1}`);
  } else {
    config = resolveConfig({ ...opts, arch: opts.arch ?? initMeta?.arch });
    if (initMeta && initMeta.arch !== config.arch) throw new UserError(`--init ${opts.init}: the model is ${initMeta.arch}, but --arch is ${config.arch}`);
  }
  if (config.workers! > 1 && backend.name === 'node' && !askedOrt) {
    log.warn(`--workers ${config.workers}: ignored on the node back end (tfjs-node already uses every core); training on one thread`);
    config.workers = 1;
  }
  const ort = stepsOnOrt(backendValue, backend, config, log);
  const backendText = await trainingBackendText(ort);
  log.info(`back end: ${backendText}`);
  const out = resolve(opts.out ?? (opts.resume ? dirname(resolveCheckpointDir(opts.resume)) : join('runs', config.arch)));
  return { opts, config, backend, backendText, ort, checkpoint, initMeta, out, ...evaluationSizes(opts) };
}

/** Phase 2: the data set, once; the --limit subset and validation split; the (--test-limit) test set. */
async function loadRunData(plan: RunPlan, log: Logger): Promise<RunData> {
  const { config, testLimit } = plan;
  const ds = await loadDataset({ data: config.data, seed: config.seed, onProgress: (m) => log.info(m) });
  checkTrainable(ds, config.data);
  config.classNames = [...ds.train.classNames];
  const { train, val } = prepareSplits(ds.train, config);
  const test = testLimit > 0 && testLimit < ds.test.count ? subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, testLimit, INT8_TEST_SEED)) : ds.test;
  log.info(`data: ${ds.source}; ${train.count} train, ${val?.count ?? 0} val, ${test.count} test images${test === ds.test ? '' : ` (--test-limit: a stratified subset of ${ds.test.count})`}`);
  return { ds, train, val, test };
}

/** Phase 3: the model (checkpoint, --init or a fresh seeded one), the teacher and the optimizer. */
async function buildModel(plan: RunPlan, data: RunData, log: Logger): Promise<RunModel> {
  const { config, checkpoint, initMeta } = plan;
  if (config.init && !checkpoint) log.info(`fine-tuning: starting from the weights of ${config.init}${config.freezeEpochs ? `; only the head trains for the first ` +
    `${config.freezeEpochs} epoch(s)` : ''}`);
  const model = checkpoint
    ? checkpoint.model
    : config.init && initMeta
      ? await loadInitModel(config.init, initMeta, config, data.train, log)
      : getArchitecture(config.arch).build({ seed: config.seed, numClasses: config.classNames.length, ...config.settings });
  // Loaded before the loop so a bad teacher fails before any training time is spent.
  const teacher = config.distill ? await Teacher.load(config.distill, config.classNames) : null;
  if (config.distill) log.info(`distilling from ${config.distill.teacher} (weight ${config.distill.weight}, temperature ${config.distill.temperature}) on the uncorrupted view of every image`);
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  if (checkpoint) await optimizer.setWeights(checkpoint.optimizerWeights);
  const parameters = model.countParams();
  const macs = countMacs(model);
  log.info(`${config.arch}: ${parameters.toLocaleString('en-US')} parameters, ${macs.toLocaleString('en-US')} MACs/image; ` +
    `${config.optimizer} lr ${config.lr} ${config.schedule}, batch ${config.batchSize}, ${config.epochs} epochs, augment ${config.augment}`);
  return { model, optimizer, teacher, parameters, macs };
}

/** Phase 4: the training loop, checkpointing every epoch; SIGINT/SIGTERM finish the batch and checkpoint. */
async function train(plan: RunPlan, data: RunData, run: RunModel, log: Logger): Promise<LoopResult> {
  const { config, checkpoint, backend, out } = plan;
  const { model, optimizer, teacher } = run;
  const workers = config.workers ?? 1;
  let stopRequested = false;
  // SIGTERM too: runs in the background (nohup, a job scheduler, systemd) are stopped that way, and
  // a shell starts background jobs with SIGINT ignored.
  const onStopSignal = (signal: NodeJS.Signals) => {
    stopRequested = true;
    process.stderr.write(`\n${signal === 'SIGINT' ? 'interrupt' : signal}: finishing the current batch and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to abort)\n`);
  };
  process.once('SIGINT', onStopSignal);
  process.once('SIGTERM', onStopSignal);
  let parallel: DataParallelGradients | null = null;
  let ort: OrtTrainingStep | null = null;
  try {
    if (plan.ort) {
      ort = await startOrtTraining(model, config, checkpoint?.optimizerWeights);
      log.info(`onnxruntime training step: ${workers} intra-op thread(s), batch ${config.batchSize}`);
    } else if (workers > 1) {
      log.info(`data-parallel gradients: main thread + ${workers - 1} worker thread(s), ${backend.name} back end`);
      parallel = await DataParallelGradients.start(model, { arch: config.arch, settings: config.settings, seed: config.seed, numClasses: config.classNames.length,
        labelSmoothing: config.labelSmoothing }, workers - 1);
    }
    return await runTrainingLoop({
      parallel,
      ort,
      teacher,
      model,
      optimizer,
      config,
      train: data.train,
      val: data.val,
      resume: checkpoint?.state as LoopState | undefined,
      bestWeights: checkpoint?.bestWeights ?? null,
      shouldStop: () => stopRequested,
      progress: new ProgressLine(process.stderr, plan.opts.progress === false ? 'epochs' : 'auto'),
      log,
      onCheckpoint: async (state, best) => {
        await saveRunCheckpoint(out, model, optimizer, ort, best, { ...state, config });
      },
    });
  } finally {
    process.removeListener('SIGINT', onStopSignal);
    process.removeListener('SIGTERM', onStopSignal);
    await parallel?.close();
    await ort?.close();
    teacher?.dispose();
  }
}

function summaryBase(plan: RunPlan, run: RunModel, data: RunData, result: LoopResult) {
  const trainSeconds = result.elapsedMs / 1000;
  return {
    arch: plan.config.arch,
    backend: plan.ort ? ORT_BACKEND : plan.backend.name,
    parameters: run.parameters,
    macs: run.macs,
    epochsRun: result.history.length,
    bestValAccuracy: result.state.best?.valAcc ?? (data.val ? (result.history.at(-1)?.valAcc ?? null) : null),
    trainSeconds,
    samplesPerSec: result.samplesSeen / Math.max(trainSeconds, 1e-9),
    out: plan.out,
    checkpoint: join(plan.out, CHECKPOINT_DIR),
    workers: plan.config.workers ?? 1,
  };
}

/** Phase 5: the trained model on the test set, in memory. */
function evaluateOnTest(model: tf.LayersModel, test: ImageSet, config: TrainConfig, log: Logger): TestResult {
  const logits = predictTfjs(model, test, 256);
  const predicted = argmaxRows(logits, config.classNames.length);
  const metrics = classificationMetrics(test.labels, predicted, config.classNames);
  log.info(`test accuracy ${(metrics.accuracy * 100).toFixed(2)}% on ${metrics.count} images`);
  return { logits, predicted, metrics };
}

/** report.json's content (its plots are added when they are written). */
function trainReport(plan: RunPlan, data: RunData, run: RunModel, result: LoopResult, test: TestResult, wallTimeSeconds: number): TrainReport {
  const { config } = plan;
  const arch = getArchitecture(config.arch);
  const trainSeconds = result.elapsedMs / 1000;
  const errs = imageErrors(data.test.labels, test.predicted, topConfidences(test.logits, config.classNames.length), config.classNames, data.test.files);
  return {
    arch: config.arch,
    description: arch.description,
    source: arch.source,
    parameters: run.parameters,
    macs: run.macs,
    backend: { name: plan.ort ? ORT_BACKEND : plan.backend.name, description: plan.backendText },
    config,
    classNames: config.classNames,
    data: { source: data.ds.source, train: data.train.count, val: data.val?.count ?? 0, test: data.test.count },
    wallTimeSeconds,
    trainSeconds,
    samplesPerSec: result.samplesSeen / Math.max(trainSeconds, 1e-9),
    epochsRun: result.history.length,
    stoppedEarly: result.stoppedEarly,
    bestEpoch: result.bestEpoch,
    resumed: Boolean(plan.checkpoint),
    history: result.history,
    test: test.metrics,
    plots: [],
    createdAt: new Date().toISOString(),
    errors: errs.errors,
    errorsTotal: errs.total,
  };
}

/**
 * Phase 6, the files: the tfjs model, the ONNX models (their metadata from the report in memory,
 * their drift profiles from the data already loaded), then report.json, report.md and the plots,
 * listing the ONNX models. When an ONNX step fails, what was written stays and the report is
 * still written (without the ONNX section) before the error is passed on.
 */
async function writeOutputs(plan: RunPlan, data: RunData, model: tf.LayersModel, test: TestResult, report: TrainReport, log: Logger): Promise<{ onnx: OnnxOutputs | null; plots: string[] }> {
  const { out, config } = plan;
  await saveTfjsModel(model, out, { arch: config.arch, classNames: config.classNames });
  const stale = await removeStaleOnnx(out);
  if (stale.length) log.info(`removed ONNX files of an earlier run: ${stale.join(', ')}`);
  const wrong = pickMisclassified(data.test.images, data.test.labels, test.predicted, 36, data.test.files);
  let onnx: OnnxOutputs | null = null;
  try {
    if (plan.opts.onnx !== false) {
      onnx = await writeOnnxOutputs({
        model, out, arch: config.arch, train: data.ds.train, test: data.test, tfjsPredicted: test.predicted,
        referenceSize: plan.referenceSize, quick: config.limit > 0 && config.limit < data.ds.train.count,
        quantize: plan.opts.quantize !== false, log,
        metadata: metadataFromTrainReport(report, { arch: config.arch, classNames: config.classNames }),
        dataset: data.ds,
      });
    }
  } catch (err) {
    await writeTrainReport(out, report, wrong);
    throw err;
  }
  const written = await writeTrainReport(out, onnx ? { ...report, onnx } : report, wrong);
  return { onnx, plots: written.plots };
}
