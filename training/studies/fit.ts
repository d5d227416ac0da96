import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import type { Logger } from '../../src/log.ts';
import { getArchitecture } from '../arch/index.ts';
import { checkTrainable, subset, type ImageSet } from '../data/dataset.ts';
import { loadDataset } from '../data/load.ts';
import { prepareSplits, stratifiedSample } from '../data/split.ts';
import { argmaxRows, classificationMetrics } from '../eval/metrics.ts';
import { predictTfjs, saveTfjsModel } from '../model/io.ts';
import { resolveConfig, type TrainOptions } from '../trainer/config.ts';
import { INT8_TEST_SEED } from '../trainer/onnx-outputs.ts';
import { mergeRecipe, readRecipeFile } from '../trainer/recipe-file.ts';
import { runTrainingLoop, type LoopResult } from '../trainer/loop.ts';
import { makeOptimizer } from '../trainer/optim.ts';
import { ProgressLine } from '../trainer/progress.ts';
import type { TrainConfig } from '../trainer/types.ts';
import { ORT_BACKEND, selectTrainingBackends, startOrtTraining } from '../trainer/ort-step.ts';
import type { OrtTrainingStep } from '../ort/step.ts';

/**
 * One model trained in memory with the trainer's loop (same recipe handling, augmentation,
 * schedules, seeded dropout and early stopping as `edgeloom train`), for the studies' commands that
 * train many models: `cv` (one per fold) and `search` (one per setting and fold).
 */
export interface FitInput {
  config: TrainConfig;
  train: ImageSet;
  val: ImageSet | null;
  log: Logger;
  shouldStop: () => boolean;
  /** Live progress line on stderr (default true). */
  progress?: boolean;
  /** Steps on onnxruntime (see `stepsOnOrt`); default false: on the selected tfjs back end. */
  ort?: boolean;
}

export async function fitModel(input: FitInput): Promise<{ model: tf.LayersModel; result: LoopResult }> {
  const { config } = input;
  const model = getArchitecture(config.arch).build({ seed: config.seed, numClasses: config.classNames.length, ...(config.settings ?? {}) });
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  let ort: OrtTrainingStep | null = null;
  try {
    if (input.ort) ort = await startOrtTraining(model, config);
    const result = await runTrainingLoop({
      model, optimizer, ort, config, train: input.train, val: input.val, log: input.log, shouldStop: input.shouldStop,
      progress: new ProgressLine(process.stderr, input.progress === false ? 'epochs' : 'auto'),
    });
    return { model, result };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
    await ort?.close();
  }
}

/**
 * Runs `fn` with Ctrl-C / SIGTERM turned into a polite stop (finish the batch, return), as
 * `edgeloom train` does; the listeners are removed afterwards.
 */
export async function withStopSignals<T>(fn: (shouldStop: () => boolean) => Promise<T>, what: string): Promise<T> {
  let stop = false;
  const onSignal = (signal: NodeJS.Signals) => {
    stop = true;
    process.stderr.write(`\n${signal === 'SIGINT' ? 'interrupt' : signal}: finishing the current batch; ${what}\n`);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(() => stop);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export interface TrainAndTestResult {
  testAccuracy: number;
  epochsRun: number;
  out: string;
}

/**
 * One model as `edgeloom train` makes it with these options (same recipe resolution, splits, loop
 * and seed: the same weights on the same back end), scored on the test split and saved as a tfjs
 * model directory with a report.json, but without ONNX files: for `reproduce`, whose rows each
 * need one trained model and its test accuracy.
 */
export async function trainAndTest(options: TrainOptions & { out: string }, log: Logger, shouldStop: () => boolean): Promise<TrainAndTestResult | null> {
  const opts = options.recipe ? mergeRecipe(await readRecipeFile(options.recipe), options) : options;
  const config = resolveConfig(opts);
  const { tfjs, ort: [ort] } = await selectTrainingBackends(opts.backend ?? 'auto', [config], log);
  const ds = await loadDataset({ data: config.data, seed: config.seed, onProgress: (m) => log.info(m) });
  checkTrainable(ds, config.data);
  config.classNames = [...ds.train.classNames];
  const { train, val } = prepareSplits(ds.train, config);
  const testLimit = opts.testLimit ?? 0;
  const test = testLimit > 0 && testLimit < ds.test.count ? subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, testLimit, INT8_TEST_SEED)) : ds.test;
  const { model, result } = await fitModel({ config, train, val, log, shouldStop, progress: opts.progress, ort });
  try {
    if (result.interrupted) return null;
    const metrics = classificationMetrics(test.labels, argmaxRows(predictTfjs(model, test), config.classNames.length), config.classNames);
    await saveTfjsModel(model, opts.out, { arch: config.arch, classNames: config.classNames });
    const report = { arch: config.arch, backend: ort ? ORT_BACKEND : tfjs.name, config, classNames: config.classNames,
      data: { source: ds.source, train: train.count, val: val?.count ?? 0, test: test.count }, test: metrics, history: result.history, createdAt: new Date().toISOString() };
    await writeFileAtomic(join(opts.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    log.info(`${config.arch}: test accuracy ${(metrics.accuracy * 100).toFixed(2)}% on ${metrics.count} images`);
    return { testAccuracy: metrics.accuracy, epochsRun: result.history.length, out: opts.out };
  } finally {
    model.dispose();
  }
}
