/**
 * Edges of src/preprocess.ts that decode-units.test.ts left open (the mutation run's survivors,
 * docs/testing.md): invert's default on a photo, the timings, and a failed decode's reason at the
 * exact limits (the pixel limit itself, an ROI touching the frame's edges, a frame stored portrait
 * and shown landscape).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeFrame, FrameDecodeError, MAX_INPUT_PIXELS, preprocessImage } from '../../src/preprocess.ts';
import { pngHeader } from '../helpers/png-header.ts';

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FrameDecodeError, String(err));
    return err.code;
  }
  assert.fail('decoded');
}

/** A 40x30 grey PNG. */
const png = () => sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toBuffer();

test('preprocessImage: invert defaults to auto, so a dark garment on a light table is negated; timings are parts of the call', async () => {
  const table = Buffer.alloc(160 * 120, 200);
  for (let y = 30; y < 90; y++) table.fill(40, y * 160 + 50, y * 160 + 110);
  const photo = await sharp(table, { raw: { width: 160, height: 120, channels: 1 } }).png().toBuffer();
  const before = performance.now();
  const r = await preprocessImage(photo);
  const elapsed = performance.now() - before;
  assert.equal(r.inverted, true);
  assert.ok(r.pixels[14 * 28 + 14] >= 200, `${r.pixels[14 * 28 + 14]}`);
  assert.ok(r.decodeMs > 0 && r.preprocessMs > 0 && r.decodeMs + r.preprocessMs <= elapsed, `${r.decodeMs} + ${r.preprocessMs} of ${elapsed} ms`);
  assert.equal((await preprocessImage(photo, { invert: 'never' })).inverted, false);
});

test('a failed decode at the limits: exactly the pixel limit is not too large; an ROI touching the edges is inside', async () => {
  assert.equal(MAX_INPUT_PIXELS, 16383 * 16383);
  // A header alone (no pixel data): allowed by size, so the data is what fails.
  assert.equal(await reason(decodeFrame(pngHeader(16383, 16383))), 'undecodable');
  const whole = await png();
  const truncated = whole.subarray(0, whole.length >> 1);
  assert.equal(await reason(decodeFrame(truncated, { left: 30, top: 20, width: 10, height: 10 })), 'undecodable', 'the bottom-right corner');
  assert.equal(await reason(decodeFrame(truncated, { left: 0, top: 0, width: 40, height: 30 })), 'undecodable', 'the whole frame');
});

test('an ROI is checked against the upright frame: stored 30x40, shown 40x30 by its EXIF orientation', async () => {
  const portrait = await sharp({ create: { width: 30, height: 40, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  assert.deepEqual(await decodeFrame(portrait).then((f) => [f.width, f.height]), [40, 30]);
  // 25 + 10 rows: inside the 40 stored rows, outside the 30 shown ones.
  assert.equal(await reason(decodeFrame(portrait, { left: 0, top: 25, width: 10, height: 10 })), 'roi-outside-frame');
  // 25 + 10 columns: outside the 30 stored columns, inside the 40 shown ones.
  assert.deepEqual(await decodeFrame(portrait, { left: 25, top: 0, width: 10, height: 10 }).then((f) => [f.width, f.height]), [10, 10]);
});
