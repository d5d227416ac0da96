import { test } from 'node:test';
import assert from 'node:assert/strict';
import { epochOrder, mixSeed, stratifiedSample, stratifiedSplit } from '../../training/data/split.ts';

// class-by-class layout, as Fashion-MNIST stores it: 50 of each of 10 classes
const labels = Uint8Array.from({ length: 500 }, (_, i) => Math.floor(i / 50));
const perClass = (idx: Int32Array) => {
  const c = new Array(10).fill(0);
  for (const i of idx) c[labels[i]]++;
  return c;
};

test('stratifiedSample takes equal counts per class, distinct, seeded', () => {
  const a = stratifiedSample(labels, 10, 100, 1);
  assert.equal(a.length, 100);
  assert.deepEqual(perClass(a), new Array(10).fill(10));
  assert.equal(new Set(a).size, 100);
  assert.deepEqual(stratifiedSample(labels, 10, 100, 1), a);
  assert.notDeepEqual(stratifiedSample(labels, 10, 100, 2), a);
  // remainders go to the first classes
  assert.deepEqual(perClass(stratifiedSample(labels, 10, 23, 1)), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
});

test('stratifiedSplit holds out the fraction of every class, disjoint and complete', () => {
  const { train, val } = stratifiedSplit(labels, 10, 0.2, 9);
  assert.deepEqual(perClass(val), new Array(10).fill(10));
  assert.deepEqual(perClass(train), new Array(10).fill(40));
  const all = new Set([...train, ...val]);
  assert.equal(all.size, 500);
});

test('epochOrder is a permutation that depends on seed and epoch only', () => {
  const o = epochOrder(100, 5, 0);
  assert.deepEqual([...o].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(epochOrder(100, 5, 0), o);
  assert.notDeepEqual(epochOrder(100, 5, 1), o);
  assert.notDeepEqual(epochOrder(100, 6, 0), o);
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
});
