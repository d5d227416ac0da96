import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getArchitecture } from '../../training/arch/index.ts';
import { selectBackend, tf } from '../../training/backend/index.ts';
import { DataParallelGradients } from '../../training/backend/parallel/index.ts';
import { halfBatchGradients } from '../../training/backend/parallel/shared.ts';
import { maxRelativeError, randomValues } from './helpers.ts';

function batch(count: number, seed: number): { xs: Float32Array; ys: Float32Array } {
  const xs = randomValues(count * 784, seed).map((v) => (v + 1) / 2);
  const ys = new Float32Array(count * 10);
  for (let i = 0; i < count; i++) ys[i * 10 + ((i * 3) % 10)] = 1;
  return { xs, ys };
}

test('a batch-norm model with dropout trains through the worker', async () => {
  await selectBackend('wasm');
  const model = getArchitecture('customnet').build({ seed: 1 });
  const parallel = await DataParallelGradients.start(model, { arch: 'customnet', seed: 1, numClasses: 10, labelSmoothing: 0 }, 1);
  try {
    const optimizer = tf.train.adam(1e-3);
    const { xs, ys } = batch(8, 31);
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { loss, grads } = await parallel.computeGradients(xs, ys, 8);
      optimizer.applyGradients(grads);
      tf.dispose(grads.map((g) => g.tensor));
      losses.push(loss);
    }
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[3] < losses[0], `loss falls on a repeated batch: ${losses.join(', ')}`);
  } finally {
    await parallel.close();
    model.dispose();
  }
});

test('gradients split over a worker thread equal the full-batch gradients (no batch norm, no dropout)', async () => {
  await selectBackend('wasm');
  const model = getArchitecture('lenet5').build({ seed: 3 });
  const parallel = await DataParallelGradients.start(model, { arch: 'lenet5', seed: 99, numClasses: 10, labelSmoothing: 0.1 }, 1);
  try {
    assert.equal(parallel.threads, 2);
    const { xs, ys } = batch(7, 21); // 4 on the main thread, 3 on the worker
    const expected = halfBatchGradients(model, xs, ys, 7, 0.1);
    const { loss, grads } = await parallel.computeGradients(xs, ys, 7);
    assert.ok(Math.abs(loss - expected.loss) < 1e-5 * expected.loss, `loss ${loss} vs ${expected.loss}`);
    // Keyed by the main model's variables, so optimizer.applyGradients(grads) works directly.
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    assert.deepEqual(grads.map((g) => g.name), variables.map((v) => v.name));
    variables.forEach((v, i) => {
      const err = maxRelativeError(expected.grads[i], grads[i].tensor.dataSync() as Float32Array, 1e-3);
      assert.ok(err < 1e-4, `${v.name}: relative error ${err.toExponential(2)}`);
    });
    tf.train.adam(1e-3).applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  } finally {
    await parallel.close();
    model.dispose();
  }
});

test('halfBatchGradients leaves no tensor behind (it disposes by hand, without tf.tidy)', async () => {
  await selectBackend('wasm');
  const model = getArchitecture('lenet5-bn').build({ seed: 2 });
  const { xs, ys } = batch(6, 31);
  halfBatchGradients(model, xs, ys, 6, 0);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) halfBatchGradients(model, xs, ys, 6, 0.1);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});
