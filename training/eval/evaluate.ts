import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { subset, type ImageSet } from '../data/dataset.ts';
import { modelForTools, type AdoptOptions } from '../onnx/adopt.ts';
import { stratifiedSample } from '../data/split.ts';
import { checkModelClasses, modelDataSpec, type ModelDataSpec } from '../data/model-data.ts';
import { argmaxRows, classificationMetrics, metricsMarkdown, type ClassificationMetrics } from './metrics.ts';

/** Logits [count, K] of an ONNX model (bytes or path) on every image of `set`, in batches. */
export async function predictOnnx(model: Uint8Array | string, set: Pick<ImageSet, 'images' | 'count'>, batchSize = 256): Promise<Float32Array> {
  const session = await createOnnxSession(model);
  try {
    let out: Float32Array | null = null;
    for (let start = 0; start < set.count; start += batchSize) {
      const n = Math.min(batchSize, set.count - start);
      const r = await session.run(toModelInput(set.images.subarray(start * IMAGE_PIXELS, (start + n) * IMAGE_PIXELS)), n);
      out ??= new Float32Array(set.count * (r.logits.length / n));
      out.set(r.logits, (start * r.logits.length) / n);
    }
    return out ?? new Float32Array(0);
  } finally {
    await session.close();
  }
}

export interface LoadedModel {
  kind: 'onnx' | 'tfjs';
  classNames: string[];
  sizeBytes: number;
  /** The training recipe (ONNX metadata, or the run's report.json), when known. */
  recipe?: Record<string, unknown>;
  /** ONNX: the bytes that run (a foreign model after in-memory adoption). */
  bytes?: Uint8Array;
  predict(set: ImageSet): Promise<Float32Array>;
}

/**
 * An .onnx file or a tfjs model directory. An edgeloom ONNX model is checked against the contract
 * (its `embedding` output optional here); any other classifier is adopted in memory (`foreign`:
 * class names, output kind, embedding tensor; training/onnx/adopt.ts).
 */
export async function loadAnyModel(path: string, foreign: AdoptOptions = {}): Promise<LoadedModel> {
  if (!existsSync(path)) throw new UserError(`--model ${path}: not found`);
  if (statSync(path).isDirectory()) {
    const { selectBackend } = await import('../backend/index.ts');
    await selectBackend('auto');
    const { loadTfjsModel, predictTfjs } = await import('../model/io.ts');
    const { metadataFromModelDir } = await import('../onnx/export.ts');
    const model = await loadTfjsModel(path);
    // Class names and recipe from model.json's edgeloom metadata and the run's report.json.
    const { classes, recipe } = await metadataFromModelDir(path);
    const size = ['model.json', 'weights.bin'].filter((f) => existsSync(join(path, f))).reduce((s, f) => s + statSync(join(path, f)).size, 0);
    return { kind: 'tfjs', classNames: classes ?? [...FASHION_MNIST_CLASSES], sizeBytes: size, recipe, predict: async (set) => predictTfjs(model, set) };
  }
  const file = await readFile(path);
  const { bytes, info } = modelForTools(file, path, foreign, (line) => createLogger('eval').warn(line));
  return { kind: 'onnx', classNames: info.metadata.classes, sizeBytes: file.length, recipe: info.metadata.recipe, bytes, predict: (set) => predictOnnx(bytes, set) };
}

/** Where a model is scored: its data's test split, or its own training run's validation split. */
export type EvalSplit = 'test' | 'val';

export const SPLIT_NAMES: Record<EvalSplit, string> = { test: 'test', val: 'validation' };

/**
 * The images `split` names, all or a seeded stratified `limit` of them, from the model's data
 * (`data`, else its recipe's: training/data/model-data.ts), checked against its classes. `val`
 * rebuilds the validation split from the model's recipe (data, limit, fraction, seed), so models
 * can be compared and tuned without looking at the test set.
 */
export async function loadEvalSet(model: Pick<LoadedModel, 'recipe'> & { classNames?: readonly string[] }, split: string = 'test', limit?: number, seed = 1, data?: string): Promise<ImageSet> {
  if (split !== 'test' && split !== 'val') throw new UserError(`--split: expected test or val, got "${split}"`);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UserError(`--limit: expected a positive integer, got ${limit}`);
  const spec = modelDataSpec(model.recipe, data);
  let set: ImageSet;
  if (split === 'test') set = await loadTestSet(limit, seed, spec);
  else {
    const { heldOutSetFor } = await import('../data/held-out.ts');
    const recipe = data ? { ...model.recipe, data } : model.recipe;
    set = (await heldOutSetFor(recipe, { choice: 'val', size: limit ?? Number.POSITIVE_INFINITY, seed, origin: '--split val' })).set;
  }
  if (model.classNames) checkModelClasses('--model', model.classNames, spec, set.classNames);
  return set;
}

/** The test split of `spec`'s data (Fashion-MNIST's official test set by default), or a seeded stratified subset of `limit` images. */
export async function loadTestSet(limit?: number, seed = 1, spec: Pick<ModelDataSpec, 'data' | 'seed'> = modelDataSpec(undefined)): Promise<ImageSet> {
  const { loadDataset } = await import('../data/load.ts');
  const log = createLogger('eval');
  const ds = await loadDataset({ data: spec.data, seed: spec.seed, onProgress: (m) => log.info(m) });
  if (limit === undefined || limit >= ds.test.count) return ds.test;
  if (!(limit > 0)) throw new UserError(`--limit: expected a positive integer, got ${limit}`);
  return subset(ds.test, stratifiedSample(ds.test.labels, ds.test.classNames.length, limit, seed));
}

export interface EvaluateOptions extends AdoptOptions {
  model: string;
  split?: EvalSplit;
  limit?: number;
  out?: string;
  /** Data spec (training/data/load.ts); default: the model's recipe's data. */
  data?: string;
}

export interface EvaluateResult {
  model: string;
  kind: 'onnx' | 'tfjs';
  split: EvalSplit;
  metrics: ClassificationMetrics;
  files: string[];
}

export async function runEvaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const model = await loadAnyModel(opts.model, opts);
  const split = opts.split ?? 'test';
  const set = await loadEvalSet(model, split, opts.limit, 1, opts.data);
  const logits = await model.predict(set);
  const metrics = classificationMetrics(set.labels, argmaxRows(logits, model.classNames.length), model.classNames);
  const files: string[] = [];
  if (opts.out) {
    const { imageErrors, topConfidences } = await import('./image-errors.ts');
    const predicted = argmaxRows(logits, model.classNames.length);
    const errs = imageErrors(set.labels, predicted, topConfidences(logits, model.classNames.length), model.classNames, set.files);
    const result = { model: opts.model, kind: model.kind, split, metrics, errors: errs.errors, errorsTotal: errs.total };
    await writeFileAtomic(join(opts.out, 'metrics.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFileAtomic(join(opts.out, 'metrics.md'), `# Evaluation of ${opts.model}\n\n${metrics.count} ${SPLIT_NAMES[split]} images.\n\n${metricsMarkdown(metrics)}\n`);
    files.push(join(opts.out, 'metrics.json'), join(opts.out, 'metrics.md'));
    // Loaded only with --out: the plots pull in sharp for the PNG.
    const { confusionMatrixSvg } = await import('../plots/confusion.ts');
    const { writePlot } = await import('../plots/render.ts');
    const plot = await writePlot(join(opts.out, 'confusion.png'), confusionMatrixSvg(metrics.confusion, model.classNames, `Confusion matrix (${metrics.count} ${SPLIT_NAMES[split]} images)`));
    files.push(plot.png, plot.svg);
  }
  return { model: opts.model, kind: model.kind, split, metrics, files };
}

export function formatEvaluation(r: EvaluateResult): string {
  const lines = [`${r.model} (${r.kind}): accuracy ${(r.metrics.accuracy * 100).toFixed(2)}% on ${r.metrics.count} ${SPLIT_NAMES[r.split]} images`, '', metricsMarkdown(r.metrics)];
  if (r.files.length) lines.push('', `wrote ${r.files.join(', ')}`);
  return lines.join('\n');
}
