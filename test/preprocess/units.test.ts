/** The pure steps of the conversion (src/preprocess/*.ts), on hand-made arrays. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimitedWarnings } from '../../device/rate-limited-warnings.ts';
import { robustStats, select } from '../../src/preprocess/background.ts';
import { findBlobs, selectGarment } from '../../src/preprocess/blobs.ts';
import { toWorkingGray, workingFactor } from '../../src/preprocess/convert.ts';
import { resampleRegion, sharpen } from '../../src/preprocess/resample.ts';
import { createRng } from '../../src/random.ts';

function maskWith(width: number, height: number, rects: [number, number, number, number][]): Uint8Array {
  const m = new Uint8Array(width * height);
  for (const [l, t, w, h] of rects) for (let y = t; y < t + h; y++) for (let x = l; x < l + w; x++) m[y * width + x] = 1;
  return m;
}

test('findBlobs: 8-connected components with area and box; specks below the minimum are dropped', () => {
  const mask = maskWith(20, 10, [[1, 1, 4, 3], [5, 4, 1, 1], [12, 2, 3, 3], [18, 8, 1, 1]]);
  const blobs = findBlobs(mask, 20, 10);
  // The diagonal neighbour (5,4) joins the first rectangle; the 1-pixel speck at (18,8) is noise.
  assert.deepEqual(blobs, [
    { area: 13, left: 1, top: 1, right: 5, bottom: 4 },
    { area: 9, left: 12, top: 2, right: 14, bottom: 4 },
  ]);
});

test('selectGarment: the largest blob plus pieces within the gap; detached blobs are left out', () => {
  const mask = maskWith(100, 60, [
    [10, 10, 30, 30], // the garment
    [10, 42, 30, 3], // a strap 2 pixels below it: part of the garment
    [80, 5, 10, 8], // a detached patch far to the right
  ]);
  const g = selectGarment(findBlobs(mask, 100, 60));
  assert.ok(g);
  assert.deepEqual(g.box, { left: 10, top: 10, width: 30, height: 35 });
  assert.equal(g.area, 990);
  assert.equal(g.merged, 2);
  assert.deepEqual(g.leftOut.map((b) => b.area), [80]);
  assert.equal(selectGarment([]), null);
});

test('select and robustStats: median and 1.4826 x MAD without sorting', () => {
  const rng = createRng(3);
  const values = Float64Array.from({ length: 1001 }, () => Math.round(rng() * 1000));
  const sorted = [...values].sort((a, b) => a - b);
  for (const k of [0, 1, 500, 999, 1000]) assert.equal(select(Float64Array.from(values), k), sorted[k]);
  const { median, sigma } = robustStats([1, 2, 3, 4, 100]);
  assert.equal(median, 3);
  assert.equal(sigma, 1.4826);
});

test('toWorkingGray: 601 luma; the fused RGB block shrink equals luma-then-shrink; alpha is flattened', () => {
  assert.equal(workingFactor(320, 240), 2);
  assert.equal(workingFactor(640, 480), 4);
  assert.equal(workingFactor(100, 30), 1);
  const rng = createRng(5);
  const w = 9;
  const h = 5;
  const rgb = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng() * 256));
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 255], i * 4);
  const fused = toWorkingGray({ data: rgb, width: w, height: h, channels: 3 }, 2);
  const generic = toWorkingGray({ data: rgba, width: w, height: h, channels: 4 }, 2);
  assert.deepEqual(fused, generic);
  assert.equal(fused.width, 4);
  assert.equal(fused.height, 2);
  // Pure red is dark in 601 luma (76), not the 127 of luminance in linear light.
  assert.equal(toWorkingGray({ data: Uint8Array.from([255, 0, 0]), width: 1, height: 1, channels: 3 }, 1).gray[0], 76);
  // A dark opaque pixel next to a transparent one: the transparent one becomes white (contrasting).
  const cut = toWorkingGray({ data: Uint8Array.from([20, 255, 20, 0]), width: 2, height: 1, channels: 2 }, 1);
  assert.deepEqual([...cut.gray], [20, 255]);
});

test('resampleRegion keeps a flat image flat and the mean of a ramp; sharpen leaves flat areas alone', () => {
  const w = 90;
  const h = 60;
  const flat = new Float32Array(w * h).fill(7);
  const out = resampleRegion(flat, w, { left: 10, top: 5, width: 75, height: 50 }, 28, 19);
  for (const v of out) assert.ok(Math.abs(v - 7) < 1e-4);
  const ramp = Float32Array.from({ length: w * h }, (_, i) => i % w);
  const r = resampleRegion(ramp, w, { left: 0, top: 0, width: w, height: h }, 28, 28);
  const mean = r.reduce((a, b) => a + b, 0) / r.length;
  assert.ok(Math.abs(mean - (w - 1) / 2) < 0.5, `mean ${mean}`);
  assert.ok(r[27] > r[0]);
  for (const v of sharpen(new Float32Array(28 * 28).fill(3), 28, 28, 0.5, 1)) assert.ok(Math.abs(v - 3) < 1e-5);
});

test('per-frame warnings: one line per reason per interval, then a count of what was held back', () => {
  let now = 0;
  const lines: string[] = [];
  const warnings = new RateLimitedWarnings((m) => lines.push(m), 10_000, () => now);
  for (let i = 0; i < 50; i++) {
    warnings.warn('undecodable', `frame ${i} bad`);
    now += 100;
  }
  warnings.warn('frame-too-small', 'tiny');
  assert.deepEqual(lines, ['frame 0 bad', 'tiny']);
  now = 10_001;
  warnings.warn('undecodable', 'frame 99 bad');
  assert.equal(lines[2], 'frame 99 bad (+49 more undecodable in the last 10 s)');
});

test('resampleRegion reads the box, not the frame: offsets along both axes, upscaling a small box', () => {
  const w = 90;
  const h = 60;
  const xRamp = Float32Array.from({ length: w * h }, (_, i) => i % w);
  const yRamp = Float32Array.from({ length: w * h }, (_, i) => Math.floor(i / w));
  const box = { left: 30, top: 20, width: 40, height: 30 };
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const rx = resampleRegion(xRamp, w, box, 28, 21);
  const ry = resampleRegion(yRamp, w, box, 28, 21);
  assert.ok(Math.abs(mean(rx) - (30 + 39 / 2)) < 0.5, `x mean ${mean(rx)}`);
  assert.ok(Math.abs(mean(ry) - (20 + 29 / 2)) < 0.5, `y mean ${mean(ry)}`);
  for (let y = 0; y < 21; y++) for (let x = 1; x < 28; x++) assert.ok(rx[y * 28 + x] > rx[y * 28 + x - 1], 'x increases along a row');
  for (let x = 0; x < 28; x++) for (let y = 1; y < 21; y++) assert.ok(ry[y * 28 + x] > ry[(y - 1) * 28 + x], 'y increases down a column');
  // Every output stays within the box's values (plus Lanczos overshoot at most a few %).
  for (const v of rx) assert.ok(v > 30 - 1.5 && v < 69 + 1.5, `${v}`);
  // A box smaller than the output is enlarged: a 7x7 flat patch inside a darker frame stays flat.
  const patch = new Float32Array(w * h);
  for (let y = 10; y < 17; y++) for (let x = 10; x < 17; x++) patch[y * w + x] = 5;
  for (const v of resampleRegion(patch, w, { left: 10, top: 10, width: 7, height: 7 }, 28, 28)) assert.ok(Math.abs(v - 5) < 1e-4, `${v}`);
});

test('sharpen is an unsharp mask with a normalised 3x3 Gaussian: an impulse, and a corner with clamped edges', () => {
  const sigma = 0.5;
  const side = Math.exp(-1 / (2 * sigma * sigma));
  const c = 1 / (1 + 2 * side);
  const s = side * c;
  const impulse = new Float32Array(25);
  impulse[12] = 1;
  const out = sharpen(impulse, 5, 5, sigma, 1);
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
  assert.ok(near(out[12], 2 - c * c), `centre ${out[12]}`);
  assert.ok(near(out[11], -c * s) && near(out[13], -c * s) && near(out[7], -c * s) && near(out[17], -c * s), 'the four neighbours');
  assert.ok(near(out[6], -s * s) && near(out[18], -s * s), 'diagonals');
  assert.ok(near(out[0], 0), 'two pixels away: untouched');
  assert.ok(near(sharpen(impulse, 5, 5, sigma, 2)[12], 1 + 2 * (1 - c * c)), 'amount scales the detail');
  // At a corner the missing neighbours are the corner itself.
  const corner = new Float32Array(9);
  corner[0] = 1;
  assert.ok(near(sharpen(corner, 3, 3, sigma, 1)[0], 2 - (c + s) * (c + s)));
  const last = new Float32Array(9);
  last[8] = 1;
  assert.ok(near(sharpen(last, 3, 3, sigma, 1)[8], 2 - (c + s) * (c + s)));
});
