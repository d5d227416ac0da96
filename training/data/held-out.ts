import { UserError } from '../../src/errors.ts';
import type { DriftReference } from '../../src/drift/profile.ts';
import { subset, type ImageSet, type SplitDataset } from './dataset.ts';
import { mixSeed, prepareSplits, stratifiedSample } from './split.ts';
import { DEFAULT_SEED } from '../../src/defaults.ts';

export type HeldOutChoice = 'auto' | 'val' | 'train';

export interface HeldOutSet {
  set: ImageSet;
  source: DriftReference['source'];
}

export interface HeldOutOptions {
  choice: HeldOutChoice;
  /** At most this many images (a stratified sample when the split holds more). */
  size: number;
  /** Seed of that sample. */
  seed?: number;
  /** What the error names, e.g. `--split val`; `fix` is appended to it. */
  origin: string;
  fix?: string;
  /** The recipe's data set when the caller has it loaded already (a training run); else it is loaded here. */
  dataset?: SplitDataset;
}

/**
 * The held-out images of a model, from its training recipe: the validation split the trainer made
 * (same data, limit, split fraction and seed), at most `size` of them (stratified). Without a
 * validation split (`train`, or `auto` with none), a stratified sample of the training set,
 * recorded as `train-sample`: the model has seen those images. Never the test set.
 */
export async function heldOutSetFor(recipe: Record<string, unknown> | undefined, opts: HeldOutOptions): Promise<HeldOutSet> {
  const { choice, size, seed = 1 } = opts;
  const r = (recipe ?? {}) as Record<string, unknown>;
  const valSplit = typeof r.valSplit === 'number' ? r.valSplit : 0;
  const data = typeof r.data === 'string' ? r.data : 'fashion-mnist';
  const trainSeed = typeof r.seed === 'number' ? r.seed : DEFAULT_SEED;
  if (choice === 'val' && !(valSplit > 0)) {
    const why = !recipe
      ? 'the model carries no training recipe (edgeloom metadata or report.json), so its validation split is unknown'
      : recipe.averageOf
        ? 'the averaged models (edgeloom average) do not share one data set and validation split'
        : 'the model was trained without a validation split (recipe valSplit is 0)';
    throw new UserError(`${opts.origin}: ${why}${opts.fix ? `; ${opts.fix}` : ''}`);
  }
  const ds = opts.dataset ?? (await (await import('./load.ts')).loadDataset({ data, seed: trainSeed }));
  const k = ds.train.classNames.length;
  if (choice !== 'train' && valSplit > 0) {
    const { val } = prepareSplits(ds.train, { limit: typeof r.limit === 'number' ? r.limit : 0, valSplit, seed: trainSeed });
    const all = val!;
    const set = all.count > size ? subset(all, stratifiedSample(all.labels, k, size, mixSeed(seed, 3))) : all;
    return { set, source: { split: 'val', count: set.count, seed,
      note: `validation split of ${data} (valSplit ${valSplit}, limit ${String(r.limit ?? 0)}, seed ${trainSeed})${set.count < all.count ? `, stratified sample of ` +
        `${set.count} of ${all.count}` : ''}` } };
  }
  const set = subset(ds.train, stratifiedSample(ds.train.labels, k, Math.min(size, ds.train.count), mixSeed(seed, 4)));
  return { set, source: { split: 'train-sample', count: set.count, seed, note: `stratified sample of the ${data} TRAINING set (${valSplit > 0 ? '--reference train' : 'the model was trained ' +
    'without a validation split'}): seen in training, so confidence is optimistic` } };
}
