import { existsSync, statSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { getArchitecture } from '../arch/index.ts';
import type { ImageSet } from '../data/dataset.ts';
import { checkSameClasses, loadTfjsModel, readTfjsModelMeta, type EdgeloomModelMeta } from '../model/io.ts';
import type { TrainOptions } from './config.ts';
import type { TrainConfig } from './types.ts';

/** Fine-tuning (`--init`): which model a run starts from, read before the data and loaded after it. */

/** `--init INT8.onnx` with its fp32 parent beside it fine-tunes from that parent, and says so. */
export async function withFp32Init(opts: TrainOptions, log: Logger): Promise<TrainOptions> {
  if (!opts.init || opts.resume) return opts;
  const { fp32InitFor } = await import('../onnx/read-back.ts');
  const init = await fp32InitFor(opts.init);
  if (init !== opts.init) log.info(`--init ${opts.init}: an int8 model; fine-tuning from its fp32 parent ${init} (the same network before its weights were rounded)`);
  return { ...opts, init };
}

/** `--init`'s architecture and classes, read before any data is loaded (an int8 file fails here). */
export async function readInitMeta(path: string): Promise<{ arch: string; classNames: string[] }> {
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
export async function loadInitModel(path: string, meta: { arch: string; classNames: string[] }, config: TrainConfig, train: ImageSet, log: Logger): Promise<tf.LayersModel> {
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
