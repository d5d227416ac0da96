import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { selectTrainingBackends } from '../trainer/ort-step.ts';
import { checkTrainable, subset, type ImageSet } from '../data/dataset.ts';
import { loadDataset } from '../data/load.ts';
import { argmaxRows, classificationMetrics, type ClassificationMetrics } from '../eval/metrics.ts';
import { predictTfjs, saveTfjsModel } from '../model/io.ts';
import { INT8_TEST_SEED } from '../trainer/onnx-outputs.ts';
import { prepareSplits, stratifiedSample } from '../data/split.ts';
import { resolveConfig, type TrainOptions } from '../trainer/config.ts';
import type { EpochRecord, TrainConfig } from '../trainer/types.ts';
import { fitModel, withStopSignals } from './fit.ts';
import { mergeRecipe, readRecipeFile } from '../trainer/recipe-file.ts';
import { checkPlan } from './plan.ts';
import { averageSoftmax, describeProtocol, makeFolds, meanStd, type Protocol } from './folds.ts';

/** `edgeloom cv`: one model per fold of the training images, scored on its fold and on the test split. */
export interface CvOptions extends Omit<TrainOptions,
  'valSplit' | 'resume' | 'init' | 'distill' | 'distillWeight' | 'distillTemperature' | 'newHead' | 'freezeEpochs' | 'workers' | 'onnx' | 'quantize' | 'referenceSize'> {
  folds?: number;
  /** Random splits instead of K folds (`--shuffle-split`), each holding out `testSize`. */
  shuffleSplit?: boolean;
  testSize?: number;
  stratified?: boolean;
  /** After the folds: `best` copies the best fold's model (by validation accuracy), `average` averages the folds' weights. */
  export?: string;
}

export const CV_DEFAULTS = { folds: 5, testSize: 0.1, dir: 'cv' } as const;
export const CV_EXPORTS = ['none', 'best', 'average'] as const;

export interface FoldResult {
  fold: number;
  train: number;
  val: number;
  valAccuracy: number;
  testAccuracy: number;
  epochsRun: number;
  trainSeconds: number;
  history: EpochRecord[];
}

export interface CvResult {
  arch: string;
  protocol: Protocol;
  description: string;
  data: { source: string; train: number; test: number };
  config: TrainConfig;
  folds: FoldResult[];
  valAccuracy: { mean: number; std: number };
  testAccuracy: { mean: number; std: number };
  /** The mean of the fold models' softmax on the test split. */
  ensemble: ClassificationMetrics;
  /** The fold with the best validation accuracy (never chosen on the test split), and its test metrics. */
  best: { fold: number; valAccuracy: number; test: ClassificationMetrics };
  exported: { kind: 'best' | 'average'; dir: string; testAccuracy: number } | null;
  out: string;
  files: string[];
  interrupted: boolean;
}

const FOLD_JSON = 'fold.json';
const TEST_LOGITS = 'test-logits.f32';
const PLAN_JSON = 'cv-plan.json';

function foldDir(out: string, fold: number): string {
  return join(out, `fold-${String(fold + 1).padStart(2, '0')}`);
}

export function resolveProtocol(opts: CvOptions): Protocol {
  const folds = opts.folds ?? CV_DEFAULTS.folds;
  const stratified = Boolean(opts.stratified);
  if (opts.shuffleSplit) return { kind: 'shuffle-split', splits: folds, testSize: opts.testSize ?? CV_DEFAULTS.testSize, stratified };
  if (opts.testSize !== undefined) throw new UserError('--test-size: applies to --shuffle-split (k-fold holds out 1/K of the images per fold)');
  if (!Number.isInteger(folds) || folds < 2) throw new UserError(`--folds: expected an integer >= 2, got ${folds}`);
  return { kind: 'k-fold', folds, stratified };
}

async function readFinishedFold(dir: string): Promise<{ result: FoldResult; logits: Float32Array } | null> {
  if (!existsSync(join(dir, FOLD_JSON)) || !existsSync(join(dir, TEST_LOGITS))) return null;
  const result = JSON.parse(await readFile(join(dir, FOLD_JSON), 'utf8')) as FoldResult;
  const b = await readFile(join(dir, TEST_LOGITS));
  return { result, logits: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
}

interface FoldInput {
  config: TrainConfig;
  base: ImageSet;
  test: ImageSet;
  fold: { train: Int32Array; val: Int32Array };
  index: number;
  dir: string;
  log: Logger;
  shouldStop: () => boolean;
  progress?: boolean;
  ort: boolean;
}

/** Trains one fold; writes its model, fold.json and test logits (fold.json last: it marks the fold done). */
async function runFold(f: FoldInput): Promise<{ result: FoldResult; logits: Float32Array } | null> {
  const train = subset(f.base, f.fold.train);
  const val = subset(f.base, f.fold.val);
  const { model, result } = await fitModel({ config: f.config, train, val, log: f.log, shouldStop: f.shouldStop, progress: f.progress, ort: f.ort });
  try {
    if (result.interrupted) return null;
    const k = f.config.classNames.length;
    const valAcc = classificationMetrics(val.labels, argmaxRows(predictTfjs(model, val), k), f.config.classNames).accuracy;
    const logits = predictTfjs(model, f.test);
    const test = classificationMetrics(f.test.labels, argmaxRows(logits, k), f.config.classNames);
    await saveTfjsModel(model, f.dir, { arch: f.config.arch, classNames: f.config.classNames });
    const foldResult: FoldResult = { fold: f.index + 1, train: train.count, val: val.count, valAccuracy: valAcc, testAccuracy: test.accuracy, epochsRun: result.history.length,
      trainSeconds: result.elapsedMs / 1000, history: result.history };
    // report.json as `train` writes it (arch, config, classes, test): evaluate/export/average read it.
    await writeFileAtomic(join(f.dir, 'report.json'),
      `${JSON.stringify({ arch: f.config.arch, config: f.config, classNames: f.config.classNames, test, history: result.history, cv: foldResult, createdAt: new Date().toISOString() }, null, 2)}\n`);
    await writeFileAtomic(join(f.dir, TEST_LOGITS), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
    await writeFileAtomic(join(f.dir, FOLD_JSON), `${JSON.stringify(foldResult, null, 2)}\n`);
    f.log.info(`fold ${f.index + 1}: validation ${(valAcc * 100).toFixed(2)}% on ${val.count}, test ${(test.accuracy * 100).toFixed(2)}% on ${f.test.count}`);
    return { result: foldResult, logits };
  } finally {
    model.dispose();
  }
}

export async function runCv(options: CvOptions): Promise<CvResult> {
  const log = createLogger('cv');
  const opts = options.recipe ? mergeRecipe(await readRecipeFile(options.recipe), options) : options;
  const protocol = resolveProtocol(opts);
  const exportKind = opts.export ?? 'none';
  if (!(CV_EXPORTS as readonly string[]).includes(exportKind)) throw new UserError(`--export: expected ${CV_EXPORTS.join(', ')}, got "${exportKind}"`);
  // The folds are the validation sets: early stopping (--patience) watches the fold's held-out part.
  const config = resolveConfig({ ...opts, patience: undefined, valSplit: undefined });
  config.patience = opts.patience ?? 0;
  if (!(Number.isInteger(config.patience) && config.patience >= 0)) throw new UserError(`--patience: expected an integer >= 0, got ${config.patience}`);
  const testLimit = opts.testLimit ?? 0;
  if (!(Number.isInteger(testLimit) && testLimit >= 0)) throw new UserError(`--test-limit: expected an integer >= 0, got ${testLimit}`);
  const out = resolve(opts.out ?? join(CV_DEFAULTS.dir, config.arch));
  const { ort: [ort] } = await selectTrainingBackends(opts.backend ?? 'auto', [config], log);

  const ds = await loadDataset({ data: config.data, seed: config.seed, onProgress: (m) => log.info(m) });
  checkTrainable(ds, config.data);
  config.classNames = [...ds.train.classNames];
  const base = prepareSplits(ds.train, config).train;
  const test = testLimit > 0 && testLimit < ds.test.count ? subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, testLimit, INT8_TEST_SEED)) : ds.test;
  const folds = makeFolds(base.labels, config.classNames.length, protocol, config.seed);
  await checkPlan(out, PLAN_JSON, { protocol, config, testLimit, data: ds.source }, 'cv');
  log.info(`${describeProtocol(protocol)} of ${config.arch} on ${base.count} training images of ${ds.source}; test ${test.count} images`);

  const done: Array<{ result: FoldResult; logits: Float32Array }> = [];
  const interrupted = await withStopSignals(async (shouldStop) => {
    for (const [i, fold] of folds.entries()) {
      const dir = foldDir(out, i);
      const finished = await readFinishedFold(dir);
      if (finished) {
        log.info(`fold ${i + 1}/${folds.length}: already done in ${dir} (validation ${(finished.result.valAccuracy * 100).toFixed(2)}%)`);
        done.push(finished);
        continue;
      }
      log.info(`fold ${i + 1}/${folds.length}: ${fold.train.length} train, ${fold.val.length} validation images`);
      const r = await runFold({ config, base, test, fold, index: i, dir, log, shouldStop, progress: opts.progress, ort });
      if (!r) return true;
      done.push(r);
    }
    return false;
  }, 'the finished folds are kept; run the same command again to continue');

  const k = config.classNames.length;
  const fr = done.map((d) => d.result);
  const ensemble = done.length ? classificationMetrics(test.labels, argmaxRows(averageSoftmax(done.map((d) => d.logits), k), k), config.classNames) : classificationMetrics([], [], config.classNames);
  const bestIndex = fr.reduce((b, f, i) => (f.valAccuracy > fr[b].valAccuracy ? i : b), 0);
  const best = done.length ? { fold: fr[bestIndex].fold, valAccuracy: fr[bestIndex].valAccuracy, test: classificationMetrics(test.labels, argmaxRows(done[bestIndex].logits, k),
    config.classNames) } : { fold: 0, valAccuracy: NaN, test: ensemble };
  const result: CvResult = {
    arch: config.arch, protocol, description: describeProtocol(protocol),
    data: { source: ds.source, train: base.count, test: test.count }, config, folds: fr,
    valAccuracy: meanStd(fr.map((f) => f.valAccuracy)), testAccuracy: meanStd(fr.map((f) => f.testAccuracy)),
    ensemble, best, exported: null, out, files: [], interrupted,
  };
  if (interrupted) return result;
  if (exportKind !== 'none') result.exported = await exportFolds(exportKind as 'best' | 'average', out, folds.map((_, i) => foldDir(out, i)), bestIndex, test, config);
  const { writeCvReport } = await import('./cv-report.ts');
  result.files = await writeCvReport(result);
  return result;
}

/** `--export best`: the best fold's model as OUT/best; `average`: the folds' weights averaged into OUT/average. */
async function exportFolds(kind: 'best' | 'average', out: string, dirs: string[], bestIndex: number, test: ImageSet, config: TrainConfig): Promise<NonNullable<CvResult['exported']>> {
  const dir = join(out, kind);
  if (kind === 'best') {
    const { cp } = await import('node:fs/promises');
    for (const f of ['model.json', 'weights.bin', 'report.json']) await cp(join(dirs[bestIndex], f), join(dir, f));
  } else {
    const { runAverage } = await import('../trainer/average.ts');
    await runAverage({ models: dirs, out: dir });
  }
  const { loadTfjsModel } = await import('../model/io.ts');
  const model = await loadTfjsModel(dir);
  try {
    const k = config.classNames.length;
    return { kind, dir, testAccuracy: classificationMetrics(test.labels, argmaxRows(predictTfjs(model, test), k), config.classNames).accuracy };
  } finally {
    model.dispose();
  }
}
