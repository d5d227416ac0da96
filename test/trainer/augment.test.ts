import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../src/random.ts';
import { UserError } from '../../src/errors.ts';
import { augmentImage, batchPixels, eraseRandom, flipHorizontal, NO_AUGMENT, parseAugment } from '../../training/trainer/augment.ts';
import { inverseAffine, warpImage } from '../../training/data/warp.ts';

const N = 28;
function dot(x: number, y: number): Float32Array {
  const img = new Float32Array(N * N);
  img[y * N + x] = 1;
  return img;
}
const argmax = (a: Float32Array) => a.indexOf(Math.max(...a));
const ramp = Float32Array.from({ length: N * N }, (_, i) => (i % N) / N);

test('identity warp returns the image unchanged', () => {
  const out = warpImage(ramp, inverseAffine(0, 0, 1, 0, 0));
  for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i] - ramp[i]) < 1e-6);
});

test('a shift of (2, -3) pixels moves a dot by (2, -3)', () => {
  const out = warpImage(dot(10, 10), inverseAffine(0, 0, 1, 2, -3));
  assert.equal(argmax(out), 7 * N + 12);
  assert.ok(Math.abs(out[7 * N + 12] - 1) < 1e-6);
});

test('a 90 degree rotation turns a dot about the centre (13.5, 13.5)', () => {
  // dot right of centre at (20, 13.5 -> row 13/14); rotate +90deg (y down): (dx,dy)=(6.5,0) -> (0,6.5)
  const img = dot(20, 13);
  const out = warpImage(img, inverseAffine(Math.PI / 2, 0, 1, 0, 0));
  // (20,13): dx=6.5, dy=-0.5 -> x' = 13.5 - (-0.5)*1 = 14, y' = 13.5 + 6.5 = 20
  assert.equal(argmax(out), 20 * N + 14);
});

test('zoom 2 doubles the distance of a dot from the centre; outside reads as 0', () => {
  const out = warpImage(dot(17, 13), inverseAffine(0, 0, 2, 0, 0));
  const i = argmax(out);
  assert.ok(Math.abs((i % N) - 20.5) <= 1, `x ${i % N}`);
  const far = warpImage(ramp, inverseAffine(0, 0, 1, 40, 0));
  assert.ok(far.every((v) => v === 0));
});

test('horizontal flip mirrors columns and twice is the identity', () => {
  const f = flipHorizontal(dot(3, 5));
  assert.equal(argmax(f), 5 * N + 24);
  assert.deepEqual(flipHorizontal(flipHorizontal(ramp)), ramp);
});

test('random erasing fills one rectangle, deterministic with the seed', () => {
  const a = eraseRandom(new Float32Array(N * N), createRng(3));
  const b = eraseRandom(new Float32Array(N * N), createRng(3));
  assert.deepEqual(a, b);
  const changed: number[] = [];
  a.forEach((v, i) => v !== 0 && changed.push(i));
  assert.ok(changed.length >= 0.02 * N * N * 0.5 && changed.length <= 0.34 * N * N, `${changed.length} pixels`);
  const xs = changed.map((i) => i % N), ys = changed.map((i) => Math.floor(i / N));
  const w = Math.max(...xs) - Math.min(...xs) + 1, h = Math.max(...ys) - Math.min(...ys) + 1;
  assert.ok(changed.length > 0.8 * w * h, 'erased pixels form one filled rectangle');
});

test('presets combine; unknown names are a UserError', () => {
  assert.deepEqual(parseAugment('none'), NO_AUGMENT);
  const c = parseAugment('safaei,flip');
  assert.equal(c.rotation, 10);
  assert.equal(c.zoom, 0.1);
  assert.equal(c.hflip, 0.5);
  assert.equal(c.erase, 0);
  assert.throws(() => parseAugment('safaei,mixup'), UserError);
});

test('augmentImage does not modify its input and is reproducible', () => {
  const src = Float32Array.from(ramp);
  const cfg = parseAugment('safaei,flip,erase');
  const a = augmentImage(src, cfg, createRng(11));
  const b = augmentImage(src, cfg, createRng(11));
  assert.deepEqual(src, ramp);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, src);
});

test('batchPixels scales by 1/255 without augmentation', () => {
  const images = Uint8Array.from({ length: 2 * N * N }, (_, i) => i % 256);
  const out = batchPixels(images, [1], null, Math.random);
  assert.equal(out.length, N * N);
  assert.ok(Math.abs(out[0] - (N * N % 256) / 255) < 1e-7);
});

test('--augment takes setting=value items after the presets; bad ones are one-line errors naming the setting', () => {
  const c = parseAugment('robust,corruption=0.3');
  assert.equal(c.corruption, 0.3);
  assert.equal(c.hflip, 0.5, 'the rest of the preset stays');
  assert.equal(parseAugment('rotation=20,safaei').rotation, 20, 'an override wins wherever it stands');
  assert.equal(parseAugment('erase=0').erase, 0);
  assert.throws(() => parseAugment('robust,corrupt=0.3'), (e: Error) => e instanceof UserError && /unknown setting "corrupt"/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => parseAugment('hflip=2'), /hflip must be a number from 0 to 1, got "2"/);
  assert.throws(() => parseAugment('rotation=abc'), /rotation must be a number/);
});
