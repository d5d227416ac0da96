import { UserError } from '../../src/errors.ts';
import { createRng, shuffleInPlace } from '../../src/random.ts';
import { mixSeed, stratifiedSplit } from '../data/split.ts';

/**
 * Resampling plans of `edgeloom cv` and `edgeloom search --folds`, as index lists into the training
 * images. Pure: the same labels, plan and seed give the same folds on every machine.
 */
export interface Fold {
  train: Int32Array;
  val: Int32Array;
}

export type Protocol =
  | { kind: 'k-fold'; folds: number; stratified: boolean }
  | { kind: 'shuffle-split'; splits: number; testSize: number; stratified: boolean };

function sorted(values: number[]): Int32Array {
  return Int32Array.from(values.sort((a, b) => a - b));
}

function classMembers(labels: ArrayLike<number>, numClasses: number): number[][] {
  const groups = Array.from({ length: numClasses }, () => [] as number[]);
  for (let i = 0; i < labels.length; i++) groups[labels[i]].push(i);
  return groups;
}

/**
 * K folds; every image is validation in exactly one. Plain: one seeded shuffle cut into K chunks
 * (sizes differ by at most one). Stratified: each class shuffled and dealt round-robin, continuing
 * where the previous class stopped, so every fold has each class's share (+-1) and fold sizes still
 * differ by at most one.
 */
export function kFoldSplits(labels: ArrayLike<number>, numClasses: number, k: number, stratified: boolean, seed: number): Fold[] {
  const n = labels.length;
  if (!Number.isInteger(k) || k < 2 || k > n) throw new UserError(`--folds: expected an integer from 2 to the number of training images (${n}), got ${k}`);
  const foldOf = new Int32Array(n);
  const rng = createRng(mixSeed(seed, 0xf01d));
  if (stratified) {
    const groups = classMembers(labels, numClasses);
    const small = groups.map((g, c) => ({ c, n: g.length })).filter((g) => g.n > 0 && g.n < k);
    if (small.length) {
      const few = small.map((s) => `${s.c} has ${s.n}`).join(', ');
      throw new UserError(`--folds ${k} --stratified: class ${few} training image(s), fewer than the folds; use fewer folds or drop --stratified`);
    }
    let next = 0;
    for (const g of groups) {
      shuffleInPlace(g, rng);
      for (const i of g) foldOf[i] = next++ % k;
    }
  } else {
    const order = Array.from({ length: n }, (_, i) => i);
    shuffleInPlace(order, rng);
    // Chunk j holds positions [floor(j*n/k), floor((j+1)*n/k)).
    for (let p = 0; p < n; p++) foldOf[order[p]] = Math.floor((p * k) / n);
  }
  return Array.from({ length: k }, (_, f) => {
    const train: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) (foldOf[i] === f ? val : train).push(i);
    return { train: sorted(train), val: sorted(val) };
  });
}

/**
 * `splits` independent random train/validation splits holding out `testSize` of the images each
 * (scikit-learn's ShuffleSplit; StratifiedShuffleSplit with `stratified`): an image may be held out
 * in several splits, or in none.
 */
export function shuffleSplits(labels: ArrayLike<number>, numClasses: number, splits: number, testSize: number, stratified: boolean, seed: number): Fold[] {
  const n = labels.length;
  if (!Number.isInteger(splits) || splits < 2) throw new UserError(`--folds: expected an integer >= 2 (the number of shuffle splits), got ${splits}`);
  if (!(testSize > 0 && testSize < 1)) throw new UserError(`--test-size: expected a fraction between 0 and 1, got ${testSize}`);
  const held = Math.round(n * testSize);
  if (held < 1 || held >= n) throw new UserError(`--test-size ${testSize}: holds out ${held} of ${n} training images; expected at least 1 and fewer than all`);
  return Array.from({ length: splits }, (_, s) => {
    const splitSeed = mixSeed(seed, 0x5b1, s);
    if (stratified) {
      const r = stratifiedSplit(labels, numClasses, testSize, splitSeed);
      return { train: r.train, val: r.val };
    }
    const order = Array.from({ length: n }, (_, i) => i);
    shuffleInPlace(order, createRng(splitSeed));
    return { train: sorted(order.slice(held)), val: sorted(order.slice(0, held)) };
  });
}

export function makeFolds(labels: ArrayLike<number>, numClasses: number, protocol: Protocol, seed: number): Fold[] {
  return protocol.kind === 'k-fold'
    ? kFoldSplits(labels, numClasses, protocol.folds, protocol.stratified, seed)
    : shuffleSplits(labels, numClasses, protocol.splits, protocol.testSize, protocol.stratified, seed);
}

export function describeProtocol(p: Protocol): string {
  return p.kind === 'k-fold'
    ? `${p.stratified ? 'stratified ' : ''}${p.folds}-fold cross-validation`
    : `${p.splits} ${p.stratified ? 'stratified ' : ''}shuffle splits holding out ${(p.testSize * 100).toFixed(0)}%`;
}

/** Mean and population standard deviation (ddof 0, as numpy's std() that cross_val_score reports). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: NaN, std: NaN };
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Row-wise softmax of logits [rows, k]. */
export function softmaxRows(logits: ArrayLike<number>, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += (out[r * k + c] = Math.exp(logits[r * k + c] - max));
    for (let c = 0; c < k; c++) out[r * k + c] /= sum;
  }
  return out;
}

/** The fold ensemble's prediction: the mean of the members' softmax probabilities. */
export function averageSoftmax(members: readonly ArrayLike<number>[], k: number): Float32Array {
  if (members.length === 0) throw new Error('averageSoftmax: no members');
  const out = new Float32Array(members[0].length);
  for (const m of members) {
    if (m.length !== out.length) throw new Error(`averageSoftmax: ${m.length} values vs ${out.length}`);
    const p = softmaxRows(m, k);
    for (let i = 0; i < p.length; i++) out[i] += p[i] / members.length;
  }
  return out;
}
