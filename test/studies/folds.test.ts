import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageSoftmax, kFoldSplits, meanStd, shuffleSplits, softmaxRows } from '../../training/studies/folds.ts';

/** 3 classes of 10, 20 and 30 images, interleaved. */
const labels = Uint8Array.from({ length: 60 }, (_, i) => (i % 6 === 0 ? 0 : i % 6 < 3 ? 1 : 2));

function counts(idx: Int32Array): number[] {
  const c = [0, 0, 0];
  for (const i of idx) c[labels[i]]++;
  return c;
}

test('k-fold: every image is validation exactly once, never in its own training part; sizes differ by at most one', () => {
  for (const stratified of [false, true]) {
    const folds = kFoldSplits(labels, 3, 7, stratified, 1);
    assert.equal(folds.length, 7);
    const seen = new Array<number>(60).fill(0);
    for (const f of folds) {
      for (const i of f.val) seen[i]++;
      assert.equal(f.train.length + f.val.length, 60);
      const train = new Set(f.train);
      for (const i of f.val) assert.ok(!train.has(i));
    }
    assert.ok(seen.every((s) => s === 1), `stratified ${stratified}`);
    const sizes = folds.map((f) => f.val.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, String(sizes));
  }
});

test('stratified k-fold keeps each class\'s share in every fold (+-1); the same seed gives the same folds, another seed others', () => {
  const folds = kFoldSplits(labels, 3, 5, true, 4);
  for (const f of folds) assert.deepEqual(counts(f.val).map((c, k) => Math.abs(c - [2, 4, 6][k]) <= 1), [true, true, true], String(counts(f.val)));
  assert.deepEqual(kFoldSplits(labels, 3, 5, true, 4), folds);
  assert.notDeepEqual(kFoldSplits(labels, 3, 5, true, 5)[0].val, folds[0].val);
  assert.throws(() => kFoldSplits(labels, 3, 11, true, 1), /--folds 11 --stratified: class 0 has 10/);
  assert.throws(() => kFoldSplits(labels, 3, 1, false, 1), /--folds: expected an integer from 2/);
});

test('shuffle splits: each holds out round(n x test size), independent of the others; stratified keeps the shares', () => {
  const splits = shuffleSplits(labels, 3, 4, 0.25, false, 2);
  for (const s of splits) {
    assert.equal(s.val.length, 15);
    assert.equal(s.train.length, 45);
  }
  assert.notDeepEqual(splits[0].val, splits[1].val);
  for (const s of shuffleSplits(labels, 3, 3, 0.2, true, 2)) assert.deepEqual(counts(s.val), [2, 4, 6]);
  assert.throws(() => shuffleSplits(labels, 3, 3, 1.5, false, 1), /--test-size: expected a fraction/);
});

test('mean ± population std; the fold ensemble averages softmax probabilities, not logits', () => {
  const s = meanStd([0.9, 0.92, 0.94]);
  assert.ok(Math.abs(s.mean - 0.92) < 1e-12);
  // Population std (divide by 3), not the sample std (by 2: 0.02).
  assert.ok(Math.abs(s.std - Math.sqrt((0.02 ** 2 * 2) / 3)) < 1e-12, String(s.std));
  const p = softmaxRows([0, Math.log(3)], 2);
  assert.ok(Math.abs(p[0] - 0.25) < 1e-6 && Math.abs(p[1] - 0.75) < 1e-6);
  // Two members mildly prefer class 1, one is very sure of class 0: averaged logits [3.3, 1.3]
  // would pick 0; averaged probabilities (0.41, 0.59) pick 1.
  const a = [0, 2];
  const b = [10, 0];
  const avg = averageSoftmax([a, a, b], 2);
  assert.ok(avg[1] > avg[0]);
  assert.ok(Math.abs(avg[0] + avg[1] - 1) < 1e-6);
  assert.ok(Math.abs(avg[0] - (2 * softmaxRows(a, 2)[0] + softmaxRows(b, 2)[0]) / 3) < 1e-6);
});
