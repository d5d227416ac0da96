import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../training/backend/index.ts';
import { Conv2D } from '../../training/arch/conv2d.ts';
import { createRng } from '../../src/random.ts';

function build(own: boolean, useBias: boolean): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 1] });
  const args = { filters: 4, kernelSize: 3, padding: 'same' as const, useBias, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) };
  const x = (own ? new Conv2D(args) : tf.layers.conv2d(args)).apply(input) as tf.SymbolicTensor;
  const y = tf.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.flatten().apply(y) as tf.SymbolicTensor });
}

test('a bias- and activation-free Conv2D gives the stock outputs and gradients, without the input image\'s gradient', async () => {
  await selectBackend('wasm');
  const rng = createRng(4);
  const xs = tf.tensor4d(Float32Array.from({ length: 3 * 64 }, () => rng()), [3, 8, 8, 1]);
  const run = (own: boolean, useBias: boolean) => {
    const model = build(own, useBias);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    let grads: ArrayLike<number>[] = [];
    let out: ArrayLike<number> = [];
    const profile = tf.profile(() => {
      const r = tf.variableGrads(() => (model.apply(xs, { training: true }) as tf.Tensor).square().sum() as tf.Scalar, vars);
      grads = vars.map((v) => r.grads[v.name].dataSync() as Float32Array);
      out = (model.predict(xs) as tf.Tensor).dataSync() as Float32Array;
    });
    model.dispose();
    return { grads, out, profile };
  };
  const stock = run(false, false);
  const own = run(true, false);
  own.grads.forEach((g, i) => Array.from(g).forEach((v, j) => assert.ok(Math.abs(v - stock.grads[i][j]) < 1e-5, `gradient ${i}[${j}]`)));
  Array.from(own.out).forEach((v, j) => assert.ok(Math.abs(v - stock.out[j]) < 1e-6));
  const imageGradients = async (p: ReturnType<typeof tf.profile>) => (await p).kernels.filter((k) => k.name === 'Conv2DBackpropInput' && k.inputShapes[1]?.[2] === 1).length;
  assert.equal(await imageGradients(own.profile), 0, 'no gradient is computed for the input image');
  assert.ok((await own.profile).kernels.some((k) => k.name === 'Conv2DBackpropFilter' && k.inputShapes[0]?.[3] === 1), 'the first layer\'s filter gradient is');
  xs.dispose();
});

test('saved models load back into it under the stock class name', async () => {
  await selectBackend('cpu');
  const model = build(true, false);
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  assert.match(JSON.stringify(artifacts!.modelTopology), /"class_name":"Conv2D"/);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  assert.ok(loaded.layers.filter((l) => l.getClassName() === 'Conv2D').every((l) => l instanceof Conv2D));
  model.dispose();
  loaded.dispose();
});
