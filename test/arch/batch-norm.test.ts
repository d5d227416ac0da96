import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../training/backend/index.ts';
import { BatchNormalization } from '../../training/arch/batch-norm.ts';
import { createRng } from '../../src/random.ts';

/** conv -> BN -> relu -> dense, built with the stock or the closed-form-gradient BN, same weights. */
function build(fused: boolean): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(input) as tf.SymbolicTensor;
  const args = { axis: -1, momentum: 0.9, epsilon: 1e-3, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 4 }),
    betaInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: 5 }) };
  x = (fused ? new BatchNormalization(args) : tf.layers.batchNormalization(args)).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function relErr(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array, floor = 1e-12): number {
  let num = 0, den = floor;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(a[i])); }
  return num / den;
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`on ${backend}: gradients, outputs and moving statistics equal the stock BatchNormalization`, async () => {
    await selectBackend(backend);
    const rng = createRng(9);
    const xs = tf.tensor4d(Float32Array.from({ length: 5 * 6 * 6 * 2 }, () => rng() * 4 - 1), [5, 6, 6, 2]);
    const target = tf.tensor2d(Float32Array.from({ length: 15 }, () => rng()), [5, 3]);
    const results = [false, true].map((fused) => {
      const model = build(fused);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(target, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, vars);
      const out = {
        loss: value.dataSync()[0],
        grads: vars.map((v) => grads[v.name].dataSync() as Float32Array),
        weights: model.getWeights().map((w) => w.dataSync() as Float32Array), // moving mean/variance after one update
        inference: (model.predict(xs) as tf.Tensor).dataSync() as Float32Array,
      };
      tf.dispose([value, ...Object.values(grads)]);
      return { model, out };
    });
    const [stock, fused] = results.map((r) => r.out);
    assert.ok(Math.abs(stock.loss - fused.loss) < 1e-6 * Math.max(1, Math.abs(stock.loss)), `loss ${stock.loss} vs ${fused.loss}`);
    // The conv bias before a BN has a zero gradient in exact arithmetic (BN removes any shift): both
    // layers give rounding noise there, so errors are measured against the largest gradient entry.
    const scale = Math.max(...stock.grads.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    stock.grads.forEach((g, i) => assert.ok(relErr(g, fused.grads[i], scale) < 1e-5, `gradient ${i}: ${relErr(g, fused.grads[i], scale)}`));
    stock.weights.forEach((w, i) => assert.ok(relErr(w, fused.weights[i]) < 1e-6, `weight ${i} after the moving-average update`));
    assert.ok(relErr(stock.inference, fused.inference) < 1e-6, 'inference uses the moving statistics as before');
    assert.ok(results[1].model.layers.some((l) => l instanceof BatchNormalization), 'the fused layer is in the model');
    tf.dispose([xs, target]);
    results.forEach((r) => r.model.dispose());
  });
}

test('saved models load back into the closed-form-gradient layer, under the stock class name', async () => {
  await selectBackend('cpu');
  const model = build(false);
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  assert.match(JSON.stringify(artifacts!.modelTopology), /"class_name":"BatchNormalization"/);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  const bn = loaded.layers.find((l) => l.getClassName() === 'BatchNormalization');
  assert.ok(bn instanceof BatchNormalization);
  model.dispose();
  loaded.dispose();
});
