/**
 * The table model, the blobs and the resampler at the places units.test.ts and background.test.ts
 * leave open (found by the mutation run): which border pixels are sampled, a garment on the border
 * that only the second fit leaves out, blob boxes of irregular shapes, merge gaps in every direction,
 * and the Lanczos kernel itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { borderSamples, fitBackground, robustStats } from '../../src/preprocess/background.ts';
import { findBlobs, selectGarment, type Blob } from '../../src/preprocess/blobs.ts';
import { resampleRegion } from '../../src/preprocess/resample.ts';
import { createRng } from '../../src/random.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

test('border samples: every stride-th pixel of a band 3% of the shorter side wide, in raster order, at most 1,500', () => {
  for (const [w, h] of [[160, 120], [120, 160], [8, 8], [300, 20], [640, 480]]) {
    const band = Math.max(1, Math.round(Math.min(w, h) * 0.03));
    const border: number[] = [];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (x < band || x >= w - band || y < band || y >= h - band) border.push(y * w + x);
    const stride = Math.max(1, Math.ceil(border.length / 1500));
    const expected = border.filter((_, k) => k % stride === 0);
    const s = borderSamples(w, h);
    assert.deepEqual(Array.from(s.index), expected, `${w}x${h}: band ${band}, stride ${stride}`);
    assert.ok(s.index.length <= 1500);
    assert.deepEqual(Array.from(s.xs), expected.map((i) => (i % w) / w - 0.5), `${w}x${h} xs`);
    assert.deepEqual(Array.from(s.ys), expected.map((i) => Math.floor(i / w) / h - 0.5), `${w}x${h} ys`);
  }
  // 160x120: a band of 4, 2,176 border pixels, every second one.
  assert.equal(borderSamples(160, 120).index.length, 1088);
});

test('robustStats of nothing is zero', () => {
  assert.deepEqual(robustStats([]), { median: 0, sigma: 0 });
});

test('fitBackground: the second fit drops a garment on the border that the first one kept, and solves for both slopes', () => {
  // An exact plane (no rounding) lit from the right and from below, with a patch 40 levels above it
  // on the top edge, left of centre (5% of the border band): inside the first, flat fit's 3-sigma
  // limit, far outside the second's. Leaving it out makes the kept samples asymmetric (Σxy != 0).
  const w = 200;
  const h = 100;
  const plane = (x: number, y: number) => 120 + 80 * (x / w - 0.5) + 30 * (y / h - 0.5);
  const img = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img[y * w + x] = plane(x, y) + (x >= 20 && x < 50 && y < 3 ? 40 : 0);
  const bg = fitBackground(img, w, h);
  close(bg.level, 120, 1e-3, 'level');
  close(bg.dx, 80, 1e-3, 'dx');
  close(bg.dy, 30, 1e-3, 'dy');
  close(bg.sigma, 0, 1e-3, 'sigma');
});

test('fitBackground on a single row: no plane can be solved, the median and MAD stand', () => {
  const row = Float32Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? 100 : 10 + (i % 3)));
  const bg = fitBackground(row, 50, 1);
  const sorted = [...row].sort((a, b) => a - b);
  assert.deepEqual([bg.level, bg.dx, bg.dy], [sorted[25], 0, 0]);
  assert.equal(bg.sigma, robustStats(row).sigma);
});

/** Connected components by breadth-first search, for comparison. */
function referenceBlobs(mask: Uint8Array, w: number, h: number, minArea: number): Blob[] {
  const label = new Int32Array(mask.length).fill(-1);
  const out: Blob[] = [];
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s] || label[s] >= 0) continue;
    const queue = [s];
    label[s] = s;
    const b = { area: 0, left: Infinity, top: Infinity, right: -1, bottom: -1 };
    while (queue.length > 0) {
      const i = queue.shift()!;
      const x = i % w;
      const y = Math.floor(i / w);
      b.area++;
      b.left = Math.min(b.left, x);
      b.right = Math.max(b.right, x);
      b.top = Math.min(b.top, y);
      b.bottom = Math.max(b.bottom, y);
      for (const [dx, dy] of [[-1, -1], [0, -1], [1, -1], [-1, 0], [1, 0], [-1, 1], [0, 1], [1, 1]]) {
        const nx = x + dx;
        const ny = y + dy;
        const j = ny * w + nx;
        if (nx >= 0 && nx < w && ny >= 0 && ny < h && mask[j] && label[j] < 0) {
          label[j] = s;
          queue.push(j);
        }
      }
    }
    if (b.area >= minArea) out.push(b);
  }
  return out;
}

test('findBlobs matches a breadth-first reference on random masks (irregular shapes, boxes from every side)', () => {
  const rng = createRng(12);
  for (let t = 0; t < 20; t++) {
    const w = 10 + Math.floor(rng() * 30);
    const h = 5 + Math.floor(rng() * 20);
    const density = 0.2 + rng() * 0.4;
    const mask = Uint8Array.from({ length: w * h }, () => (rng() < density ? 1 : 0));
    assert.deepEqual(findBlobs(mask, w, h), referenceBlobs(mask, w, h, 3), `mask ${t} (${w}x${h})`);
  }
});

const blob = (left: number, top: number, right: number, bottom: number): Blob => ({ area: (right - left + 1) * (bottom - top + 1), left, top, right, bottom });

test('selectGarment: the gap counts the same to the left, right, above and below', () => {
  // A 40x40 garment at (50,50)-(89,89): pieces 6 pixels away join, 7 pixels away do not.
  const g = blob(50, 50, 89, 89);
  const merged = (piece: Blob) => selectGarment([g, piece])!.merged;
  assert.deepEqual([merged(blob(96, 60, 97, 61)), merged(blob(97, 60, 98, 61))], [2, 1], 'right');
  assert.deepEqual([merged(blob(42, 60, 43, 61)), merged(blob(41, 60, 42, 61))], [2, 1], 'left');
  assert.deepEqual([merged(blob(60, 96, 61, 97)), merged(blob(60, 97, 61, 98))], [2, 1], 'below');
  assert.deepEqual([merged(blob(60, 42, 61, 43)), merged(blob(60, 41, 61, 42))], [2, 1], 'above');
  assert.equal(merged(blob(96, 96, 97, 97)), 2, 'diagonal: the larger of the two gaps counts');
  assert.equal(merged(blob(97, 92, 98, 93)), 1);
});

test('selectGarment: the merge distance follows the longer side of the box, wherever the box is', () => {
  // 37 wide (0.15 x 37 = 5.55 -> 6) and 10 high: a piece 6 pixels to the right joins.
  const wide = blob(100, 100, 136, 109);
  assert.equal(selectGarment([wide, blob(143, 100, 144, 101)])!.merged, 2);
  assert.equal(selectGarment([wide, blob(144, 100, 145, 101)])!.merged, 1);
  // The same for a tall box, below it.
  const tall = blob(100, 100, 109, 136);
  assert.equal(selectGarment([tall, blob(100, 143, 101, 144)])!.merged, 2);
  assert.equal(selectGarment([tall, blob(100, 144, 101, 145)])!.merged, 1);
});

test('resampleRegion at the same size is the identity (Lanczos is 1 at 0 and 0 at the other integers)', () => {
  const rng = createRng(8);
  const w = 12;
  const h = 9;
  const img = Float32Array.from({ length: w * h }, () => rng() * 100);
  const out = resampleRegion(img, w, { left: 0, top: 0, width: w, height: h }, w, h);
  for (let i = 0; i < img.length; i++) close(out[i], img[i], 1e-3, `pixel ${i}`);
  // A box inside a larger frame at its own size: the box's pixels.
  const sub = resampleRegion(img, w, { left: 3, top: 2, width: 5, height: 4 }, 5, 4);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) close(sub[y * 5 + x], img[(y + 2) * w + x + 3], 1e-3, `box (${x},${y})`);
});

test('resampleRegion: shrinking widens the kernel (a 2-pixel stripe pattern averages out); enlarging a step rings', () => {
  const w = 56;
  const stripes = Float32Array.from({ length: w * 4 }, (_, i) => (i % 2 === 0 ? 0 : 1));
  const half = resampleRegion(stripes, w, { left: 0, top: 0, width: w, height: 4 }, 28, 4);
  for (let x = 4; x < 24; x++) close(half[x], 0.5, 0.02, `column ${x}`);
  // A period of 3 input pixels is beyond the halved frame's Nyquist limit: only its mean, 1/3, is left
  // (a kernel not widened would pick pairs of pixels: 0, 1/2, 1/2, ...).
  const thirds = Float32Array.from({ length: 60 * 4 }, (_, i) => (i % 3 === 2 ? 1 : 0));
  const t = resampleRegion(thirds, 60, { left: 0, top: 0, width: 60, height: 4 }, 30, 4);
  for (let x = 3; x < 27; x++) close(t[x], 1 / 3, 0.05, `period-3 column ${x}`);
  // A step enlarged 4x: Lanczos' negative lobes overshoot on both sides of the edge.
  const step = Float32Array.from({ length: 8 * 2 }, (_, i) => (i % 8 < 4 ? 0 : 1));
  const big = resampleRegion(step, 8, { left: 0, top: 0, width: 8, height: 2 }, 32, 2);
  assert.ok(Math.min(...big) < -0.02 && Math.max(...big) > 1.02, `${Math.min(...big)} .. ${Math.max(...big)}`);
});
