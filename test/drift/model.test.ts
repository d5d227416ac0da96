import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Command } from 'commander';
import { loadDataset } from '../../training/data/load.ts';
import type { ImageSet } from '../../training/data/dataset.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { parseDriftReference, sidecarPath, type DriftReference } from '../../src/drift/profile.ts';
import type { FrameObservation } from '../../src/drift/monitor.ts';
import { registerDriftCommands } from '../../cli/drift.ts';
import { driftFixture, shuffledOrder, type DriftFixture } from './fixture.ts';
import { cleanFalseAlarms, detectionDelay, driftStreams, observeImages } from './evidence.ts';
import { captureStdout as capture } from '../helpers/capture-stdout.ts';

/**
 * The drift monitor on a real model (LeNet-5 trained in the fixture, exported with its profile)
 * and the real Fashion-MNIST test set: false alarms on clean replays, detection of corrupted,
 * out-of-distribution and label-shifted streams, the int8 profile, the replay command.
 */
let fx: DriftFixture;
let test10k: ImageSet;
let ref: DriftReference;
let clean: FrameObservation[];

before(async () => {
  process.env.EDGELOOM_LOG_LEVEL ??= 'silent';
  fx = await driftFixture();
  test10k = (await loadDataset({})).test;
  ({ ref, obs: clean } = await observeImages(fx.model, test10k.images));
});

test('export embeds a profile computed on the validation split, and writes the sidecar', async () => {
  const meta = parseModelMetadata(await readFile(fx.model), fx.model);
  const embedded = parseDriftReference(meta?.driftReference, fx.model);
  assert.equal(embedded.source.split, 'val');
  assert.equal(embedded.source.count, 2000, '25% of the 8,000-image training subset');
  assert.match(embedded.source.note, /validation split/);
  assert.deepEqual(parseDriftReference(JSON.parse(await readFile(sidecarPath(fx.model), 'utf8')), 'sidecar'), embedded);
  assert.equal(embedded.ood?.embeddingSize, 84);
  assert.ok(embedded.calibration.temperature > 0.2 && embedded.calibration.temperature < 5);
});

test('clean test-set replays: at most 1% of windows leave ok (tumbling 200, sliding 200/50)', () => {
  const tumbling = cleanFalseAlarms(ref, clean, 4, { windowSize: 200 });
  assert.equal(tumbling.windows, 200);
  assert.ok(tumbling.leftOk <= 2, `tumbling: ${tumbling.leftOk}/${tumbling.windows} windows left ok`);
  const sliding = cleanFalseAlarms(ref, clean, 1, { windowSize: 200, mode: 'sliding', stride: 50 });
  assert.ok(sliding.windows > 190);
  assert.ok(sliding.leftOk / sliding.windows <= 0.01, `sliding: ${sliding.leftOk}/${sliding.windows} windows left ok`);
});

test('blur, low contrast, rotation, occlusion, inversion, MNIST digits: alert within two windows; label shift: the class test fires', async () => {
  const streams = driftStreams(test10k, 400);
  for (const [name, images] of Object.entries(streams)) {
    const drifted = (await observeImages(fx.model, images)).obs;
    const d = detectionDelay(name, ref, clean, drifted, { windowSize: 200 });
    assert.ok(d.alertWindow !== null && d.alertWindow <= 2, `${name}: alert at window ${d.alertWindow}`);
    if (name.startsWith('label-shift')) assert.ok(d.reasons.some((r) => r.startsWith('chi2.classes')), `${name}: ${d.reasons.join('; ')}`);
  }
});

test('quantize gives the int8 model a profile of its own outputs on the same reference images', async () => {
  const { runQuantize } = await import('../../training/quantize/run.ts');
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-drift-q-'));
  try {
    const out = join(dir, 'model.int8.onnx');
    await runQuantize({ model: fx.model, out, calibrationSize: 128, checkSize: 0 });
    const meta = parseModelMetadata(await readFile(out), out);
    assert.ok(meta?.quantization);
    const q = parseDriftReference(meta?.driftReference, out);
    assert.deepEqual(q.source, ref.source);
    assert.deepEqual(q.images, ref.images, 'same reference images, same image statistics');
    assert.notDeepEqual(q.outputs.energy.quantiles, ref.outputs.energy.quantiles, 'int8 outputs, not the fp32 ones');
    assert.deepEqual(parseDriftReference(JSON.parse(await readFile(sidecarPath(out), 'utf8')), 'sidecar'), q);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});


test('`edgeloom drift --source dir:` replays PNG frames through preprocessing and prints JSON window reports', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-drift-cli-'));
  try {
    const frames = join(dir, 'frames');
    await mkdir(frames);
    const order = shuffledOrder(test10k.count, 21).slice(0, 300);
    for (let i = 0; i < order.length; i++) {
      let px = test10k.images.subarray(order[i] * 784, (order[i] + 1) * 784);
      if (i >= 200) px = px.map((v) => 255 - v);
      await writeFile(join(frames, `${String(i).padStart(4, '0')}.png`), await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer());
    }
    const program = new Command('edgeloom').exitOverride();
    registerDriftCommands(program);
    const out = await capture(async () => {
      await program.parseAsync(['node', 'edgeloom', 'drift', '--model', fx.model, '--source', `dir:${frames}`, '--window', '100', '--invert', 'never', '--json']);
    });
    const r = JSON.parse(out) as { frames: number; windows: { status: string; window: { first: number; last: number }; reasons: string[] }[]; worst: string };
    assert.equal(r.frames, 300);
    assert.deepEqual(r.windows.map((w) => [w.window.first, w.window.last]), [[1, 100], [101, 200], [201, 300]]);
    assert.deepEqual(r.windows.map((w) => w.status), ['ok', 'ok', 'alert']);
    assert.ok(r.windows[2].reasons.length > 0);
    assert.equal(r.worst, 'alert');
    assert.ok(!existsSync(join(dir, 'model.onnx')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
