import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCalibrationModel, calibrate, collectStats } from '../../training/quantize/calibrate.ts';
import { TensorStats, calibratedRange } from '../../training/quantize/histogram.ts';
import { tensorFloats, type TensorProto } from '../../src/onnx/proto.ts';
import { createRng } from '../../src/random.ts';
import { tinyImages, tinyModel, tinyModelProto, TINY_CONV_FILTERS, TINY_EMBEDDING } from './tiny.ts';
import { runOnce as run } from '../helpers/onnx-run.ts';

/**
 * Calibration on the tiny hand-written model: what the probe model exposes, and the ranges over
 * several batches, checked against the float model's own outputs and a Conv computed here.
 */

/** The tiny model's first Conv (3x3, no padding) + ReLU on one image, in plain JS. */
function convRelu(image: Float32Array): Float32Array {
  const inits = new Map((tinyModelProto().graph!.initializer as TensorProto[]).map((t) => [t.name!, tensorFloats(t)]));
  const w = inits.get('conv/w')!;
  const b = inits.get('conv/b')!;
  const out = new Float32Array(TINY_CONV_FILTERS * 26 * 26);
  for (let f = 0; f < TINY_CONV_FILTERS; f++) {
    for (let y = 0; y < 26; y++) for (let x = 0; x < 26; x++) {
      let s = b[f];
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) s += w[f * 9 + ky * 3 + kx] * image[(y + ky) * 28 + x + kx];
      out[f * 676 + y * 26 + x] = Math.max(0, s);
    }
  }
  return out;
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test('buildCalibrationModel: `embedding` carries each tensor\'s size, then the tensors flattened; logits unchanged', async () => {
  const fp32 = tinyModel();
  const x = tinyImages(2);
  const ref = await run(fp32, x, 2);
  const tensors = ['input', 'embedding', 'logits', 'conv/act'];
  const probe = await run(buildCalibrationModel(fp32, tensors), x, 2);
  const sizes = [784, TINY_EMBEDDING, 10, TINY_CONV_FILTERS * 676];
  const width = 4 + sizes.reduce((a, b) => a + b);
  assert.equal(probe.embeddingSize, width);
  close(probe.logits, ref.logits, 1e-6, 'logits');
  for (let r = 0; r < 2; r++) {
    const row = probe.embedding!.subarray(r * width, (r + 1) * width);
    assert.deepEqual(Array.from(row.subarray(0, 4)), sizes);
    let off = 4;
    const parts = sizes.map((s) => {
      const p = row.subarray(off, off + s);
      off += s;
      return p;
    });
    close(parts[0], x.subarray(r * 784, (r + 1) * 784), 0, 'input');
    close(parts[1], ref.embedding!.subarray(r * TINY_EMBEDDING, (r + 1) * TINY_EMBEDDING), 1e-6, 'the original embedding');
    close(parts[2], ref.logits.subarray(r * 10, (r + 1) * 10), 1e-6, 'logits');
    close(parts[3], convRelu(x.subarray(r * 784, (r + 1) * 784)), 1e-5, 'conv + relu');
  }
});

/** 5 images; the darkest (exactly 0) and brightest (exactly 1) pixels are in the last one. */
function fiveImages(): Float32Array {
  const x = tinyImages(5, 8).map((v) => 0.02 + v * 0.96);
  x[4 * 784 + 3] = 0;
  x[4 * 784 + 400] = 1;
  return x;
}

test('calibrate (minmax) over several batches: the ranges are the extremes of every image, the last batch included', async () => {
  const fp32 = tinyModel();
  const x = fiveImages();
  const ref = await run(fp32, x, 5);
  const min = (a: Float32Array) => a.reduce((m, v) => Math.min(m, v), Infinity);
  const max = (a: Float32Array) => a.reduce((m, v) => Math.max(m, v), -Infinity);
  const ranges = await calibrate(fp32, ['input', 'logits', 'embedding'], x, { method: 'minmax', percentile: 99, batchSize: 2 });
  assert.deepEqual([...ranges.keys()], ['input', 'logits', 'embedding']);
  assert.deepEqual(ranges.get('input'), [0, 1]);
  assert.deepEqual(ranges.get('logits'), [min(ref.logits), max(ref.logits)]);
  assert.deepEqual(ranges.get('embedding'), [min(ref.embedding!), max(ref.embedding!)]);
  // The same with the default batch size (one batch of 5).
  assert.deepEqual(await calibrate(fp32, ['input', 'logits', 'embedding'], x, { method: 'minmax', percentile: 99 }), ranges);
});

test('collectStats and calibrate (percentile, entropy): histograms of every image, row by row', async () => {
  const fp32 = tinyModel();
  const x = fiveImages();
  const ref = await run(fp32, x, 5);
  const expected = new TensorStats();
  for (let r = 0; r < 5; r++) expected.add(ref.logits.subarray(r * 10, (r + 1) * 10), true);
  const stats = await collectStats(fp32, ['logits'], x, 'entropy', 3);
  assert.equal(stats.get('logits')!.count, 50);
  assert.deepEqual(stats.get('logits'), expected);
  const p = await calibrate(fp32, ['logits'], x, { method: 'percentile', percentile: 60, batchSize: 3 });
  assert.deepEqual(p.get('logits'), calibratedRange(expected, 'percentile', 60));
  assert.ok(p.get('logits')![1] < expected.max, 'the 60th percentile clips the top');
  // The cpu target asks for uint8 levels: a non-negative tensor gets 256 of them for entropy. On
  // pixels with a long tail (u^12) the clip differs between 256 and 128 levels.
  const rng = createRng(6);
  const tail = Float32Array.from({ length: 5 * 784 }, () => rng() ** 12);
  const pixels = new TensorStats();
  for (let r = 0; r < 5; r++) pixels.add(tail.subarray(r * 784, (r + 1) * 784), true);
  const asym = await calibrate(fp32, ['input'], tail, { method: 'entropy', percentile: 99, asymmetric: true });
  const sym = await calibrate(fp32, ['input'], tail, { method: 'entropy', percentile: 99 });
  assert.deepEqual(asym.get('input'), calibratedRange(pixels, 'entropy', 99, true));
  assert.deepEqual(sym.get('input'), calibratedRange(pixels, 'entropy', 99, false));
  assert.notDeepEqual(asym.get('input'), sym.get('input'));
});
