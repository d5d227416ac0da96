/**
 * The trim ignores detached blobs, and the quality report flags frames whose trim box looks wrong:
 * synthetic frames on a textured table through sharp, labelled by the shipped default model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { MIN_FILL } from '../../src/preprocess/convert.ts';
import { imageAt } from '../../training/data/dataset.ts';
import { argmaxRows } from '../../training/eval/metrics.ts';
import { loadTestSet } from '../../training/eval/evaluate.ts';
import { DEFAULT_MODEL } from './accuracy.ts';
import { correlation, synthesizeFrame, type SynthFrameOptions } from './synth.ts';

const sample = await loadTestSet(20, 4);
const session = await createOnnxSession(await readFile(DEFAULT_MODEL), { ep: 'cpu', intraOpThreads: 1 });
test.after(() => session.close());

async function classify(images: Uint8Array[]): Promise<Int32Array> {
  const batch = new Uint8Array(images.length * IMAGE_PIXELS);
  images.forEach((p, i) => batch.set(p, i * IMAGE_PIXELS));
  return argmaxRows((await session.run(toModelInput(batch), images.length)).logits, 10);
}

/** A wood-grain table, the garment on the left third of a 320x240 frame. */
const onTable = (i: number): SynthFrameOptions => ({ seed: i, texture: 8, centerX: 0.35, garmentSize: 140 });
/** A dark stain (or a phone, a shadow) in the far corner, detached from the garment. */
const DARK_PATCH = { left: 262, top: 24, width: 36, height: 30, level: 45 };

test('a detached dark patch on a textured table no longer shrinks the garment, and the default model labels it as without', async () => {
  const plain = [];
  const patched = [];
  for (let i = 0; i < sample.count; i++) {
    const garment = imageAt(sample, i);
    const a = await preprocessImage(await synthesizeFrame(garment, onTable(i)));
    const b = await preprocessImage(await synthesizeFrame(garment, { ...onTable(i), patches: [DARK_PATCH] }));
    assert.deepEqual(a.quality.issues, [], `garment ${i} without the patch`);
    // The garment fills the 28x28 image as it does without the patch (trimmed to the garment alone).
    assert.ok(Math.abs(a.quality.fill - b.quality.fill) < 0.02, `garment ${i}: fill ${b.quality.fill} with the patch, ${a.quality.fill} without`);
    assert.ok(correlation(a.pixels, b.pixels) > 0.98, `garment ${i}: correlation ${correlation(a.pixels, b.pixels)}`);
    // ...and the frame says something else is on the table.
    assert.deepEqual(b.quality.issues, ['several-blobs'], `garment ${i}`);
    assert.equal(b.quality.blobs, 2);
    plain.push(a.pixels);
    patched.push(b.pixels);
  }
  const withoutPatch = await classify(plain);
  const withPatch = await classify(patched);
  const right = (p: Int32Array) => p.reduce((n, c, i) => n + (c === sample.labels[i] ? 1 : 0), 0);
  assert.deepEqual(withPatch, withoutPatch);
  assert.ok(right(withPatch) >= 17, `default model: ${right(withPatch)}/20 right with the patch`);
});

test('a garment inside a box spanned by a tray outline or a shadow bar is flagged small-garment', async () => {
  const tray = [
    { left: 10, top: 10, width: 300, height: 3, level: 40 },
    { left: 10, top: 227, width: 300, height: 3, level: 40 },
    { left: 10, top: 10, width: 3, height: 220, level: 40 },
    { left: 307, top: 10, width: 3, height: 220, level: 40 },
  ];
  for (let i = 0; i < 4; i++) {
    const garment = imageAt(sample, i);
    const inTray = await preprocessImage(await synthesizeFrame(garment, { seed: i, texture: 8, garmentSize: 60, centerX: 0.5, centerY: 0.5, patches: tray }));
    const withBar = await preprocessImage(await synthesizeFrame(garment,
      { seed: i, texture: 8, garmentSize: 60, centerX: 0.2, centerY: 0.5, patches: [{ left: 60, top: 118, width: 250, height: 5, level: 40 }] }));
    for (const r of [inTray, withBar]) {
      assert.ok(r.quality.fill < MIN_FILL, `garment ${i}: fill ${r.quality.fill}`);
      assert.ok(r.quality.issues.includes('small-garment'), `garment ${i}: ${r.quality.issues.join(',')}`);
    }
    // The same small garment alone on the table fills the image and is not flagged.
    const alone = await preprocessImage(await synthesizeFrame(garment, { seed: i, texture: 8, garmentSize: 60, centerX: 0.5, centerY: 0.5 }));
    assert.deepEqual(alone.quality.issues, [], `garment ${i} alone: fill ${alone.quality.fill}`);
  }
});
