/** convertFrame and its steps (src/preprocess/convert.ts) on hand-made decoded frames: no sharp, no data set. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkUsable, convertFrame, fillOf, MAX_ASPECT_RATIO, MIN_FILL, MIN_FRAME_SIDE, toWorkingGray, UnusableFrameError, WORK_SIZE, workingFactor, type RawFrame,
} from '../../src/preprocess/convert.ts';
import { createRng } from '../../src/random.ts';

type Rect = [left: number, top: number, width: number, height: number];

/** A grey frame: a table of `level` (plus Gaussian noise of `sigma`) with rectangles painted on it. */
function grey(width: number, height: number, level: number, rects: [Rect, number][] = [], sigma = 0, seed = 1): RawFrame {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(level + sigma * gauss())));
  for (const [[l, t, w, h], v] of rects) for (let y = t; y < t + h; y++) for (let x = l; x < l + w; x++) data[y * width + x] = v;
  return { data, width, height, channels: 1 };
}

function refuses(frame: RawFrame, code: string, message: string): void {
  assert.throws(() => convertFrame(frame), (e: Error) => e instanceof UnusableFrameError && e.code === code && e.message === message && e.name === 'UnusableFrameError');
}

/** Columns and rows of the 28x28 output holding any pixel above `level`. */
function extent(pixels: Uint8Array, level = 0): { left: number; right: number; top: number; bottom: number } {
  const r = { left: 28, right: -1, top: 28, bottom: -1 };
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (pixels[y * 28 + x] <= level) continue;
      r.left = Math.min(r.left, x);
      r.right = Math.max(r.right, x);
      r.top = Math.min(r.top, y);
      r.bottom = Math.max(r.bottom, y);
    }
  }
  return r;
}

test('frames that cannot hold a garment: too small, or a strip; the limits themselves pass', () => {
  assert.deepEqual([MIN_FRAME_SIDE, MAX_ASPECT_RATIO], [8, 10]);
  refuses(grey(7, 20, 0), 'frame-too-small', 'unusable frame: 7x20 pixels (at least 8x8 needed)');
  refuses(grey(40, 7, 0), 'frame-too-small', 'unusable frame: 40x7 pixels (at least 8x8 needed)');
  refuses(grey(111, 11, 0), 'frame-extreme-aspect', 'unusable frame: 111x11 is a strip (aspect ratio over 10:1)');
  refuses(grey(9, 91, 0), 'frame-extreme-aspect', 'unusable frame: 9x91 is a strip (aspect ratio over 10:1)');
  for (const [w, h] of [[8, 8], [80, 8], [8, 80], [110, 11]]) assert.doesNotThrow(() => checkUsable(grey(w, h, 0)), `${w}x${h}`);
  refuses({ data: new Uint8Array(20 * 20 * 2), width: 20, height: 20, channels: 2 }, 'frame-transparent', 'unusable frame: fully transparent (every pixel has alpha 0)');
});

test('working size: whole-pixel factors that bring the longer side to 160..319', () => {
  assert.equal(WORK_SIZE, 160);
  assert.deepEqual([[100, 30], [159, 159], [160, 90], [319, 200], [320, 240], [240, 320], [479, 10], [480, 270], [1920, 1080]].map(([w, h]) => workingFactor(w, h)), [1, 1, 1, 1, 2, 2, 2, 3, 12]);
});

test('toWorkingGray: block means rounded to nearest, the remainder at the right and bottom dropped, for every channel layout', () => {
  // Grey RGB pixels (r = g = b) have a luma equal to their value.
  // 3x5 at factor 2: two 2x2 blocks with means 2.5 and 1.25; the third column and the fifth row are dropped.
  const g = (v: number) => [v, v, v];
  const rgb = Uint8Array.from([1, 2, 9, 3, 4, 9, 1, 1, 9, 1, 2, 9, 9, 9, 9].flatMap(g));
  const out = toWorkingGray({ data: rgb, width: 3, height: 5, channels: 3 }, 2);
  assert.deepEqual({ ...out, gray: [...out.gray] }, { gray: [3, 1], width: 1, height: 2 }, '2.5 rounds up, 1.25 down');
  const one = toWorkingGray({ data: Uint8Array.from([1, 2, 9, 3, 4, 9, 1, 1, 9, 1, 2, 9, 9, 9, 9]), width: 3, height: 5, channels: 1 }, 2);
  assert.deepEqual([...one.gray], [3, 1]);
  assert.deepEqual([one.width, one.height], [1, 2]);
  // 601 luma with Pillow's weights: pure green is 150, pure blue 29.
  assert.deepEqual([...toWorkingGray({ data: Uint8Array.from([0, 255, 0, 0, 0, 255]), width: 2, height: 1, channels: 3 }, 1).gray], [150, 29]);
  assert.deepEqual([...toWorkingGray({ data: Uint8Array.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0]), width: 2, height: 2, channels: 3 }, 2).gray], [45], '(150 + 29 + 0 + 0) / 4 = 44.75');
  // Grey + alpha and RGBA, all opaque: the grey or luma values as they are, with the factor applied.
  assert.deepEqual([...toWorkingGray({ data: Uint8Array.from([10, 255, 20, 255, 30, 255, 40, 255]), width: 2, height: 2, channels: 2 }, 2).gray], [25]);
  assert.deepEqual([...toWorkingGray({ data: Uint8Array.from([0, 255, 0, 255, 7, 7, 7, 255]), width: 2, height: 1, channels: 4 }, 1).gray], [150, 7]);
  // The default factor comes from the frame size: 320 wide halves it.
  assert.deepEqual([toWorkingGray(grey(320, 20, 5)).width, toWorkingGray(grey(320, 20, 5)).height], [160, 10]);
});

test('alpha: flattened onto white behind a dark cut-out, black behind a light one; partial alpha blends', () => {
  // Opaque part dark (20): transparent pixels turn white, half-transparent ones half way.
  const dark = toWorkingGray({ data: Uint8Array.from([20, 255, 0, 0, 100, 128]), width: 3, height: 1, channels: 2 }, 1);
  assert.deepEqual([...dark.gray], [20, 255, Math.round((100 * 128 + 255 * 127) / 255)]);
  // Opaque part light (200): the background is black.
  const light = toWorkingGray({ data: Uint8Array.from([200, 255, 0, 0, 100, 128]), width: 3, height: 1, channels: 2 }, 1);
  assert.deepEqual([...light.gray], [200, 0, Math.round((100 * 128) / 255)]);
  // The weighted mean of the opaque part decides: exactly 128 is light, just under it dark.
  assert.equal(toWorkingGray({ data: Uint8Array.from([128, 255, 0, 0]), width: 2, height: 1, channels: 2 }, 1).gray[1], 0);
  assert.equal(toWorkingGray({ data: Uint8Array.from([128, 255, 127, 255, 9, 0]), width: 3, height: 1, channels: 2 }, 1).gray[2], 255);
  // RGBA: the alpha is the fourth sample.
  assert.deepEqual([...toWorkingGray({ data: Uint8Array.from([30, 30, 30, 255, 200, 200, 200, 0]), width: 2, height: 1, channels: 4 }, 1).gray], [30, 255]);
});

test('a 28x28 image passes through: no trim, resize or stretch; negated only when asked', () => {
  const img = grey(28, 28, 0, [[[5, 4, 10, 20], 200], [[15, 4, 3, 20], 32], [[18, 4, 2, 20], 33]]);
  for (const invert of ['auto', 'never'] as const) {
    const r = convertFrame(img, invert);
    assert.deepEqual([...r.pixels], [...img.data]);
    assert.equal(r.inverted, false);
  }
  const forced = convertFrame(img, 'always');
  assert.deepEqual([...forced.pixels], [...img.data].map((v) => 255 - v));
  assert.equal(forced.inverted, true);
  // Fill: pixels above 32 (200 and 33, not 32), to 3 decimals.
  const fill = Math.round(((10 * 20 + 2 * 20) / 784) * 1000) / 1000;
  assert.deepEqual(convertFrame(img).quality, { fill, blobs: 1, issues: [] });
  assert.equal(convertFrame(grey(28, 28, 0)).pixels.length, 784);
  assert.deepEqual([fillOf(new Uint8Array(784).fill(33)), fillOf(new Uint8Array(784).fill(32)), fillOf(Uint8Array.from({ length: 784 }, (_, i) => (i < 1 ? 255 : 0)))], [1, 0, 0.001]);
  // A 56x56 frame works at factor 1, so it is a photo, not a Fashion-MNIST image.
  assert.notDeepEqual([...convertFrame(grey(56, 56, 0, [[[10, 10, 20, 20], 200]])).pixels], [...grey(28, 28, 0).data]);
});

test('a dark garment on a light table is negated into a bright garment on black, filling the 28x28 box', () => {
  const frame = grey(160, 120, 200, [[[50, 30, 60, 60], 40]]);
  const r = convertFrame(frame);
  assert.equal(r.inverted, true);
  assert.deepEqual(r.quality.issues, []);
  assert.equal(r.quality.blobs, 1);
  assert.ok(r.quality.fill > 0.8 && r.quality.fill <= 1, `fill ${r.quality.fill}`);
  // The square garment fills the square output; its middle is near full brightness (the stretch
  // takes the 99th percentile, which the sharpened edges' overshoot lifts above the flat middle).
  assert.ok(r.pixels[14 * 28 + 14] >= 200, `${r.pixels[14 * 28 + 14]}`);
  // The box is the garment plus the couple of pixels the blur adds around it: bright to within a pixel of each side.
  const bright = extent(r.pixels, 128);
  assert.ok(bright.left <= 1 && bright.top <= 1 && bright.right >= 26 && bright.bottom >= 26, JSON.stringify(bright));
  const never = convertFrame(frame, 'never');
  assert.equal(never.inverted, false);
  assert.equal(never.pixels[14 * 28 + 14], 0, 'not negated: the dark garment is background');
  assert.equal(convertFrame(frame, 'always').inverted, true);
});

test('a bright garment on a dark table is kept; "always" negates it anyway', () => {
  const frame = grey(160, 120, 30, [[[50, 30, 60, 60], 220]]);
  const r = convertFrame(frame);
  assert.equal(r.inverted, false);
  assert.ok(r.pixels[14 * 28 + 14] >= 200, `${r.pixels[14 * 28 + 14]}`);
  const forced = convertFrame(frame, 'always');
  assert.equal(forced.inverted, true);
  assert.equal(forced.pixels[14 * 28 + 14], 0);
});

test('a faint garment is stretched to full brightness; the table\'s noise does not survive as speckle', () => {
  const faint = convertFrame(grey(160, 120, 200, [[[50, 30, 60, 60], 170]]));
  assert.equal(faint.inverted, true);
  assert.equal(faint.pixels[14 * 28 + 14], 255);
  // A noisy table (sigma 6) with a tall garment: the output beside the garment is black.
  const noisy = convertFrame(grey(160, 120, 180, [[[65, 10, 30, 100], 40]], 6, 3));
  assert.equal(noisy.inverted, true);
  assert.deepEqual(noisy.quality.issues, []);
  const box = extent(noisy.pixels, 0);
  // 30 x 100 (a few pixels wider with the blur) scales to about 9 x 28, centred.
  assert.deepEqual([box.top, box.bottom], [0, 27]);
  assert.ok(box.right - box.left + 1 >= 8 && box.right - box.left + 1 <= 12, JSON.stringify(box));
  assert.ok(Math.abs(box.left - (27 - box.right)) <= 1, `centred: ${JSON.stringify(box)}`);
  let speckle = 0;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if ((x < box.left - 0 || x > box.right) && noisy.pixels[y * 28 + x] > 0) speckle++;
  assert.equal(speckle, 0);
  // The same for a wide garment: centred vertically.
  const wide = extent(convertFrame(grey(160, 120, 180, [[[10, 45, 140, 30], 40]])).pixels, 0);
  assert.deepEqual([wide.left, wide.right], [0, 27]);
  assert.ok(Math.abs(wide.top - (27 - wide.bottom)) <= 1, `centred: ${JSON.stringify(wide)}`);
});

test('an empty table: a black image, no garment, negated by the table\'s own brightness (128 and up is light)', () => {
  for (const [level, inverted] of [[200, true], [128, true], [127, false], [40, false]] as const) {
    const r = convertFrame(grey(160, 120, level));
    assert.equal(r.inverted, inverted, `table ${level}`);
    assert.ok(r.pixels.every((v) => v === 0), `table ${level}: black`);
    assert.deepEqual(r.quality, { fill: 0, blobs: 0, issues: ['no-garment'] });
  }
});

test('quality issues: a garment lost in its box is small; a second large blob is several blobs, a speck is not', () => {
  // A thin diagonal (a hanger wire, an outline): one blob whose pixels cover a small part of its box.
  const wire = grey(160, 120, 200);
  for (let i = 0; i < 90; i++) wire.data[(15 + i) * 160 + 35 + i] = 40;
  const w = convertFrame(wire);
  assert.ok(w.quality.fill > 0 && w.quality.fill < MIN_FILL, `fill ${w.quality.fill}`);
  assert.deepEqual(w.quality.issues, ['small-garment']);
  // Two garments far apart: the larger is used, the other reported.
  const two = convertFrame(grey(160, 120, 200, [[[10, 30, 50, 50], 40], [[120, 40, 25, 25], 40]]));
  assert.equal(two.quality.blobs, 2);
  assert.deepEqual(two.quality.issues, ['several-blobs']);
  assert.ok(two.quality.fill > 0.8, `the box is the larger garment's: fill ${two.quality.fill}`);
  // A small speck far away (under 5% of the garment's area) is counted but not an issue.
  const speck = convertFrame(grey(160, 120, 200, [[[10, 30, 50, 50], 40], [[140, 100, 3, 3], 40]]));
  assert.equal(speck.quality.blobs, 2);
  assert.deepEqual(speck.quality.issues, []);
});
