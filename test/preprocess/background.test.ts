/** The table model (src/preprocess/background.ts) and the garment's blobs, on hand-made frames. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backgroundAt, borderSigma, boxBlur, fitBackground } from '../../src/preprocess/background.ts';
import { findBlobs, selectGarment } from '../../src/preprocess/blobs.ts';
import { createRng } from '../../src/random.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);

/** A lit table: a plane of brightness with Gaussian noise, 8-bit. */
function table(width: number, height: number, level: number, dx: number, dy: number, sigma: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const img = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) img[y * width + x] = Math.round(level + dx * (x / width - 0.5) + dy * (y / height - 0.5) + sigma * gauss());
  return img;
}

function paint(img: Uint8Array, width: number, [l, t, w, h]: [number, number, number, number], value: number): void {
  for (let y = t; y < t + h; y++) for (let x = l; x < l + w; x++) img[y * width + x] = value;
}

test('the background plane: level at the centre, the change from edge to edge along each axis', () => {
  const bg = { level: 100, dx: 30, dy: -20, sigma: 2 };
  assert.equal(backgroundAt(bg, 60, 45, 120, 90), 100);
  assert.equal(backgroundAt(bg, 0, 0, 120, 90), 100 - 15 + 10);
  assert.equal(backgroundAt(bg, 120, 90, 120, 90), 100 + 15 - 10);
  assert.equal(backgroundAt(bg, 30, 45, 120, 90), 100 - 7.5);
});

test('fitBackground recovers an unevenly lit table and its noise, also with a dark garment touching the border', () => {
  const w = 160;
  const h = 120;
  const img = table(w, h, 150, 40, -24, 4, 7);
  paint(img, w, [50, 30, 60, 60], 20); // the garment in the middle
  paint(img, w, [0, 50, 12, 30], 20); // a sleeve over the left border band
  const bg = fitBackground(img, w, h);
  close(bg.level, 150, 1, 'level');
  close(bg.dx, 40, 2, 'dx');
  close(bg.dy, -24, 2, 'dy');
  close(bg.sigma, 4, 0.6, 'sigma');
  // The same residuals measured on the frame itself, and much less noise on its blurred copy.
  close(borderSigma(img, w, h, bg), bg.sigma, 0.6, 'border sigma');
  const blurred = boxBlur(img, w, h, 2);
  assert.ok(borderSigma(blurred, w, h, bg) < bg.sigma / 2, 'a blur averages the noise away');
  // A flat, noise-free table: exact level, no slope, zero sigma.
  const flat = fitBackground(new Uint8Array(w * h).fill(90), w, h);
  close(flat.level, 90, 1e-9, 'flat level');
  for (const v of [flat.dx, flat.dy, flat.sigma]) close(v, 0, 1e-9, 'flat slope and noise');
});

test('fitBackground on a frame narrower than its border band still fits the level', () => {
  const img = table(8, 8, 60, 0, 0, 0, 1);
  const bg = fitBackground(img, 8, 8);
  close(bg.level, 60, 1e-9, 'level');
  assert.equal(bg.sigma, 0);
});

test('boxBlur: two passes of a running mean per axis; edges average over the pixels that exist', () => {
  // One row, radius 1: [0,0,3,0,0] -> [0,1,1,1,0] -> [1/2, 2/3, 1, 2/3, 1/2]; a single row has no vertical step.
  const row = boxBlur([0, 0, 3, 0, 0], 5, 1, 1);
  [0.5, 2 / 3, 1, 2 / 3, 0.5].forEach((v, i) => close(row[i], v, 1e-6, `row[${i}]`));
  const column = boxBlur([0, 0, 3, 0, 0], 1, 5, 1);
  [0.5, 2 / 3, 1, 2 / 3, 0.5].forEach((v, i) => close(column[i], v, 1e-6, `column[${i}]`));
  // 2-D: separable, so an impulse becomes the outer product of the 1-D results.
  const impulse = new Float32Array(25);
  impulse[12] = 9;
  const b = boxBlur(impulse, 5, 5, 1);
  const k = [0.5, 2 / 3, 1, 2 / 3, 0.5].map((v) => v / 3);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) close(b[y * 5 + x], 9 * k[y] * k[x], 1e-5, `(${x},${y})`);
  // A radius beyond the frame is the frame: every pixel becomes the mean.
  for (const v of boxBlur([1, 2, 3, 6], 2, 2, 10)) close(v, 3, 1e-6, 'mean');
  // The input is not changed.
  const src = [0, 0, 3, 0, 0];
  boxBlur(src, 5, 1, 1);
  assert.deepEqual(src, [0, 0, 3, 0, 0]);
});

test('findBlobs: the minimum area is a parameter; a blob touching every edge is one blob', () => {
  const mask = new Uint8Array(6 * 4);
  mask[0] = 1;
  mask[5] = 1;
  mask[23] = 1;
  assert.equal(findBlobs(mask, 6, 4).length, 0, 'single pixels are noise by default');
  assert.deepEqual(findBlobs(mask, 6, 4, 1).map((b) => [b.left, b.top, b.right, b.bottom]), [[0, 0, 0, 0], [5, 0, 5, 0], [5, 3, 5, 3]]);
  // A pixel at the end of one row and one at the start of the next are not neighbours.
  const wrap = new Uint8Array(6 * 4);
  wrap[5] = 1;
  wrap[6] = 1;
  assert.equal(findBlobs(wrap, 6, 4, 1).length, 2);
  const frame = new Uint8Array(6 * 4);
  for (let x = 0; x < 6; x++) frame[x] = frame[18 + x] = 1;
  for (let y = 0; y < 4; y++) frame[y * 6] = frame[y * 6 + 5] = 1;
  assert.deepEqual(findBlobs(frame, 6, 4), [{ area: 16, left: 0, top: 0, right: 5, bottom: 3 }]);
});

test('selectGarment: the merge distance grows with the garment (15% of its longer side, at least 3 pixels)', () => {
  const blob = (left: number, top: number, right: number, bottom: number, area = (right - left + 1) * (bottom - top + 1)) => ({ area, left, top, right, bottom });
  // A 40-pixel garment: pieces within 6 pixels (round(0.15 * 40)) join, farther ones do not.
  const big = blob(0, 0, 39, 39);
  assert.equal(selectGarment([big, blob(46, 0, 47, 1)])!.merged, 2, 'a gap of 6 joins');
  assert.equal(selectGarment([big, blob(47, 0, 48, 1)])!.merged, 1, 'a gap of 7 does not');
  assert.equal(selectGarment([big, blob(0, 47, 1, 48)])!.merged, 1, 'the same below');
  // A small garment still joins a piece 3 pixels away.
  const small = blob(0, 0, 9, 9);
  assert.equal(selectGarment([small, blob(13, 0, 14, 1)])!.merged, 2);
  assert.equal(selectGarment([small, blob(14, 0, 15, 1)])!.merged, 1);
  // Merging grows the box (and the distance), which brings a farther piece within reach: a second round.
  const g = selectGarment([blob(56, 0, 70, 1), big, blob(45, 0, 50, 1)])!;
  assert.equal(g.merged, 3);
  assert.deepEqual(g.box, { left: 0, top: 0, width: 71, height: 40 });
  assert.equal(g.area, 1600 + 30 + 12);
  assert.deepEqual(g.leftOut, []);
  // The largest blob is the seed, wherever it is in the list; left-out blobs come largest first.
  const s = selectGarment([blob(100, 100, 101, 101), blob(200, 0, 209, 9), big, blob(300, 300, 304, 304)])!;
  assert.deepEqual(s.box, { left: 0, top: 0, width: 40, height: 40 });
  assert.deepEqual(s.leftOut.map((b) => b.area), [100, 25, 4]);
});
