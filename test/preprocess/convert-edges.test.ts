/**
 * Edges of convertFrame (src/preprocess/convert.ts) that convert-units.test.ts left open (the mutation
 * run's survivors, docs/testing.md): the invert decision by contrast rather than by the table's
 * brightness, frames 28 pixels on one side only, a wide garment's height, a lit table's gradient,
 * the noise floor inside the box, and the stretch to the 99th percentile with clamping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertFrame, type RawFrame } from '../../src/preprocess/convert.ts';
import { createRng } from '../../src/random.ts';

type Rect = [left: number, top: number, width: number, height: number];

/** A grey frame: a table whose level is `level(x, y)` (plus Gaussian noise of `sigma`) with rectangles painted on it. */
function frame(width: number, height: number, level: (x: number, y: number) => number, rects: [Rect, number][] = [], sigma = 0, seed = 1): RawFrame {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.max(0, Math.min(255, Math.round(level(x, y) + sigma * gauss())));
  for (const [[l, t, w, h], v] of rects) for (let y = t; y < t + h; y++) for (let x = l; x < l + w; x++) data[y * width + x] = v;
  return { data, width, height, channels: 1 };
}

const flat = (v: number) => () => v;

/** Rows of the 28x28 output holding any pixel above 0. */
function rows(pixels: Uint8Array): { top: number; bottom: number } {
  let top = 28;
  let bottom = -1;
  for (let y = 0; y < 28; y++) {
    if (pixels.subarray(y * 28, (y + 1) * 28).some((v) => v > 0)) {
      top = Math.min(top, y);
      bottom = y;
    }
  }
  return { top, bottom };
}

test('invert follows the garment\'s contrast, not the table\'s brightness', () => {
  // Dark garment on a dark table (100 < 128): negated, so the garment comes out bright.
  const darkOnDark = convertFrame(frame(160, 120, flat(100), [[[50, 30, 60, 60], 20]]));
  assert.equal(darkOnDark.inverted, true);
  assert.ok(darkOnDark.pixels[14 * 28 + 14] >= 200, `${darkOnDark.pixels[14 * 28 + 14]}`);
  // Bright garment on a light table (150 >= 128): kept.
  const brightOnLight = convertFrame(frame(160, 120, flat(150), [[[50, 30, 60, 60], 250]]));
  assert.equal(brightOnLight.inverted, false);
  assert.ok(brightOnLight.pixels[14 * 28 + 14] >= 200, `${brightOnLight.pixels[14 * 28 + 14]}`);
  // A wide patch only 8 levels lighter than the table (under the 5% = 12.75 threshold) holding a
  // small dark garment: only contrast over the threshold counts, and that is the garment's.
  const faint = convertFrame(frame(160, 120, flat(100), [[[20, 15, 120, 90], 108], [[65, 45, 30, 30], 40]]));
  assert.equal(faint.inverted, true);
});

test('a frame 28 pixels on one side only is a photo: converted to 28x28', () => {
  for (const [w, h] of [[28, 40], [40, 28]]) {
    const r = convertFrame(frame(w, h, flat(30), [[[8, 8, 12, 12], 220]]));
    assert.equal(r.pixels.length, 784, `${w}x${h}`);
    assert.equal(r.quality.blobs, 1, `${w}x${h}`);
  }
});

test('a wide garment keeps its aspect: about a fifth of the rows', () => {
  // 140 x 30 (plus a couple of pixels of blur) scales to 28 x 6 or 7.
  const r = rows(convertFrame(frame(160, 120, flat(180), [[[10, 45, 140, 30], 40]])).pixels);
  assert.ok(r.bottom - r.top + 1 >= 5 && r.bottom - r.top + 1 <= 9, JSON.stringify(r));
});

test('a table lit unevenly (a gradient in x and y) is removed like a flat one', () => {
  const lit = convertFrame(frame(160, 120, (x, y) => 60 + 0.5 * x + 0.3 * y, [[[50, 30, 60, 60], 230]]));
  assert.equal(lit.inverted, false);
  assert.deepEqual([lit.quality.blobs, lit.quality.issues], [1, []]);
  assert.ok(lit.quality.fill > 0.8, `fill ${lit.quality.fill}`);
  // The garment's contrast to the lit table falls from left to right (230 against 85 .. 115): bright still.
  assert.ok(lit.pixels[14 * 28 + 14] >= 150, `${lit.pixels[14 * 28 + 14]}`);
});

test('the noise floor: the table showing through a garment (inside its box) comes out black', () => {
  // A dark frame garment 70x70 with a 30x30 hole on a noisy light table (sigma 6).
  const ring: [Rect, number][] = [[[45, 25, 70, 20], 40], [[45, 75, 70, 20], 40], [[45, 45, 20, 30], 40], [[95, 45, 20, 30], 40]];
  const r = convertFrame(frame(160, 120, flat(180), ring, 6, 7));
  assert.equal(r.inverted, true);
  // The hole's middle 6x6 in the output: the floor (3 sigma of the table, scaled) leaves a rare pixel,
  // where noise around 0 without it would light about half of them.
  let lit = 0;
  for (let y = 11; y < 17; y++) for (let x = 11; x < 17; x++) if (r.pixels[y * 28 + x] > 0) lit++;
  assert.ok(lit <= 4, `${lit} of 36 pixels of table noise left inside the box`);
  assert.ok(r.pixels[3 * 28 + 14] >= 150, `garment ring: ${r.pixels[3 * 28 + 14]}`);
});

test('the stretch: the 99th percentile becomes 255, the flat middle stays under it, the sharpened overshoot is clamped', () => {
  const r = convertFrame(frame(160, 120, flat(30), [[[50, 30, 60, 60], 220]]));
  const middle = r.pixels[14 * 28 + 14];
  assert.ok(middle >= 200 && middle < 255, `middle ${middle}: the overshoot lifts the percentile above it`);
  // At least 1% of the 784 output values are at or above the percentile: all of those are 255, none wrapped.
  const full = r.pixels.filter((v) => v === 255).length;
  assert.ok(full >= Math.floor(0.01 * 784), `${full} pixels at 255`);
  // Clamped, not wrapped: no pixel of the garment's interior (the middle 20x20) is dark.
  for (let y = 4; y < 24; y++) for (let x = 4; x < 24; x++) assert.ok(r.pixels[y * 28 + x] >= 150, `(${x}, ${y}): ${r.pixels[y * 28 + x]}`);
  // A spot brighter than the rest and smaller than 1% of the output lies above the percentile: 255, not wrapped round.
  const spot = convertFrame(frame(160, 120, flat(30), [[[50, 30, 60, 60], 150], [[78, 58, 4, 4], 250]]));
  const around = [13, 14, 15].flatMap((y) => [13, 14, 15].map((x) => spot.pixels[y * 28 + x]));
  assert.ok(Math.max(...around) === 255 && Math.min(...around) >= 150, around.join(','));
});
