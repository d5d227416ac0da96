import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../training/backend/index.ts';
import { DataParallelGradients } from '../../training/backend/parallel/index.ts';
import { getArchitecture } from '../../training/arch/index.ts';
import { createRng } from '../../src/random.ts';
import { trainStep, trainableVariables } from '../../training/trainer/loop.ts';
import { parallelTrainStep } from '../../training/trainer/parallel-step.ts';
import { distillTargets } from '../../training/trainer/distill.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { UserError } from '../../src/errors.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';



before(async () => {
  await selectBackend('wasm');
});

function batch(n: number, seed: number): { pixels: Float32Array; labels: Int32Array } {
  const rng = createRng(seed);
  const pixels = Float32Array.from({ length: n * 784 }, () => rng());
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  return { pixels, labels };
}

test('--workers is validated; a parallel SGD step equals the single-thread step (no BN/dropout)', async () => {
  assert.throws(() => resolveConfig({ arch: 'lenet5', workers: 0 }), (e: unknown) => e instanceof UserError && /^--workers: expected an integer from 1 to 64/.test(e.message));
  assert.equal(resolveConfig({ arch: 'lenet5' }).workers, 1);

  const build = () => getArchitecture('lenet5').build({ seed: 3, numClasses: 10 });
  const single = build();
  const multi = build();
  const { pixels, labels } = batch(24, 5);
  const optA = tf.train.sgd(0.1);
  const optB = tf.train.sgd(0.1);
  const parallel = await DataParallelGradients.start(multi, { arch: 'lenet5', seed: 3, numClasses: 10, labelSmoothing: 0 }, 1);
  try {
    const a = trainStep(single, optA, { pixels, labels }, 10, 0, trainableVariables(single));
    const b = await parallelTrainStep(multi, optB, parallel, { pixels, labels }, 10, 1);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `${a.loss} vs ${b.loss}`);
    // The main thread measures its share (half of the batch) for the accuracy estimate.
    assert.equal(b.measured, 12);
    const wa = single.getWeights().map((w) => w.dataSync());
    const wb = multi.getWeights().map((w) => w.dataSync());
    let maxDiff = 0;
    let maxStep = 0;
    const init = build().getWeights().map((w) => w.dataSync());
    for (let i = 0; i < wa.length; i++) {
      for (let j = 0; j < wa[i].length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(wa[i][j] - wb[i][j]));
        maxStep = Math.max(maxStep, Math.abs(wa[i][j] - init[i][j]));
      }
    }
    assert.ok(maxStep > 1e-4, 'the step moved the weights');
    assert.ok(maxDiff < 1e-3 * maxStep, `weights differ by ${maxDiff} (step ${maxStep})`);
  } finally {
    await parallel.close();
    optA.dispose();
    optB.dispose();
  }
});

test('soft targets (distillation) reach the loss on one thread and in parallel alike', async () => {
  const build = () => getArchitecture('lenet5').build({ seed: 4, numClasses: 10 });
  const { pixels, labels } = batch(20, 6);
  const rng = createRng(2);
  const targets = distillTargets(Float32Array.from({ length: 200 }, () => rng() * 6 - 3), labels, 10, 0.6, 2);
  const one = build();
  const two = build();
  const hard = build();
  const parallel = await DataParallelGradients.start(two, { arch: 'lenet5', seed: 4, numClasses: 10, labelSmoothing: 0.1 }, 1);
  const opts = [tf.train.sgd(0.05), tf.train.sgd(0.05), tf.train.sgd(0.05)];
  try {
    const a = trainStep(one, opts[0], { pixels, labels, targets }, 10, 0.1);
    const b = await parallelTrainStep(two, opts[1], parallel, { pixels, labels, targets }, 10, 1);
    const h = trainStep(hard, opts[2], { pixels, labels }, 10, 0.1);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `${a.loss} vs ${b.loss}`);
    assert.ok(Math.abs(a.loss - h.loss) > 1e-3, 'soft targets change the loss');
    // The loss is the cross-entropy against the smoothed soft targets, computed here by hand.
    const fresh = build();
    const z = (fresh.apply(tf.tensor4d(pixels, [20, 28, 28, 1]), { training: true }) as tf.Tensor).dataSync();
    let expected = 0;
    for (let i = 0; i < 20; i++) {
      const row = Array.from(z.subarray(i * 10, i * 10 + 10));
      const lse = Math.log(row.reduce((acc, v) => acc + Math.exp(v), 0));
      for (let c = 0; c < 10; c++) expected -= (0.9 * targets[i * 10 + c] + 0.01) * (row[c] - lse);
    }
    assert.ok(Math.abs(a.loss - expected / 20) < 1e-4, `${a.loss} vs ${expected / 20}`);
  } finally {
    await parallel.close();
    for (const o of opts) o.dispose();
  }
});

test('with BatchNorm, parallel steps update the moving averages on the main thread', async () => {
  const model = getArchitecture('bhatnagar').build({ seed: 1, numClasses: 10 });
  const movingMean = () => model.getWeights().filter((_, i) => model.weights[i].name.includes('moving_mean'));
  assert.ok(movingMean().length > 0);
  const before = movingMean().map((w) => w.dataSync().slice());
  const opt = tf.train.adam(0.001);
  const parallel = await DataParallelGradients.start(model, { arch: 'bhatnagar', seed: 1, numClasses: 10, labelSmoothing: 0 }, 1);
  try {
    const { pixels, labels } = batch(16, 9);
    const step = await parallelTrainStep(model, opt, parallel, { pixels, labels }, 10, 2);
    assert.ok(Number.isFinite(step.loss));
    const after = movingMean().map((w) => w.dataSync());
    assert.ok(after.some((a, i) => a.some((v, j) => v !== before[i][j])), 'moving means changed');
  } finally {
    await parallel.close();
    opt.dispose();
  }
});

test('train --workers 2 learns, records workers, and repeats itself exactly', async () => {
  const runs = [];
  for (let k = 0; k < 2; k++) {
    const out = await mkdtemp(join(tmpdir(), 'el-workers-'));
    const r = await edgeloom(['train', '--arch', 'lenet5', '--epochs', '2', '--limit', '500', '--batch-size', '32', '--workers', '2', '--backend', 'wasm', '--no-onnx', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /main thread \+ 1 worker thread/);
    runs.push({ out, summary: JSON.parse(r.stdout), report: JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) });
  }
  const { summary, report } = runs[0];
  assert.equal(summary.workers, 2);
  assert.equal(report.config.workers, 2);
  assert.ok(report.history[1].loss < report.history[0].loss, `loss ${report.history[0].loss} -> ${report.history[1].loss}`);
  assert.ok(report.test.accuracy > 0.4, `test accuracy ${report.test.accuracy}`);
  assert.ok(report.history[1].acc > 0.2 && report.history[1].acc <= 1);
  const [w0, w1] = await Promise.all(runs.map((r) => readFile(join(r.out, 'weights.bin'))));
  assert.ok(w0.equals(w1), 'same seed and --workers: identical weights');
});
