/** The sharp side of preprocessing (src/preprocess.ts) on small images made here: decode, crop, shrink, and why a decode failed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { DECODE_LIMIT, decodeFrame, FrameDecodeError, frameErrorReason, MAX_INPUT_PIXELS, preprocessImage, toModelInput, UnusableFrameError, unusableReason } from '../../src/preprocess.ts';
import { pngHeader } from '../helpers/png-header.ts';

/** A 40x30 RGB image: left half red, right half blue, the bottom 10 rows green. */
function quadrants(): Promise<Buffer> {
  const data = Buffer.alloc(40 * 30 * 3);
  for (let y = 0; y < 30; y++) {
    for (let x = 0; x < 40; x++) data.set(y >= 20 ? [0, 255, 0] : x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
  }
  return sharp(data, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
}

async function failure(p: Promise<unknown>): Promise<FrameDecodeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof FrameDecodeError, String(err));
    assert.equal(err.name, 'Error', 'people read the message; stats count the code');
    assert.ok(!err.message.includes('\n'), err.message);
    return err;
  }
  assert.fail('decoded');
}

test('decodeFrame: 8-bit sRGB samples with their channel count, whatever the file holds', async () => {
  const rgb = await decodeFrame(await quadrants());
  assert.deepEqual([rgb.width, rgb.height, rgb.channels, rgb.data.length], [40, 30, 3, 3600]);
  assert.deepEqual([...rgb.data.subarray(0, 3)], [255, 0, 0]);
  assert.deepEqual([...rgb.data.subarray((29 * 40 + 39) * 3)], [0, 255, 0]);
  // A 16-bit grey PNG: three equal 8-bit samples per pixel, the values it encodes.
  const grey16 = await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const g = await decodeFrame(grey16);
  assert.equal(g.channels, 3);
  assert.deepEqual([...g.data].filter((_, i) => i % 3 === 0), [0, 100, 200, 255]);
  // Alpha is kept for the conversion to flatten.
  const rgba = await decodeFrame(await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer());
  assert.equal(rgba.channels, 4);
  assert.equal(rgba.data[3], 128);
});

test('decodeFrame: the ROI is cut from the upright frame; frames over DECODE_LIMIT are shrunk to fit, smaller ones kept', async () => {
  const roi = await decodeFrame(await quadrants(), { left: 15, top: 15, width: 10, height: 10 });
  assert.deepEqual([roi.width, roi.height], [10, 10]);
  const at = (x: number, y: number) => [...roi.data.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3)];
  assert.deepEqual([at(0, 0), at(9, 0), at(0, 9)], [[255, 0, 0], [0, 0, 255], [0, 255, 0]]);
  // EXIF orientation 6 (a phone held upright): 40x30 pixels stored, 30x40 shown.
  const sideways = await sharp(await quadrants()).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const upright = await decodeFrame(sideways);
  assert.deepEqual([upright.width, upright.height], [30, 40]);
  assert.equal(DECODE_LIMIT, 640);
  const big = await sharp({ create: { width: 1280, height: 720, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  assert.deepEqual(await decodeFrame(big).then((f) => [f.width, f.height]), [640, 360]);
  const tall = await sharp({ create: { width: 300, height: 1000, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.deepEqual(await decodeFrame(tall).then((f) => [f.width, f.height]), [192, 640]);
  const small = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.deepEqual(await decodeFrame(small).then((f) => [f.width, f.height]), [600, 400]);
});

test('decode failures carry their reason as a code: empty, undecodable, too large, ROI outside the frame', async () => {
  const empty = await failure(decodeFrame(new Uint8Array(0)));
  assert.deepEqual([empty.code, empty.message], ['empty-frame', 'cannot decode image: input is empty (0 bytes)']);
  const junk = await failure(decodeFrame(Buffer.from('not an image at all')));
  assert.equal(junk.code, 'undecodable');
  assert.match(junk.message, /^cannot decode image: \S/);
  const png = await quadrants();
  assert.equal((await failure(decodeFrame(png.subarray(0, png.length >> 1)))).code, 'undecodable', 'a truncated file');
  assert.equal(MAX_INPUT_PIXELS, 16383 * 16383);
  assert.equal((await failure(decodeFrame(pngHeader(20000, 20000)))).code, 'frame-too-large');
  assert.equal((await failure(decodeFrame(pngHeader(16384, 16384)))).code, 'frame-too-large');
  const outside = await failure(decodeFrame(png, { left: 30, top: 0, width: 20, height: 10 }));
  assert.equal(outside.code, 'roi-outside-frame');
  assert.match(outside.message, /^cannot decode image \(roi 30,0 20x10\): \S/);
  for (const roi of [{ left: 0, top: 25, width: 10, height: 10 }, { left: -1, top: 0, width: 10, height: 10 }, { left: 0, top: -1, width: 10, height: 10 }]) {
    assert.equal((await failure(decodeFrame(png, roi))).code, 'roi-outside-frame', JSON.stringify(roi));
  }
  // Against the upright frame: 30 wide and 40 high once turned.
  const sideways = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  assert.equal((await decodeFrame(sideways, { left: 0, top: 32, width: 30, height: 8 })).height, 8);
  assert.equal((await failure(decodeFrame(sideways, { left: 32, top: 0, width: 8, height: 8 }))).code, 'roi-outside-frame');
  // A header that reads but whose data does not decode, with an ROI inside it: undecodable.
  assert.equal((await failure(decodeFrame(png.subarray(0, png.length >> 1), { left: 0, top: 0, width: 10, height: 10 }))).code, 'undecodable');
});

test('frame error reasons: the decoder\'s and the conversion\'s codes, null for anything else', () => {
  const unusable = new UnusableFrameError('frame-too-small', 'x');
  assert.equal(unusableReason(unusable), 'frame-too-small');
  assert.equal(unusableReason(new FrameDecodeError('undecodable', 'x')), null);
  assert.equal(unusableReason(new Error('frame-too-small')), null);
  assert.equal(frameErrorReason(new FrameDecodeError('frame-too-large', 'x')), 'frame-too-large');
  assert.equal(frameErrorReason(unusable), 'frame-too-small');
  assert.equal(frameErrorReason(new Error('cannot decode image')), null);
  assert.equal(frameErrorReason('a thrown string'), null);
});

test('preprocessImage: decode then convert, with timings; invert defaults to auto', async () => {
  const img = Buffer.alloc(28 * 28);
  for (let i = 300; i < 500; i++) img[i] = 180;
  const png = await sharp(img, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
  const r = await preprocessImage(png);
  assert.deepEqual([...r.pixels], [...img], 'a 28x28 image passes through');
  assert.equal(r.inverted, false);
  assert.deepEqual(r.quality, { fill: Math.round((200 / 784) * 1000) / 1000, blobs: 1, issues: [] });
  assert.ok(r.decodeMs > 0 && r.preprocessMs > 0 && r.decodeMs < 60_000 && r.preprocessMs < 60_000, `${r.decodeMs} ${r.preprocessMs}`);
  const forced = await preprocessImage(png, { invert: 'always' });
  assert.deepEqual([...forced.pixels], [...img].map((v) => 255 - v));
  // The ROI is applied before converting: a 28x28 region of a larger frame passes through too.
  const frame = await sharp({ create: { width: 60, height: 50, channels: 3, background: '#000000' } }).composite([{ input: png, left: 20, top: 10 }]).png().toBuffer();
  assert.deepEqual([...(await preprocessImage(frame, { roi: { left: 20, top: 10, width: 28, height: 28 } })).pixels], [...img]);
  await assert.rejects(preprocessImage(await sharp({ create: { width: 5, height: 5, channels: 3, background: '#000' } }).png().toBuffer()),
    (e: Error) => e instanceof UnusableFrameError && e.code === 'frame-too-small');
  assert.deepEqual([...toModelInput(Uint8Array.of(0, 255, 51, 102))], [0, 1, 0.2, 0.4].map(Math.fround));
});
