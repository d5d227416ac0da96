import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../training/backend/index.ts';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { lossAndAccuracy, runTrainingLoop, type LoopState } from '../../training/trainer/loop.ts';
import { loadCheckpoint, saveCheckpoint } from '../../training/trainer/checkpoint.ts';
import { loadTfjsModel, predictTfjs, readTfjsModelMeta, saveTfjsModel } from '../../training/model/io.ts';
import { applyWeightDecay, makeOptimizer, setLearningRate } from '../../training/trainer/optim.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { prepareSplits } from '../../training/data/split.ts';
import { createRng } from '../../src/random.ts';
import { bands } from './bands.ts';

before(async () => {
  await selectBackend('auto');
});

const classNames = [...FASHION_MNIST_CLASSES];

test('lossAndAccuracy matches a hand computation', () => {
  const logits = Float32Array.from([2, 0, 0, 0, 1, 0]); // 2 rows of 3
  const r = lossAndAccuracy(logits, [0, 2], 3);
  const l0 = Math.log(Math.exp(2) + 2) - 2;
  const l1 = Math.log(2 + Math.exp(1)) - 0;
  assert.ok(Math.abs(r.loss - (l0 + l1) / 2) < 1e-6);
  assert.equal(r.acc, 0.5);
});

test('resolveConfig fills from the recipe and rejects bad flags with one-line UserErrors', () => {
  const c = resolveConfig({ arch: 'lenet5-bn' });
  assert.equal(c.batchSize, ARCHITECTURES['lenet5-bn'].recipe.batchSize);
  assert.equal(c.lr, 0.001);
  assert.equal(resolveConfig({ arch: 'cnn', lr: 0.01 }).lr, 0.01);
  assert.throws(() => resolveConfig({}), UserError);
  assert.throws(() => resolveConfig({ arch: 'cnn', optimizer: 'rmsprop' }), /--optimizer/);
  assert.throws(() => resolveConfig({ arch: 'cnn', schedule: 'linear' }), /--schedule/);
  assert.throws(() => resolveConfig({ arch: 'cnn', patience: 2 }), /--val-split/);
  assert.throws(() => resolveConfig({ arch: 'cnn', augment: 'mixup' }), /--augment/);
});

test('prepareSplits: --limit is stratified, --val-split is stratified and disjoint', () => {
  const set = bands(400, 1);
  const cfg = { ...resolveConfig({ arch: 'mlp', limit: 200, valSplit: 0.2 }), classNames };
  const { train, val } = prepareSplits(set, cfg);
  assert.equal(train.count, 160);
  assert.equal(val!.count, 40);
  const counts = new Array(10).fill(0);
  for (const l of val!.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(4));
});

test('setLearningRate changes the step size of every optimiser; weight decay is decoupled', () => {
  for (const name of ['sgd', 'adam', 'adagrad'] as const) {
    const v = tf.variable(tf.scalar(1));
    const opt = makeOptimizer(name, 0.1, name === 'sgd' ? 0 : undefined);
    setLearningRate(opt, 0.5);
    opt.minimize(() => v.mul(1) as tf.Scalar, false, [v]);
    const moved = 1 - v.dataSync()[0];
    // sgd: lr*grad = 0.5; adam: ~lr = 0.5; adagrad: lr*g/sqrt(0.1+g^2) ~ 0.477
    assert.ok(moved > 0.4 && moved < 0.55, `${name} moved ${moved}`);
    opt.dispose();
    v.dispose();
  }
  const w = tf.variable(tf.tensor1d([2, -4]));
  applyWeightDecay([w], 0.1, 0.5);
  assert.deepEqual([...w.dataSync()], [...Float32Array.from([2 * 0.95, -4 * 0.95])]);
  w.dispose();
});

test('saveTfjsModel/loadTfjsModel round-trip weights, metadata and predictions', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'el-model-'));
  const model = ARCHITECTURES.bhatnagar.build({ seed: 2 });
  await saveTfjsModel(model, dir, { arch: 'bhatnagar', classNames });
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.format, 'layers-model');
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  const set = bands(20, 3);
  const before = predictTfjs(model, set, 8);
  assert.equal(before.length, 20 * 10);
  const loaded = await loadTfjsModel(dir);
  assert.deepEqual(predictTfjs(loaded, set, 7), before);
  assert.equal((await readTfjsModelMeta(dir))?.arch, 'bhatnagar');
  await assert.rejects(loadTfjsModel(join(dir, 'nope')), UserError);
  model.dispose();
  loaded.dispose();
});

async function train(cfgOver: Record<string, unknown>, stopAfter: number | null, out: string, resume?: Awaited<ReturnType<typeof loadCheckpoint>>) {
  const config = { ...resolveConfig({ arch: 'mlp', epochs: 2, batchSize: 32, optimizer: 'adam', lr: 0.002, seed: 4, augment: 'safaei', ...cfgOver }), classNames };
  const data = bands(320, 8);
  const { train: tr, val } = prepareSplits(data, config);
  const model = resume?.model ?? ARCHITECTURES.mlp.build({ seed: config.seed });
  const optimizer = makeOptimizer(config.optimizer, config.lr, config.momentum);
  if (resume) await optimizer.setWeights(resume.optimizerWeights);
  let batches = 0;
  const result = await runTrainingLoop({
    model, optimizer, config, train: tr, val,
    resume: resume?.state as LoopState | undefined,
    bestWeights: resume?.bestWeights ?? null,
    shouldStop: () => stopAfter !== null && ++batches >= stopAfter,
    onCheckpoint: async (state, best) => { await saveCheckpoint(out, model, await optimizer.getWeights(), best, state); },
  });
  return { result, model, optimizer };
}

test('Ctrl-C mid-epoch checkpoints; resuming reproduces the uninterrupted run exactly', async () => {
  const outA = await mkdtemp(join(tmpdir(), 'el-a-'));
  const outB = await mkdtemp(join(tmpdir(), 'el-b-'));
  const a = await train({}, null, outA);
  assert.equal(a.result.history.length, 2);
  assert.ok(existsSync(join(outA, 'checkpoint', 'state.json')));

  const b1 = await train({}, 3, outB);
  assert.equal(b1.result.interrupted, true);
  assert.equal(b1.result.state.batch, 3);
  const ckpt = await loadCheckpoint(outB);
  assert.equal(ckpt.state.epoch, 0);
  assert.equal(ckpt.state.batch, 3);
  const b2 = await train({}, null, outB, ckpt);
  assert.equal(b2.result.interrupted, false);
  assert.deepEqual(b2.result.history.map((h) => h.loss), a.result.history.map((h) => h.loss));
  const wa = a.model.getWeights().map((t) => [...t.dataSync()]);
  const wb = b2.model.getWeights().map((t) => [...t.dataSync()]);
  assert.deepEqual(wb, wa);
  for (const r of [a, b1, b2]) r.optimizer.dispose();
  a.model.dispose();
  b2.model.dispose();
});

test('early stopping stops after `patience` epochs without val gain and restores the best weights', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-es-'));
  // lr so high that training diverges after the first epoch; the best epoch must come back
  const { result, model, optimizer } = await train({ epochs: 6, valSplit: 0.25, patience: 2, optimizer: 'sgd', momentum: 0.9, lr: 0.3, augment: 'none' }, null, out);
  assert.ok(result.bestEpoch !== null);
  const best = result.history[result.bestEpoch! - 1].valAcc!;
  assert.ok(result.history.every((h) => h.valAcc! <= best));
  assert.equal(result.stoppedEarly, true, `diverging after epoch ${result.bestEpoch}, so it must stop: ${result.history.map((h) => h.valAcc).join(' ')}`);
  assert.equal(result.history.length, result.bestEpoch! + 2, 'stopped exactly `patience` epochs after the best');
  assert.ok(result.history.length < 6, 'before the last epoch');
  const val = prepareSplits(bands(320, 8), { ...resolveConfig({ arch: 'mlp', valSplit: 0.25, seed: 4 }), classNames }).val!;
  const acc = lossAndAccuracy(predictTfjs(model, val), val.labels, 10).acc;
  assert.equal(acc, best);
  model.dispose();
  optimizer.dispose();
});

test('same seed, same weights: dropout masks are seeded too', async () => {
  const run = async (seed: number) => {
    const config = { ...resolveConfig({ arch: 'customnet', epochs: 1, batchSize: 16, optimizer: 'adam', lr: 0.003, seed }), classNames };
    const model = ARCHITECTURES.customnet.build({ seed: 1 });
    const optimizer = makeOptimizer('adam', config.lr);
    await runTrainingLoop({ model, optimizer, config, train: bands(32, 5), val: null });
    const w = model.getWeights().map((t) => [...t.dataSync()]);
    model.dispose();
    optimizer.dispose();
    return w;
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  // same init (build seed 1) but another run seed: other shuffles and dropout masks
  assert.notDeepEqual(await run(8), a);
});

test('trainingBatch: --augment robust corrupts about half of the images, other presets none; seeded', async () => {
  const { trainingBatch } = await import('../../training/trainer/loop.ts');
  const { parseAugment } = await import('../../training/trainer/augment.ts');
  const set = bands(400, 3);
  const idx = Array.from({ length: 400 }, (_, i) => i);
  const clean = Float32Array.from(set.images, (v) => v / 255);
  // Flips and shifts off, so any change is a corruption.
  const robust = parseAugment('robust,hflip=0,widthShift=0,heightShift=0');
  const changed = (out: Float32Array) => idx.filter((i) => out.subarray(i * 784, (i + 1) * 784).some((v, p) => Math.abs(v - clean[i * 784 + p]) > 1e-6)).length;
  const a = trainingBatch(set.images, idx, robust, createRng(1), 0.9);
  const n = changed(a);
  assert.ok(n > 150 && n < 250, `${n} of 400 corrupted`);
  assert.deepEqual(a, trainingBatch(set.images, idx, robust, createRng(1), 0.9), 'same seed, same batch');
  assert.equal(changed(trainingBatch(set.images, idx, parseAugment('none'), createRng(1), 0.9)), 0);
  assert.equal(changed(trainingBatch(set.images, idx, parseAugment('robust,corruption=0,hflip=0,widthShift=0,heightShift=0'), createRng(1), 0.9)), 0);
});
