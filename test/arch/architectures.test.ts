import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../training/backend/index.ts';
import { ARCHITECTURES, countMacs, getArchitecture, withEmbedding, layerMacs } from '../../training/arch/index.ts';
import { loadDataset } from '../../training/data/load.ts';
import { subset, type ImageSet } from '../../training/data/dataset.ts';
import { stratifiedSample } from '../../training/data/split.ts';
import { trainStep, runTrainingLoop } from '../../training/trainer/loop.ts';
import { batchPixels } from '../../training/trainer/augment.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { UserError } from '../../src/errors.ts';

/** Layer classes the ONNX exporter converts. */
const EXPORTABLE = new Set(['InputLayer', 'Conv2D', 'Dense', 'BatchNormalization', 'Activation', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Dropout', 'Flatten', 'Add']);

let train: ImageSet;
before(async () => {
  await selectBackend('auto');
  const ds = await loadDataset();
  train = subset(ds.train, stratifiedSample(ds.train.labels, 10, 256, 7));
});

test('registry holds the eight documented architectures', () => {
  assert.deepEqual(Object.keys(ARCHITECTURES).sort(), ['bhatnagar', 'cnn', 'customnet', 'edgenet', 'lenet5', 'lenet5-bn', 'mlp', 'resnet18']);
  assert.throws(() => getArchitecture('vgg'), UserError);
});

test('Safaei cnn_1 has exactly 628,630 parameters and the hand-counted MACs', () => {
  const m = ARCHITECTURES.cnn.build();
  assert.equal(m.countParams(), 628_630);
  // conv 28*28*32*(3*3*1) + dense 6272*100 + dense 100*10
  assert.equal(countMacs(m), 28 * 28 * 32 * 9 + 6272 * 100 + 100 * 10);
  m.dispose();
});

for (const arch of Object.values(ARCHITECTURES)) {
  test(`${arch.name}: documented parameters, exportable layers, logits [N,10] + embedding`, () => {
    const model = arch.build({ seed: 3 });
    assert.equal(model.countParams(), arch.expectedParams);
    for (const l of model.layers) assert.ok(EXPORTABLE.has(l.getClassName()), `${arch.name}: layer ${l.name} is a ${l.getClassName()}`);
    const logitsCfg = model.getLayer('logits').getConfig() as { activation: string; units: number };
    assert.equal(logitsCfg.activation, 'linear');
    assert.equal(model.outputs[0].name.startsWith('logits'), true);
    assert.ok(layerMacs(model).every((l) => l.macs >= 0) && countMacs(model) > 0);
    const both = withEmbedding(model);
    const n = 2;
    const [logits, emb] = tf.tidy(() => both.predict(tf.zeros([n, 28, 28, 1])) as tf.Tensor[]).map((t) => t);
    assert.deepEqual(logits.shape, [n, 10]);
    assert.equal(emb.shape.length, 2);
    assert.equal(emb.shape[0], n);
    assert.ok((emb.shape[1] as number) > 0);
    tf.dispose([logits, emb]);
    model.dispose();
  });
}

for (const arch of Object.values(ARCHITECTURES)) {
  const big = arch.name === 'resnet18' || arch.name === 'lenet5-bn' || arch.name === 'edgenet';
  test(`${arch.name}: loss falls over a few steps on a fixed batch, and one small epoch runs`, async () => {
    const model = arch.build({ seed: 5 });
    const optimizer = tf.train.adam(arch.name === 'mlp' || arch.name === 'lenet5' ? 3e-3 : 1e-3);
    const n = arch.name === 'resnet18' ? 4 : 16;
    const idx = Int32Array.from({ length: n }, (_, i) => (i * 16) % train.count);
    const pixels = batchPixels(train.images, idx, null, Math.random);
    const labels = Int32Array.from(idx, (i) => train.labels[i]);
    const losses: number[] = [];
    for (let s = 0; s < 5; s++) losses.push(trainStep(model, optimizer, { pixels, labels }, 10, 0).loss);
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[4] < losses[0], `${arch.name}: losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);

    const epochSet = arch.name === 'resnet18' ? subset(train, Int32Array.from({ length: 8 }, (_, i) => i * 32)) : big ? subset(train, Int32Array.from({ length: 64 }, (_, i) => i * 4)) : train;
    const config = { ...resolveConfig({ arch: arch.name, epochs: 1, batchSize: 32, optimizer: 'adam', lr: 1e-3 }), classNames: [...train.classNames] };
    const result = await runTrainingLoop({ model, optimizer, config, train: epochSet, val: null });
    assert.equal(result.history.length, 1);
    assert.equal(result.samplesSeen, epochSet.count);
    assert.ok(Number.isFinite(result.history[0].loss));
    optimizer.dispose();
    model.dispose();
  });
}
