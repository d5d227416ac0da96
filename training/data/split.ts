import { createRng, shuffleInPlace } from '../../src/random.ts';
import { subset, type ImageSet } from './dataset.ts';

/** Indices of each class, in data-set order. */
function byClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const groups = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) groups[labels[i]].push(i);
  return groups;
}

/**
 * `n` indices with (as nearly as possible) equal counts per class, drawn with `seed`. Fashion-MNIST
 * stores images class by class, so a prefix would be one class only. Result is sorted ascending.
 */
export function stratifiedSample(labels: ArrayLike<number>, numClasses: number, n: number, seed: number): Int32Array {
  const groups = byClass(labels, numClasses);
  const rng = createRng(seed);
  const out: number[] = [];
  const base = Math.floor(n / numClasses);
  let extra = n - base * numClasses;
  for (const g of groups) {
    shuffleInPlace(g, rng);
    let take = base + (extra > 0 ? 1 : 0);
    if (extra > 0) extra--;
    take = Math.min(take, g.length);
    out.push(...g.slice(0, take));
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}

/** Splits indices 0..labels.length-1 into train/val, taking `fraction` of every class for val. */
export function stratifiedSplit(labels: ArrayLike<number>, numClasses: number, fraction: number, seed: number): { train: Int32Array; val: Int32Array } {
  const groups = byClass(labels, numClasses);
  const rng = createRng(seed);
  const train: number[] = [];
  const val: number[] = [];
  for (const g of groups) {
    shuffleInPlace(g, rng);
    const k = Math.round(g.length * fraction);
    val.push(...g.slice(0, k));
    train.push(...g.slice(k));
  }
  return { train: Int32Array.from(train.sort((a, b) => a - b)), val: Int32Array.from(val.sort((a, b) => a - b)) };
}

/** Mixes integers into one 32-bit seed (FNV-1a style), so epoch/batch streams are independent. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h ^= p >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** The order in which epoch `epoch` visits `n` samples: a function of (seed, epoch) only, so a
 * resumed run replays the same order without saving RNG state. */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  shuffleInPlace(order, createRng(mixSeed(seed, 0x5eed, epoch)));
  return order;
}

/** The parts of a training recipe that choose its images (see TrainConfig). */
export interface SplitRecipe {
  /** Stratified subset of the training set (0 = all). */
  limit: number;
  /** Stratified validation fraction (0 = no validation set). */
  valSplit: number;
  seed: number;
}

/**
 * Training and validation sets for a recipe (a whole TrainConfig will do): stratified --limit
 * subset, then stratified split.
 */
export function prepareSplits<R extends SplitRecipe>(train: ImageSet, recipe: R): { train: ImageSet; val: ImageSet | null } {
  const k = train.classNames.length;
  let base = train;
  if (recipe.limit > 0 && recipe.limit < train.count) base = subset(train, stratifiedSample(train.labels, k, recipe.limit, mixSeed(recipe.seed, 1)));
  if (recipe.valSplit <= 0) return { train: base, val: null };
  const s = stratifiedSplit(base.labels, k, recipe.valSplit, mixSeed(recipe.seed, 2));
  return { train: subset(base, s.train), val: subset(base, s.val) };
}
