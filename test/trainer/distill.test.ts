import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_CLASSES, IMAGE_PIXELS } from '../../src/classes.ts';
import { createRng } from '../../src/random.ts';
import { batchPixels, flipHorizontal, parseAugment } from '../../training/trainer/augment.ts';
import { distillTargets } from '../../training/trainer/distill.ts';
import { saveTfjsModel } from '../../training/model/io.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';

test('distillTargets: (1 - w) one-hot + w softmax(z / T), rows summing to 1, stable for large logits', () => {
  const z = Float32Array.from([2, 0, -1, 1000, 1000, 990]);
  const t = distillTargets(z, [1, 2], 3, 0.4, 2);
  const e = [Math.exp(1), Math.exp(0), Math.exp(-0.5)];
  const s = e[0] + e[1] + e[2];
  assert.ok(Math.abs(t[0] - 0.4 * e[0] / s) < 1e-6);
  assert.ok(Math.abs(t[1] - (0.6 + 0.4 * e[1] / s)) < 1e-6);
  assert.ok(Math.abs(t[2] - 0.4 * e[2] / s) < 1e-6);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(t[i * 3] + t[i * 3 + 1] + t[i * 3 + 2] - 1) < 1e-6);
  assert.ok(t.every(Number.isFinite));
  // Equal large logits share the teacher's part; weight 1 ignores the label.
  assert.ok(Math.abs(t[3] - t[4]) < 1e-7);
  const only = distillTargets(Float32Array.from([0, Math.log(3)]), [0], 2, 1, 1);
  assert.deepEqual(Array.from(only, (v) => +v.toFixed(6)), [0.25, 0.75]);
  assert.throws(() => distillTargets(new Float32Array(5), [0, 1], 3, 0.5, 1), /5 logits for 2 x 3/);
});

test('batchPixels with a clean view: same flips and erasures as the corrupted view, without the corruption', () => {
  const rng = createRng(9);
  const images = Uint8Array.from({ length: 12 * IMAGE_PIXELS }, () => Math.floor(rng() * 256));
  const idx = Array.from({ length: 12 }, (_, i) => i);
  const invert = (img: Uint8Array) => Uint8Array.from(img, (v) => 255 - v);
  const clean = new Float32Array(12 * IMAGE_PIXELS);
  const out = batchPixels(images, idx, parseAugment('flip,erase'), createRng(3), invert, clean);
  let flipped = 0;
  let erasedPixels = 0;
  for (let i = 0; i < 12; i++) {
    const raw = Float32Array.from(images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), (v) => v / 255);
    const c = clean.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    const o = out.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    const mirrored = flipHorizontal(raw);
    const base = c.filter((v, p) => Math.abs(v - mirrored[p]) < 1e-6).length > c.filter((v, p) => Math.abs(v - raw[p]) < 1e-6).length ? mirrored : raw;
    if (base === mirrored) flipped++;
    for (let p = 0; p < IMAGE_PIXELS; p++) {
      if (Math.abs(c[p] - base[p]) < 1e-6) {
        assert.ok(Math.abs(o[p] - (1 - base[p])) < 1e-6, `image ${i} pixel ${p}: the corrupted view is the inverted clean one`);
      } else {
        erasedPixels++;
        assert.equal(o[p], c[p], `image ${i} pixel ${p}: the same erasure noise in both views`);
      }
    }
  }
  assert.ok(flipped > 0 && flipped < 12, `both flipped and unflipped images (${flipped}/12)`);
  assert.ok(erasedPixels > 0, 'some erasures');
  // Without a clean view the stream and the output are what they always were.
  assert.deepEqual(batchPixels(images, idx, parseAugment('flip'), createRng(3), invert), batchPixels(images, idx, parseAugment('flip'), createRng(3), invert));
});

/** A tfjs model that always predicts `cls`, saved as an edgeloom model directory. */
async function constantTeacher(dir: string, cls: number, classNames: readonly string[] = FASHION_MNIST_CLASSES): Promise<void> {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: classNames.length, kernelInitializer: 'zeros' })] });
  const bias = new Float32Array(classNames.length);
  bias[cls] = 30;
  model.layers[1].setWeights([model.layers[1].getWeights()[0], tf.tensor1d(bias)]);
  await saveTfjsModel(model, dir, { arch: 'constant', classNames: [...classNames] });
  model.dispose();
}

test('train --distill: the student learns the teacher\'s targets; the recipe records the teacher; bad flags are one line', async () => {
  const teacher = await mkdtemp(join(tmpdir(), 'el-teacher-'));
  const out = await mkdtemp(join(tmpdir(), 'el-student-'));
  try {
    await constantTeacher(teacher, 3);
    // Weight 1: the labels play no part, so a student that follows its teacher predicts "Dress".
    const r = await edgeloom(['train', '--arch', 'mlp', '--epochs', '1', '--limit', '500', '--batch-size', '50', '--optimizer', 'adam', '--lr', '0.003',
      '--distill', teacher, '--distill-weight', '1', '--distill-temperature', '1', '--no-onnx', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /distilling from .* \(weight 1, temperature 1\)/);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    assert.deepEqual(report.config.distill, { teacher, weight: 1, temperature: 1 });
    assert.match(await readFile(join(out, 'report.md'), 'utf8'), /distilled from .* \(weight 1, temperature 1\)/);
    const confusion = report.test.confusion as number[][];
    const predictedDress = confusion.reduce((acc, row) => acc + row[3], 0);
    assert.ok(predictedDress > 0.9 * report.test.count, `${predictedDress} of ${report.test.count} predicted as the teacher's class`);

    const cases: Array<[string[], RegExp]> = [
      [['--distill-weight', '0.5'], /^edgeloom: --distill-weight: needs --distill DIR/m],
      [['--distill', teacher, '--distill-weight', '1.5'], /^edgeloom: --distill-weight: expected 0 < weight <= 1, got 1.5$/m],
      [['--distill', teacher, '--distill-temperature', '0'], /^edgeloom: --distill-temperature: expected a positive number, got 0$/m],
      [['--distill', join(teacher, 'nope')], /^edgeloom: --distill .*nope: .*model\.json: not found/m],
    ];
    for (const [flags, message] of cases) {
      const bad = await edgeloom(['train', '--arch', 'mlp', '--epochs', '1', '--limit', '100', '--no-onnx', '--out', join(out, 'bad'), ...flags]);
      assert.equal(bad.code, 1, flags.join(' '));
      assert.match(bad.stderr, message);
    }
    const other = await mkdtemp(join(tmpdir(), 'el-teacher-'));
    await constantTeacher(other, 0, ['a', 'b']);
    const wrong = await edgeloom(['train', '--arch', 'mlp', '--epochs', '1', '--limit', '100', '--no-onnx', '--out', join(out, 'bad'), '--distill', other]);
    assert.match(wrong.stderr, /^edgeloom: --distill .*: its classes \(a, b\) differ from the data set's$/m);
    await rm(other, { recursive: true, force: true });
  } finally {
    await rm(teacher, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  }
});
