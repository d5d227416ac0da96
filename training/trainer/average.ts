import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { loadTfjsModel, readTfjsModelMeta, saveTfjsModel } from '../model/io.ts';

/** The recipe fields that define a run's data and validation split. */
const SPLIT_FIELDS = ['data', 'limit', 'valSplit', 'seed'] as const;

export interface AverageOptions {
  /** Two or more tfjs model directories of one architecture. */
  models: string[];
  /** Comma-separated weights summing to 1 (default: equal). */
  weights?: string;
  out: string;
}

export interface AverageResult {
  out: string;
  arch: string;
  averageOf: Array<{ model: string; weight: number }>;
  /** The validation split all ingredients share (recorded, so `--split val` works), or null. */
  sharedSplit: Record<string, unknown> | null;
  files: string[];
}

/** `--weights` for `n` models: non-negative numbers summing to 1 (equal weights when absent). Pure. */
export function parseAverageWeights(spec: string | undefined, n: number): number[] {
  if (spec === undefined) return Array.from({ length: n }, () => 1 / n);
  const w = spec.split(',').map((s) => Number(s.trim()));
  if (w.length !== n) throw new UserError(`--weights: expected ${n} comma-separated numbers (one per model), got "${spec}"`);
  if (w.some((x) => !Number.isFinite(x) || x < 0)) throw new UserError(`--weights: expected non-negative numbers, got "${spec}"`);
  const sum = w.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new UserError(`--weights: expected weights summing to 1, got ${sum} ("${spec}")`);
  return w;
}

/** Weighted sum of same-shaped weight lists (every tensor: kernels, biases, BatchNorm statistics). Pure. */
export function averageWeightArrays(lists: Float32Array[][], weights: readonly number[]): Float32Array[] {
  return lists[0].map((first, t) => {
    const out = new Float32Array(first.length);
    lists.forEach((list, m) => {
      const src = list[t];
      for (let i = 0; i < out.length; i++) out[i] += weights[m] * src[i];
    });
    return out;
  });
}

/**
 * `edgeloom average`: a weight-space average ("model soup", Wortsman et al. 2022) of models
 * fine-tuned from one parent, e.g. two robust fine-tunes with different recipes. Models trained
 * from different initialisations do not average into a working model; the result should always be
 * checked with `edgeloom evaluate --split val`.
 */
export async function runAverage(opts: AverageOptions): Promise<AverageResult> {
  if (opts.models.length < 2) throw new UserError(`average: expected at least two model directories, got ${opts.models.length}`);
  const weights = parseAverageWeights(opts.weights, opts.models.length);
  const metas = [];
  for (const dir of opts.models) {
    const meta = await readTfjsModelMeta(dir).catch((err: Error) => {
      throw new UserError(`${dir}: ${err.message}`);
    });
    if (!meta) throw new UserError(`${dir}: not an edgeloom tfjs model directory (model.json without edgeloom metadata)`);
    metas.push(meta);
  }
  const [first] = metas;
  metas.forEach((m, i) => {
    if (m.arch !== first.arch) throw new UserError(`${opts.models[i]}: architecture ${m.arch}, but ${opts.models[0]} is ${first.arch}`);
    if (m.classNames.join('|') !== first.classNames.join('|')) throw new UserError(`${opts.models[i]}: its classes differ from ${opts.models[0]}'s`);
  });
  const { selectBackend } = await import('../backend/index.ts');
  await selectBackend('auto');
  const models = await Promise.all(opts.models.map((dir) => loadTfjsModel(dir)));
  try {
    const lists = models.map((m) => m.getWeights().map((w) => w.dataSync() as Float32Array));
    const shapes = (m: tf.LayersModel) => m.getWeights().map((w) => w.shape.join('x')).join(',');
    const firstShapes = shapes(models[0]);
    models.forEach((m, i) => {
      if (shapes(m) !== firstShapes) throw new UserError(`${opts.models[i]}: its weight shapes differ from ${opts.models[0]}'s`);
    });
    const averaged = averageWeightArrays(lists, weights);
    const target = models[0];
    target.setWeights(target.getWeights().map((w, i) => tf.tensor(averaged[i], w.shape)));

    const { metadataFromModelDir } = await import('../onnx/export.ts');
    const recipes = await Promise.all(opts.models.map(async (dir) => (await metadataFromModelDir(dir)).recipe));
    const splitOf = (r: Record<string, unknown>) => Object.fromEntries(SPLIT_FIELDS.map((f) => [f, r[f]]));
    const sharedSplit = recipes.every((r) => r && JSON.stringify(splitOf(r)) === JSON.stringify(splitOf(recipes[0]!))) ? splitOf(recipes[0]!) : null;
    const averageOf = opts.models.map((m, i) => ({ model: resolve(m), weight: weights[i] }));
    const out = resolve(opts.out);
    await saveTfjsModel(target, out, { arch: first.arch, classNames: first.classNames });
    // The recipe keeps the ingredients' shared data and split (for `--split val`, drift profiles).
    const config = { arch: first.arch, classNames: first.classNames, ...sharedSplit, averageOf };
    await writeFileAtomic(join(out, 'report.json'), `${JSON.stringify({ arch: first.arch, classNames: first.classNames, config, averageOf, createdAt: new Date().toISOString() }, null, 2)}\n`);
    return { out, arch: first.arch, averageOf, sharedSplit, files: ['model.json', 'weights.bin', 'report.json'] };
  } finally {
    for (const m of models) m.dispose();
  }
}
