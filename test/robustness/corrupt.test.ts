import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/random.ts';
import {
  CORRUPTION_KINDS, CORRUPTION_WEIGHTS, corruptImage, corruptionStrength, pickCorruption, randomCorruption,
} from '../../training/robustness/corrupt.ts';
import { garmentBox } from '../../training/robustness/filters.ts';
import { batchPixels, parseAugment } from '../../training/trainer/augment.ts';

/** A bright 14x16 "garment" with a gradient, on black. */
function garment(): Uint8Array {
  const img = new Uint8Array(784);
  for (let y = 6; y < 22; y++) for (let x = 7; x < 21; x++) img[y * 28 + x] = 120 + 4 * (x - 7) + (y - 6);
  return img;
}

const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
const std = (a: Uint8Array) => {
  const m = sum(a) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
};

test('every corruption kind returns a fresh 784-byte image, leaves its input alone and is reproducible', () => {
  const img = garment();
  const copy = Uint8Array.from(img);
  for (const kind of CORRUPTION_KINDS) {
    const a = corruptImage(kind, img, 1, createRng(5));
    const b = corruptImage(kind, img, 1, createRng(5));
    assert.equal(a.length, 784, kind);
    assert.notEqual(a, img, kind);
    assert.deepEqual(a, b, kind);
    assert.deepEqual(img, copy, `${kind} modified its input`);
    // Over a few draws every kind changes the image.
    const changed = [1, 2, 3, 4, 5, 6].some((s) => corruptImage(kind, img, 1, createRng(s)).some((v, i) => v !== img[i]));
    assert.ok(changed, `${kind} never changed the image`);
  }
});

test('each kind does what its name says', () => {
  const img = garment();
  let cutsThatBite = 0;
  for (let s = 1; s <= 20; s++) {
    const cut = corruptImage('cut', img, 1, createRng(s));
    assert.ok(cut.every((v, i) => v === img[i] || v === 0), 'cut only blanks pixels');
    // A thin band cut from the frame's edge may miss the garment; most cuts take some of it.
    if (sum(cut) < sum(img)) cutsThatBite++;
    const rain = corruptImage('rain', img, 1, createRng(s));
    assert.ok(rain.every((v, i) => v >= img[i]), 'rain only adds light');
    const contrast = corruptImage('contrast', img, 1, createRng(s));
    assert.ok(std(contrast) <= std(img) + 1e-9, 'contrast never raises the spread');
    const blur = corruptImage('blur', img, 1, createRng(s));
    assert.ok(Math.max(...blur) <= Math.max(...img) && std(blur) < std(img), 'blur smooths');
    const occl = corruptImage('occlusion', img, 1, createRng(s));
    const box = garmentBox(img);
    const changed = [...occl.keys()].filter((i) => occl[i] !== img[i]);
    // The patch sits over the garment: every changed pixel is within 9 px (half the largest side) of its box.
    for (const i of changed) {
      const y = Math.floor(i / 28), x = i % 28;
      assert.ok(y >= box.top - 9 && y <= box.bottom + 9 && x >= box.left - 9 && x <= box.right + 9);
    }
  }
  assert.ok(cutsThatBite >= 12, `${cutsThatBite}/20 cuts removed garment pixels`);
});

test('rotation grows with strength: strength 0 keeps the image, strength 1 reaches past 45 degrees', () => {
  const img = garment();
  // At strength 0 the angle is 0 (a rare zoom aside): most draws leave the image as it was.
  let unchanged = 0;
  for (let s = 1; s <= 20; s++) if (corruptImage('rotate', img, 0, createRng(s)).every((v, i) => v === img[i])) unchanged++;
  assert.ok(unchanged >= 10, `${unchanged}/20 unchanged`);
  // At strength 1 some draws move the garment's corners outside the original box.
  const box = garmentBox(img);
  const moved = [1, 2, 3, 4, 5, 6, 7, 8].map((s) => garmentBox(corruptImage('rotate', img, 1, createRng(s))));
  assert.ok(moved.some((b) => b.top < box.top - 2 || b.left < box.left - 2));
});

test('pickCorruption draws kinds in proportion to CORRUPTION_WEIGHTS', () => {
  const rng = createRng(11);
  const counts = Object.fromEntries(CORRUPTION_KINDS.map((k) => [k, 0])) as Record<string, number>;
  const n = 70_000;
  for (let i = 0; i < n; i++) counts[pickCorruption(rng)]++;
  const total = CORRUPTION_KINDS.reduce((s, k) => s + CORRUPTION_WEIGHTS[k], 0);
  for (const k of CORRUPTION_KINDS) {
    const expected = (n * CORRUPTION_WEIGHTS[k]) / total;
    assert.ok(Math.abs(counts[k] - expected) < 0.06 * expected, `${k}: ${counts[k]} vs ${expected.toFixed(0)}`);
  }
});

test('the robust schedule ramps strength over the first quarter; probability decides the corrupted share', () => {
  assert.equal(corruptionStrength(0), 0.4);
  assert.ok(Math.abs(corruptionStrength(0.125) - 0.7) < 1e-12);
  assert.equal(corruptionStrength(0.25), 1);
  assert.equal(corruptionStrength(0.9), 1);
  const img = garment();
  const rng = createRng(3);
  assert.equal(randomCorruption(img, 0, 0.5, rng), img);
  let corrupted = 0;
  for (let i = 0; i < 2000; i++) if (randomCorruption(img, 0.5, 0.5, rng) !== img) corrupted++;
  assert.ok(corrupted > 900 && corrupted < 1100, `${corrupted}/2000`);
});

test('--augment robust corrupts on the bytes before scaling; other presets never corrupt', () => {
  assert.equal(parseAugment('robust').corruption, 0.5);
  assert.equal(parseAugment('standard').corruption, 0);
  const images = new Uint8Array(784 * 2);
  images.set(garment(), 784);
  const out = batchPixels(images, [1], null, createRng(1), (img) => Uint8Array.from(img, (v) => 255 - v));
  assert.ok(Math.abs(out[0] - 1) < 1e-7, 'black background became 255 before /255');
  assert.equal(images[784], 0, 'the data set itself is untouched');
});
