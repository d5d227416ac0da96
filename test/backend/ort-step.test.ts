import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/errors.ts';
import { tf } from '../../training/backend/index.ts';
import { getArchitecture } from '../../training/arch/index.ts';
import { prepareWasm } from '../../training/backend/wasm.ts';
import { OrtTrainingStep, TFJS_ADAGRAD } from '../../training/ort/step.ts';
import { applyWeightDecay, decayedVariables } from '../../training/trainer/optim.ts';
import { planLayers } from '../../training/ort/plan.ts';
import { maxRelativeError } from './helpers.ts';
import { batchOf as batchOfSize, dropoutMasks, tfjsGradients } from './ort-helpers.ts';

const BATCH = 8;
const CLASSES = 10;
const batchOf = (seed: number) => batchOfSize(seed, BATCH, CLASSES);

test('the onnxruntime training step of customnet matches tfjs: loss, every gradient, tfjs Adam\'s update, moving statistics', async () => {
  await prepareWasm();
  await tf.setBackend('wasm');
  const model = getArchitecture('customnet').build({ seed: 4 });
  const step = await OrtTrainingStep.create(model, { batch: BATCH, numClasses: CLASSES, gradients: true, session: { intraOpThreads: 1 } });
  try {
    assert.equal(step.graph.masks.length, 1, 'customnet has one dropout layer');
    const b = batchOf(1);
    const mask = dropoutMasks(step.graph.masks, BATCH, 5);
    const lr = 1e-3;
    const ort = await step.step(b.x, b.y, lr, mask.graph);

    const ref = tfjsGradients(model, b, mask.tfjs, CLASSES);
    assert.ok(Math.abs(ort.loss - ref.loss) <= 1e-4 * ref.loss, `loss ${ort.loss} vs tfjs ${ref.loss}`);
    assert.equal(ort.grads!.size, 11, 'three conv kernels, three gamma/beta pairs, dense kernel and bias');
    for (const [key, g] of ref.grads) {
      const err = maxRelativeError(g.dataSync() as Float32Array, ort.grads!.get(key)!);
      assert.ok(err <= 1e-4, `gradient ${key}: relative error ${err.toExponential(2)}`);
    }

    // tfjs's own Adam, applied to the graph's gradients (Adam's first step is lr * g/|g|: on tfjs's
    // gradients, entries near zero could flip sign within the gradient tolerance).
    const adam = tf.train.adam(lr);
    const variables = new Map<string, tf.LayerVariable>(model.layers.flatMap((layer) => layer.trainableWeights.map((w) => [`${layer.name}/${w.originalName.split('/').pop()}`, w] as const)));
    const ortGrads = [...ort.grads!].map(([key, g]) => ({ name: variables.get(key)!.name, tensor: tf.tensor(g, variables.get(key)!.shape as number[]) }));
    adam.applyGradients(ortGrads);
    tf.dispose(ortGrads.map((g) => g.tensor));
    const after = step.weights();
    for (const layer of model.layers) {
      for (const w of layer.weights) {
        const key = `${layer.name}/${w.originalName.split('/').pop()}`;
        const err = maxRelativeError(w.read().dataSync() as Float32Array, after.get(key)!);
        assert.ok(err <= 1e-4, `${key} after one step: relative error ${err.toExponential(2)}`);
      }
    }
    assert.equal(after.size, model.weights.length, 'weights and moving statistics all come back');
    adam.dispose();
    tf.dispose(ref.byVariable.map((g) => g.tensor));
  } finally {
    await step.close();
    model.dispose();
  }
});

const OPTIMIZERS = [
  { name: 'SGD with momentum', spec: { kind: 'momentum', momentum: 0.9 }, tfjs: () => tf.train.momentum(0.05, 0.9) },
  { name: 'Adagrad', spec: TFJS_ADAGRAD, tfjs: () => tf.train.adagrad(0.05) },
] as const;

for (const o of OPTIMIZERS) {
  test(`${o.name} with weight decay in the graph follows tfjs for two steps; writeTo and the optimiser state read as tfjs's`, async () => {
    await prepareWasm();
    await tf.setBackend('wasm');
    const model = getArchitecture('customnet').build({ seed: 6 });
    const reference = getArchitecture('customnet').build({ seed: 6 });
    const [lr, weightDecay] = [0.05, 0.01];
    const step = await OrtTrainingStep.create(model, { batch: BATCH, numClasses: CLASSES, optimizer: o.spec, weightDecay, session: { intraOpThreads: 1 } });
    const optimizer = o.tfjs();
    try {
      for (let i = 0; i < 2; i++) {
        const b = batchOf(10 + i);
        const mask = dropoutMasks(step.graph.masks, BATCH, 20 + i);
        const loss = (await step.step(b.x, b.y, lr, mask.graph)).loss;
        const ref = tfjsGradients(reference, b, mask.tfjs, CLASSES);
        assert.ok(Math.abs(loss - ref.loss) <= 1e-4 * ref.loss, `step ${i}: loss ${loss} vs tfjs ${ref.loss}`);
        optimizer.applyGradients(ref.byVariable);
        applyWeightDecay(decayedVariables(reference), lr, weightDecay);
        tf.dispose([...ref.grads.values()]);
      }
      step.writeTo(model);
      for (let i = 0; i < model.weights.length; i++) {
        const err = maxRelativeError(reference.weights[i].read().dataSync() as Float32Array, model.weights[i].read().dataSync() as Float32Array);
        assert.ok(err <= 1e-4, `${model.weights[i].name}: relative error ${err.toExponential(2)}`);
      }
      // A checkpoint stores the optimiser state in tfjs's format: same count, order, shapes and values.
      const ours = step.optimizerWeights(model);
      const theirs = await optimizer.getWeights();
      assert.equal(ours.length, theirs.length);
      assert.equal(ours[0].tensor.dataSync()[0], 2, 'two iterations');
      for (let i = 0; i < ours.length; i++) {
        // The two models' layer names differ by their numbers only (conv2d_Conv2D5 and conv2d_Conv2D8).
        assert.equal(ours[i].name.replace(/\d+\//, '/'), theirs[i].name.replace(/\d+\//, '/'));
        assert.deepEqual(ours[i].tensor.shape, theirs[i].tensor.shape);
        const err = maxRelativeError(theirs[i].tensor.dataSync() as Float32Array, ours[i].tensor.dataSync() as Float32Array);
        assert.ok(err <= 1e-4, `${ours[i].name}: relative error ${err.toExponential(2)}`);
      }
      tf.dispose(ours.map((w) => w.tensor));
    } finally {
      optimizer.dispose();
      await step.close();
      model.dispose();
      reference.dispose();
    }
  });
}

test('seeded dropout in the graph is reproducible for a seed and differs between seeds', async () => {
  await tf.setBackend('cpu');
  const model = getArchitecture('customnet').build({ seed: 2 });
  const b = batchOf(3);
  const lossWith = async (seed: number): Promise<number[]> => {
    const step = await OrtTrainingStep.create(model, { batch: BATCH, numClasses: CLASSES, seed, session: { intraOpThreads: 1 } });
    try {
      // Steps of a fresh session: the weights it read from the model, the same batch twice.
      return [(await step.step(b.x, b.y, 0)).loss, (await step.step(b.x, b.y, 0)).loss];
    } finally {
      await step.close();
    }
  };
  const [a, again, other] = [await lossWith(1), await lossWith(1), await lossWith(2)];
  assert.deepEqual(a, again);
  assert.notEqual(a[0], a[1], 'each step draws a new mask');
  assert.notEqual(a[0], other[0]);
  model.dispose();
});

test('layers the graph cannot differentiate are refused, naming the layer', () => {
  const input = tf.input({ shape: [28, 28, 1] });
  const logits = tf.layers.dense({ units: CLASSES, activation: 'sigmoid', name: 'squashed' }).apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits });
  try {
    const refusal = /^--backend ort: layer squashed \(Dense\): activation sigmoid is not supported.*use --backend wasm$/;
    assert.throws(() => planLayers(model), (err: Error) => err instanceof UserError && refusal.test(err.message));
  } finally {
    model.dispose();
  }
});
