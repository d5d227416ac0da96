import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { loadDataset } from '../../training/data/load.ts';
import { imageAt, type ImageSet } from '../../training/data/dataset.ts';
import { preprocessImage, toModelInput, UnusableFrameError, unusableReason } from '../../src/preprocess.ts';
import { correlation, meanAbsDiff, recentre, synthesizeFrame } from './synth.ts';

const ds = await loadDataset();
const testSet = ds.test;
/** Spread over all classes: the test split is stored class by class. */
const sample = (n: number, offset = 0) => Array.from({ length: n }, (_, k) => (k * Math.floor(testSet.count / n) + offset + k * 7) % testSet.count);

function grayPng(pixels: Uint8Array, width = 28, height = 28): Promise<Buffer> {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels: 1 } }).png().toBuffer();
}

test('a 28x28 grayscale image passes through unchanged (no trim, resize or negation)', async () => {
  for (const idx of sample(5)) {
    const original = Uint8Array.from(imageAt(testSet, idx));
    const r = await preprocessImage(await grayPng(original));
    assert.deepEqual(r.pixels, original);
    assert.equal(r.inverted, false);
    const forced = await preprocessImage(await grayPng(original), { invert: 'always' });
    assert.deepEqual(forced.pixels, original.map((v) => 255 - v));
  }
});

test('a 16-bit 28x28 PNG comes out as the 8-bit values it encodes', async () => {
  const original = Uint8Array.from(imageAt(testSet, sample(1, 3)[0]));
  const png16 = await sharp(Buffer.from(original), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  assert.deepEqual((await preprocessImage(png16)).pixels, original);
});

test('synthetic camera frames (dark garment on a noisy light table, JPEG) come back close to the originals', async () => {
  let mad = 0;
  let corr = 0;
  const ids = sample(30, 11);
  for (const [k, idx] of ids.entries()) {
    const original = imageAt(testSet, idx);
    const frame = await synthesizeFrame(original, { seed: k, centerX: 0.3 + 0.04 * (k % 10), garmentSize: 110 + 20 * (k % 5) });
    const r = await preprocessImage(frame);
    assert.equal(r.inverted, true, `frame ${k}: a light table must be negated`);
    assert.deepEqual(r.quality.issues, [], `frame ${k}: a plain camera frame has no quality issue`);
    assert.ok(r.quality.fill > 0.1 && r.quality.fill < 0.9, `frame ${k}: fill ${r.quality.fill}`);
    assert.ok(r.decodeMs >= 0 && r.preprocessMs >= 0);
    const reference = await recentre(original);
    mad += meanAbsDiff(r.pixels, reference) / ids.length;
    corr += correlation(r.pixels, reference) / ids.length;
  }
  assert.ok(mad < 22, `mean abs diff ${mad.toFixed(1)} should be < 22`);
  assert.ok(corr > 0.9, `correlation ${corr.toFixed(3)} should be > 0.9`);
});

test('a bright garment on a dark table is not negated', async () => {
  const original = imageAt(testSet, sample(1, 5)[0]);
  const frame = await synthesizeFrame(original, { table: 30, ink: 225, gradient: 10 });
  const r = await preprocessImage(frame);
  assert.equal(r.inverted, false);
  assert.ok(correlation(r.pixels, await recentre(original)) > 0.85);
  assert.equal((await preprocessImage(frame, { invert: 'always' })).inverted, true);
});

test('a transparent cut-out PNG is flattened onto a contrasting background', async () => {
  const original = imageAt(testSet, sample(1, 8)[0]);
  const size = 120;
  const alpha = await sharp(Buffer.from(original), { raw: { width: 28, height: 28, channels: 1 } }).resize(size, size).toColourspace('b-w').raw().toBuffer();
  const rgba = Buffer.alloc(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    rgba.set([40, 30, 30, alpha[i]], i * 4); // a dark garment; transparent pixels carry dark colour too
  }
  const png = await sharp(rgba, { raw: { width: size, height: size, channels: 4 } }).png().toBuffer();
  const r = await preprocessImage(png);
  assert.equal(r.inverted, true);
  assert.ok(correlation(r.pixels, await recentre(original)) > 0.9);
});

test('a large frame is shrunk first and gives the same garment', async () => {
  const original = imageAt(testSet, sample(1, 4)[0]);
  const frame = await synthesizeFrame(original, { width: 1280, height: 960, garmentSize: 560, noise: 10 });
  const r = await preprocessImage(frame);
  assert.ok(correlation(r.pixels, await recentre(original)) > 0.9);
});

test('an empty table gives an (almost) black image, not amplified noise, flagged no-garment', async () => {
  const r = await preprocessImage(await synthesizeFrame(new Uint8Array(784), { seed: 3, noise: 8 }));
  const mean = r.pixels.reduce((a, b) => a + b, 0) / r.pixels.length;
  assert.ok(mean < 3, `mean ${mean}`);
  assert.deepEqual(r.quality, { fill: 0, blobs: 0, issues: ['no-garment'] });
});

test('EXIF orientation is applied (a phone photo stored sideways comes out upright)', async () => {
  const original = imageAt(testSet, sample(1, 6)[0]);
  const upright = await synthesizeFrame(original, { seed: 2 });
  const sideways = await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer();
  assert.equal((await sharp(sideways).metadata()).orientation, 6);
  const a = await preprocessImage(upright);
  const b = await preprocessImage(sideways);
  assert.ok(correlation(a.pixels, b.pixels) > 0.95, `correlation ${correlation(a.pixels, b.pixels)}`);
});

test('odd but usable sizes give 784 pixels', async () => {
  for (const [w, h] of [[33, 17], [8, 8], [20, 190]] as const) {
    const img = new Uint8Array(w * h).map((_, i) => (i * 37) % 256);
    const r = await preprocessImage(await grayPng(img, w, h));
    assert.equal(r.pixels.length, 784);
  }
});

test('unusable frames (1x1, a strip, fully transparent) are refused with a reason code, not converted', async () => {
  const cases: [Buffer, string, RegExp][] = [
    [await grayPng(new Uint8Array([200]), 1, 1), 'frame-too-small', /^unusable frame: 1x1 pixels/],
    [await grayPng(new Uint8Array(7 * 40).fill(90), 7, 40), 'frame-too-small', /7x40 pixels \(at least 8x8 needed\)/],
    [await grayPng(new Uint8Array(3 * 500).fill(90), 3, 500), 'frame-extreme-aspect', /3x500 is a strip/],
    [await sharp({ create: { width: 1000, height: 60, channels: 3, background: '#888' } }).jpeg().toBuffer(), 'frame-extreme-aspect', /is a strip/],
    [await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 30, g: 30, b: 30, alpha: 0 } } }).png().toBuffer(), 'frame-transparent', /fully transparent/],
  ];
  for (const [input, code, message] of cases) {
    await assert.rejects(preprocessImage(input), (err: unknown) => {
      assert.ok(err instanceof UnusableFrameError, `${code}: ${String(err)}`);
      assert.equal(err.code, code);
      assert.match(err.message, message);
      assert.equal(unusableReason(err), code);
      return true;
    });
  }
  assert.equal(unusableReason(new Error('cannot decode image: x')), null);
});

test('a 16-bit RGB photo is classified like its 8-bit twin (16-bit is a valid image, not an error)', async () => {
  const original = imageAt(testSet, sample(1, 12)[0]);
  const jpeg = await synthesizeFrame(original, { seed: 5 });
  const png8 = await sharp(jpeg).png().toBuffer();
  const png16 = await sharp(jpeg).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(png16).metadata()).depth, 'ushort');
  const a = await preprocessImage(png8);
  const b = await preprocessImage(png16);
  assert.deepEqual(b.quality.issues, []);
  assert.ok(correlation(a.pixels, b.pixels) > 0.99, `correlation ${correlation(a.pixels, b.pixels)}`);
});

test('a region of interest selects the garment among other things on the table', async () => {
  const original = imageAt(testSet, sample(1, 9)[0]);
  const frame = await synthesizeFrame(original, { centerX: 0.3, centerY: 0.5, garmentSize: 120 });
  // A dark object at the right edge of the frame that the ROI must leave out.
  const cluttered = await sharp(frame).composite([{ input: { create: { width: 40, height: 200, channels: 3, background: '#111' } }, left: 270, top: 20 }]).jpeg().toBuffer();
  const whole = await preprocessImage(cluttered);
  const cropped = await preprocessImage(cluttered, { roi: { left: 10, top: 40, width: 200, height: 190 } });
  const reference = await recentre(original);
  assert.ok(correlation(cropped.pixels, reference) > 0.85);
  assert.deepEqual(cropped.quality.issues, []);
  // Without the ROI the detached object is left out of the trim too, but the frame is flagged.
  assert.ok(correlation(whole.pixels, reference) > 0.85);
  assert.deepEqual(whole.quality.issues, ['several-blobs']);
  await assert.rejects(preprocessImage(frame, { roi: { left: 300, top: 0, width: 100, height: 10 } }), /^Error: cannot decode image \(roi 300,0 100x10\): /);
});

test('empty, truncated and non-image input fail with the reason', async () => {
  const original = imageAt(testSet, sample(1, 2)[0]);
  const jpeg = await synthesizeFrame(original);
  await assert.rejects(preprocessImage(new Uint8Array(0)), /^Error: cannot decode image: input is empty \(0 bytes\)$/);
  await assert.rejects(preprocessImage(jpeg.subarray(0, jpeg.length >> 1)), /^Error: cannot decode image: .*premature end of JPEG/);
  await assert.rejects(preprocessImage(Buffer.from('not an image at all')), /^Error: cannot decode image: .*unsupported image format/);
});

test('toModelInput scales to 0..1', () => {
  assert.deepEqual(toModelInput(new Uint8Array([0, 51, 255])), Float32Array.from([0, 0.2, 1]));
});

/** k-nearest neighbours on raw pixels: a model-free stand-in for "does it still classify". */
function knnClassify(refs: ImageSet, refIds: number[], pixels: Uint8Array): number {
  const best: [number, number][] = [];
  for (const r of refIds) {
    const q = imageAt(refs, r);
    let d = 0;
    for (let j = 0; j < 784; j++) d += (pixels[j] - q[j]) ** 2;
    best.push([d, refs.labels[r]]);
  }
  best.sort((a, b) => a[0] - b[0]);
  const votes = new Array<number>(10).fill(0);
  for (const [, label] of best.slice(0, 5)) votes[label]++;
  return votes.indexOf(Math.max(...votes));
}

test('classification on synthetic camera frames is nearly as good as on the clean images', async () => {
  const refIds = Array.from({ length: 2000 }, (_, i) => (i * 30 + (i % 17)) % ds.train.count);
  let clean = 0;
  let camera = 0;
  const ids = sample(80, 21);
  for (const [k, idx] of ids.entries()) {
    const original = imageAt(testSet, idx);
    const label = testSet.labels[idx];
    const frame = await synthesizeFrame(original, { seed: 100 + k, centerX: 0.3 + 0.04 * (k % 10), centerY: 0.4 + 0.02 * (k % 10), garmentSize: 110 + 20 * (k % 5) });
    if (knnClassify(ds.train, refIds, original) === label) clean++;
    if (knnClassify(ds.train, refIds, (await preprocessImage(frame)).pixels) === label) camera++;
  }
  assert.ok(clean >= 55, `kNN sanity: ${clean}/80 clean images right`);
  assert.ok(camera >= clean - 6, `camera frames ${camera}/80 vs clean ${clean}/80`);
});
