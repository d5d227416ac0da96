import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf } from '../../training/backend/index.ts';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { prepareWasm } from '../../training/backend/wasm.ts';
import { maxRelativeError, randomValues } from './helpers.ts';

/** Conv (stride 1 and 2, same and valid), BN, ReLU, max and average pooling, a residual Add, Dense. */
function smallNet(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 1] });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor; // 6x6
  const branch = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, tf.layers.batchNormalization().apply(branch) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }).apply(x) as tf.SymbolicTensor; // 2x2
  x = tf.layers.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

async function trainSteps(backend: string, initial: Float32Array[], steps: number): Promise<{ losses: number[]; weights: Float32Array[] }> {
  await tf.setBackend(backend);
  const model = smallNet();
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(initial[i], w.shape)));
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
  const batch = 8;
  const xs = tf.tensor4d(randomValues(batch * 144, 7), [batch, 12, 12, 1]);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 3, 2, 1, 0], 'int32'), 4);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push((await model.trainOnBatch(xs, ys)) as number);
  const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
  tf.dispose([xs, ys]);
  model.dispose();
  return { losses, weights };
}

test('training steps on wasm give the losses and weights of the cpu back end', async () => {
  await prepareWasm();
  await tf.setBackend('cpu');
  const reference = smallNet();
  const initial = reference.getWeights().map((w) => Float32Array.from(w.dataSync()));
  reference.dispose();
  const cpu = await trainSteps('cpu', initial, 3);
  const wasm = await trainSteps('wasm', initial, 3);
  cpu.losses.forEach((loss, i) => assert.ok(Math.abs(loss - wasm.losses[i]) < 1e-4 * Math.max(1, loss), `loss ${i}: ${loss} vs ${wasm.losses[i]}`));
  assert.ok(cpu.losses[2] < cpu.losses[0], 'the model learns');
  cpu.weights.forEach((w, i) => {
    const err = maxRelativeError(w, wasm.weights[i], 1e-2);
    assert.ok(err < 1e-3, `weight ${i}: relative error ${err.toExponential(2)}`);
  });
});

for (const arch of Object.values(ARCHITECTURES).filter((a) => a.expectedParams < 1_000_000)) {
  test(`every kernel a ${arch.name} training step uses (Adam, dropout) exists on wasm`, async () => {
    await prepareWasm();
    await tf.setBackend('cpu');
    const model = arch.build({ seed: 1 });
    model.compile({ optimizer: tf.train.adam(1e-3), loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits) });
    const xs = tf.tensor4d(randomValues(2 * 784, 9), [2, 28, 28, 1]);
    const ys = tf.oneHot(tf.tensor1d([1, 5], 'int32'), 10);
    const profile = await tf.profile(async () => {
      await model.trainOnBatch(xs, ys);
    });
    // tf.profile also lists op wrappers ("conv2d__op") and custom-gradient ops ("unnamed scope", e.g.
    // edgeloom's BatchNormalization, whose kernels are listed one by one); only kernels are
    // registered per back end.
    const kernels = new Set(profile.kernels.map((k) => k.name).filter((name) => !name.endsWith('__op') && name !== 'unnamed scope'));
    assert.ok(kernels.has('BatchMatMul'), 'the profile saw the backward pass');
    const missing = [...kernels].filter((name) => !tf.getKernel(name, 'wasm'));
    assert.deepEqual(missing, []);
    await tf.setBackend('wasm');
    const loss = (await model.trainOnBatch(xs, ys)) as number;
    assert.ok(Number.isFinite(loss));
    tf.dispose([xs, ys]);
    model.dispose();
  });
}
