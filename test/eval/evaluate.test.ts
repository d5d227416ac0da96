import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { formatEvaluation, loadEvalSet, runEvaluate } from '../../training/eval/evaluate.ts';
import { loadDataset } from '../../training/data/load.ts';
import { prepareSplits } from '../../training/data/split.ts';
import { formatComparison, runCompare } from '../../training/eval/compare.ts';
import { writeModelMetadata } from '../../src/onnx/metadata.ts';

/**
 * A model that always predicts class 3 (zero weights, bias one-hot on 3): its metrics are known
 * from the test labels alone, whatever the images are.
 */
async function constantModel(dir: string, cls: number, name: string, recipe?: Record<string, unknown>): Promise<string> {
  await tf.setBackend('cpu');
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 4, name: 'embedding' }), tf.layers.dense({ units: 10, name: 'logits' })] });
  const [k1, b1, k2] = model.getWeights();
  const bias = new Float32Array(10);
  bias[cls] = 1;
  model.setWeights([tf.zerosLike(k1), tf.zerosLike(b1), tf.zerosLike(k2), tf.tensor1d(bias)]);
  const path = join(dir, name);
  await writeFile(path, (await exportToOnnx(model, { metadata: { arch: 'constant', recipe } })).bytes);
  return path;
}

test('evaluate: stratified --limit, metrics, Markdown, JSON and files in --out', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-eval-'));
  try {
    const model = await constantModel(dir, 3, 'const3.onnx');
    const out = join(dir, 'report');
    const r = await runEvaluate({ model, limit: 200, out });
    assert.equal(r.metrics.count, 200);
    assert.ok(r.metrics.perClass.every((p) => p.support === 20), 'stratified: 20 per class');
    assert.equal(r.metrics.accuracy, 0.1);
    assert.equal(r.metrics.perClass[3].recall, 1);
    assert.equal(r.metrics.confusion[0][3], 20);
    const json = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    assert.equal(json.metrics.accuracy, 0.1);
    assert.match(await readFile(join(out, 'metrics.md'), 'utf8'), /\| Dress \| 0\.1000 \| 1\.0000 \|/);
    const png = await readFile(join(out, 'confusion.png'));
    assert.deepEqual(Array.from(png.subarray(1, 4)), [0x50, 0x4e, 0x47], 'a PNG heat map');
    assert.ok(r.files.includes(join(out, 'confusion.png')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('evaluate --split val scores the validation split of the model\'s own recipe, never the test set', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-eval-'));
  try {
    const recipe = { data: 'fashion-mnist', limit: 3000, valSplit: 0.2, seed: 11 };
    const model = await constantModel(dir, 3, 'val.onnx', recipe);
    const r = await runEvaluate({ model, split: 'val' });
    assert.equal(r.split, 'val');
    // The trainer's split of that recipe: 3,000 stratified training images, 20% of them held out.
    assert.equal(r.metrics.count, 600);
    assert.ok(r.metrics.perClass.every((p) => p.support === 60));
    assert.match(formatEvaluation(r), /on 600 validation images/);
    const ds = await loadDataset({ data: 'fashion-mnist', seed: 11 });
    const { val } = prepareSplits(ds.train, { limit: 3000, valSplit: 0.2, seed: 11 });
    const held = await loadEvalSet({ recipe }, 'val');
    assert.deepEqual(held.labels, val!.labels);
    assert.ok(Buffer.from(held.images).equals(Buffer.from(val!.images)), 'the same images as the trainer held out');
    const sample = await loadEvalSet({ recipe }, 'val', 100, 4);
    assert.equal(sample.count, 100);
    const testSet = await loadEvalSet({ recipe }, 'test', 100, 4);
    assert.ok(!Buffer.from(sample.images).equals(Buffer.from(testSet.images)));

    const noVal = await constantModel(dir, 3, 'noval.onnx', { ...recipe, valSplit: 0 });
    await assert.rejects(runEvaluate({ model: noVal, split: 'val' }), /^UserError: --split val: the model was trained without a validation split/);
    await assert.rejects(runEvaluate({ model: await constantModel(dir, 3, 'norecipe.onnx'), split: 'val' }), /--split val: the model carries no training recipe/);
    await assert.rejects(runEvaluate({ model, split: 'train' as 'val' }), /--split: expected test or val, got "train"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('evaluate refuses a file that breaks the model contract', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-eval-'));
  try {
    const good = await readFile(await constantModel(dir, 1, 'a.onnx'));
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, writeModelMetadata(good, { classes: ['only', 'two'] }));
    await assert.rejects(runEvaluate({ model: bad, limit: 10 }), /bad\.onnx: metadata edgeloom\.classes lists 2 classes/);
    await assert.rejects(runEvaluate({ model: join(dir, 'nope.onnx') }), /nope\.onnx: not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('compare: accuracy of each, agreement, latency and size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-cmp-'));
  try {
    const a = await constantModel(dir, 3, 'a.onnx');
    const b = await constantModel(dir, 5, 'b.onnx');
    const r = await runCompare({ a, b, limit: 100, runs: 5 });
    assert.equal(r.images, 100);
    assert.equal(r.agreement, 0);
    assert.deepEqual(r.models.map((m) => m.accuracy), [0.1, 0.1]);
    // Each constant model is right on its own class's 10 images only: 10 discordant each way.
    assert.deepEqual(r.mcnemar, { onlyA: 10, onlyB: 10, p: 1 });
    assert.match(formatComparison(r), /only the first right on 10, only the second on 10: McNemar exact p = 1\.000 \(no accuracy difference beyond chance\)/);
    for (const m of r.models) {
      assert.ok(m.sizeBytes > 0 && existsSync(m.model));
      assert.equal(m.latencyMs.runs, 5);
      assert.ok(m.latencyMs.p50 > 0 && m.latencyMs.mean > 0);
    }
    const same = await runCompare({ a, b: a, limit: 50, runs: 1 });
    assert.equal(same.agreement, 1);
    assert.deepEqual(same.mcnemar, { onlyA: 0, onlyB: 0, p: 1 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
