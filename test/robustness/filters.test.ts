import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/random.ts';
import {
  FILTER_NAMES, FILTER_PARAMS, applyFilter, applyFilterToImages, garmentBox, gaussianBlur, parseFilters, parseSeverities, rotateImage, scaleContrast,
} from '../../training/robustness/filters.ts';

const S = 28;

/** A synthetic "garment": a tall textured bar on black (like trousers, not rotation-symmetric), different per seed. */
function garment(seed: number): Uint8Array {
  const rng = createRng(seed);
  const img = new Uint8Array(S * S);
  const top = 3 + Math.floor(rng() * 3);
  const left = 5 + Math.floor(rng() * 3);
  for (let y = top; y < 26; y++) for (let x = left + 4; x < left + 14; x++) img[y * S + x] = 90 + Math.floor(rng() * 160);
  return img;
}

const images = Array.from({ length: 24 }, (_, i) => garment(i + 1));

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('every filter keeps shape and type, is deterministic per image and differs between images', () => {
  for (const f of FILTER_NAMES) {
    for (let sev = 1; sev <= 5; sev++) {
      const a = applyFilter(f, images[0], sev, 7);
      assert.ok(a instanceof Uint8Array && a.length === 784, `${f} s${sev}: 784 bytes`);
      assert.deepEqual(applyFilter(f, images[0], sev, 7), a, `${f} s${sev}: same image, index, seed -> same output`);
      assert.notDeepEqual(a, images[0], `${f} s${sev} changes the image`);
    }
    assert.deepEqual(applyFilter(f, images[0], 0, 3), images[0], `${f} severity 0 is the identity`);
  }
  // Random filters depend on the image index and the seed.
  for (const f of ['cut', 'occlusion', 'rain'] as const) {
    const outs = new Set([0, 1, 2, 3, 4, 5].map((i) => Buffer.from(applyFilter(f, images[0], 3, i)).toString('hex')));
    assert.ok(outs.size > 1, `${f}: the index changes the random choices`);
    const bySeed = new Set([1, 2, 3, 4, 5, 6].map((seed) => Buffer.from(applyFilter(f, images[0], 3, 0, seed)).toString('hex')));
    assert.ok(bySeed.size > 1, `${f}: the seed changes the random choices`);
  }
});

test('the input image is never modified', () => {
  const copy = Uint8Array.from(images[2]);
  for (const f of FILTER_NAMES) applyFilter(f, images[2], 5, 0);
  assert.deepEqual(images[2], copy);
});

test('pixel change grows with severity for every filter (mean over images)', () => {
  for (const f of FILTER_NAMES) {
    const change = [1, 2, 3, 4, 5].map((sev) => images.reduce((s, img, i) => s + meanAbsDiff(applyFilter(f, img, sev, i), img), 0) / images.length);
    for (let k = 1; k < change.length; k++) assert.ok(change[k] > change[k - 1], `${f}: severity ${k + 1} (${change[k].toFixed(2)}) > severity ${k} (${change[k - 1].toFixed(2)})`);
  }
});

test('cut, occlusion and rain are nested: a higher severity changes a superset of pixels', () => {
  for (const f of ['cut', 'occlusion', 'rain'] as const) {
    images.forEach((img, i) => {
      for (let sev = 1; sev < 5; sev++) {
        const lo = applyFilter(f, img, sev, i);
        const hi = applyFilter(f, img, sev + 1, i);
        for (let p = 0; p < 784; p++) if (lo[p] !== img[p]) assert.notEqual(hi[p], img[p], `${f} image ${i} pixel ${p} at s${sev + 1}`);
      }
    });
  }
});

test('cut blanks a band of the garment and nothing else', () => {
  const img = images[4];
  const out = applyFilter('cut', img, 5, 0);
  for (let p = 0; p < 784; p++) assert.ok(out[p] === img[p] || out[p] === 0);
  const box = garmentBox(img);
  const area = (box.bottom - box.top + 1) * (box.right - box.left + 1);
  const removed = out.reduce((n, v, p) => n + (v !== img[p] ? 1 : 0), 0);
  assert.ok(Math.abs(removed / area - FILTER_PARAMS.cut[4]) < 0.06, `about half of the box removed (${removed}/${area})`);
});

test('occlusion draws one grey square of the severity side', () => {
  const blank = new Uint8Array(784);
  for (let sev = 1; sev <= 5; sev++) {
    const out = applyFilter('occlusion', blank, sev, 3);
    assert.equal(out.filter((v) => v === 128).length, FILTER_PARAMS.occlusion[sev - 1] ** 2);
  }
});

test('rotate: 0 degrees is the identity, 90 degrees maps rows to columns, 4 x 90 comes back', () => {
  const img = images[5];
  assert.deepEqual(rotateImage(img, 0), img);
  const r90 = rotateImage(img, 90);
  // Counter-clockwise: the pixel at (x, y) lands on (y, 27 - x).
  for (const [x, y] of [[10, 12], [20, 5], [7, 24]]) assert.ok(Math.abs(r90[(S - 1 - x) * S + y] - img[y * S + x]) <= 1, `(${x},${y})`);
  let back = img;
  for (let k = 0; k < 4; k++) back = rotateImage(back, 90);
  assert.ok(meanAbsDiff(back, img) < 1);
  assert.ok(meanAbsDiff(rotateImage(img, 360), img) < 1);
});

test('contrast keeps the mean and scales deviations by c; blur keeps a flat image and total light', () => {
  const img = images[6];
  const out = scaleContrast(img, 0.5);
  const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean(out) - mean(img)) < 0.5);
  assert.ok(Math.abs(out[300] - (mean(img) + (img[300] - mean(img)) * 0.5)) <= 0.5 + 1e-9);
  const flat = new Uint8Array(784).fill(77);
  assert.deepEqual(gaussianBlur(flat, 1), flat);
  const dot = new Uint8Array(784);
  dot[14 * S + 14] = 255;
  const blurred = gaussianBlur(dot, 1);
  assert.ok(blurred[14 * S + 14] < 255 && blurred[14 * S + 15] > 0);
  assert.ok(Math.abs(blurred.reduce((s, v) => s + v, 0) - 255) < 12, 'a centred dot keeps its light (up to rounding)');
});

test('applyFilterToImages seeds image i by firstIndex + i', () => {
  const batch = new Uint8Array(3 * 784);
  images.slice(0, 3).forEach((img, i) => batch.set(img, i * 784));
  const out = applyFilterToImages('rain', batch, 4, 9, 10);
  for (let i = 0; i < 3; i++) assert.deepEqual(out.subarray(i * 784, (i + 1) * 784), applyFilter('rain', images[i], 4, 10 + i, 9));
});

test('--filters and --severities parsing', () => {
  assert.deepEqual(parseFilters(undefined), [...FILTER_NAMES]);
  assert.deepEqual(parseFilters('rotate, blur,rotate'), ['rotate', 'blur']);
  assert.throws(() => parseFilters('rotate,snow'), /--filters: unknown filter "snow"/);
  assert.deepEqual(parseSeverities(undefined), [1, 2, 3, 4, 5]);
  assert.deepEqual(parseSeverities('3'), [3]);
  assert.deepEqual(parseSeverities('5,1-2'), [1, 2, 5]);
  for (const bad of ['0', '6', '3-1', 'x', '1-9']) assert.throws(() => parseSeverities(bad), /--severities/);
});
