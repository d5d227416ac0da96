import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { getArchitecture } from '../../training/arch/index.ts';
import { selectBackend } from '../../training/backend/index.ts';
import { averageWeightArrays, parseAverageWeights, runAverage } from '../../training/trainer/average.ts';
import { loadTfjsModel, saveTfjsModel } from '../../training/model/io.ts';
import { runEvaluate } from '../../training/eval/evaluate.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';

test('parseAverageWeights: equal by default; one non-negative weight per model, summing to 1', () => {
  assert.deepEqual(parseAverageWeights(undefined, 4), [0.25, 0.25, 0.25, 0.25]);
  assert.deepEqual(parseAverageWeights('0.7, 0.3', 2), [0.7, 0.3]);
  assert.throws(() => parseAverageWeights('0.5', 2), /^UserError: --weights: expected 2 comma-separated numbers/);
  assert.throws(() => parseAverageWeights('1.5,-0.5', 2), /--weights: expected non-negative numbers/);
  assert.throws(() => parseAverageWeights('0.5,0.4', 2), /--weights: expected weights summing to 1, got 0.9/);
});

test('averageWeightArrays: the weighted sum of every tensor', () => {
  const out = averageWeightArrays([[Float32Array.from([1, 2]), Float32Array.from([10])], [Float32Array.from([3, 6]), Float32Array.from([20])]], [0.25, 0.75]);
  assert.deepEqual(out.map((a) => Array.from(a)), [[2.5, 5], [17.5]]);
});

async function saveRun(dir: string, arch: string, seed: number, config: Record<string, unknown>, classNames: string[] = [...FASHION_MNIST_CLASSES]): Promise<tf.Tensor[]> {
  const model = getArchitecture(arch).build({ seed, numClasses: classNames.length });
  await saveTfjsModel(model, dir, { arch, classNames });
  await writeFile(join(dir, 'report.json'), JSON.stringify({ arch, config: { arch, ...config } }));
  const weights = model.getWeights().map((w) => w.clone());
  model.dispose();
  return weights;
}

test('runAverage: averaged weights (BatchNorm statistics too), the shared split recorded, usable by evaluate --split val', async () => {
  await selectBackend('cpu');
  const root = await mkdtemp(join(tmpdir(), 'el-average-'));
  try {
    const split = { data: 'fashion-mnist', limit: 1000, valSplit: 0.1, seed: 5 };
    const wa = await saveRun(join(root, 'a'), 'bhatnagar', 1, { ...split, lr: 0.1 });
    const wb = await saveRun(join(root, 'b'), 'bhatnagar', 2, { ...split, lr: 0.02 });
    const r = await runAverage({ models: [join(root, 'a'), join(root, 'b')], weights: '0.25,0.75', out: join(root, 'soup') });
    assert.equal(r.arch, 'bhatnagar');
    assert.deepEqual(r.sharedSplit, split);
    const soup = await loadTfjsModel(join(root, 'soup'));
    const names = soup.weights.map((w) => w.originalName);
    assert.ok(names.some((n) => n.includes('moving_variance')), 'BatchNorm statistics are part of the average');
    soup.getWeights().forEach((w, i) => {
      const expected = tf.tidy(() => wa[i].mul(0.25).add(wb[i].mul(0.75)));
      assert.ok(tf.tidy(() => tf.max(tf.abs(w.sub(expected))).dataSync()[0]) < 1e-6, names[i]);
      expected.dispose();
    });
    soup.dispose();
    tf.dispose([...wa, ...wb]);
    const report = JSON.parse(await readFile(join(root, 'soup', 'report.json'), 'utf8'));
    assert.deepEqual(report.config.averageOf.map((x: { weight: number }) => x.weight), [0.25, 0.75]);
    const val = await runEvaluate({ model: join(root, 'soup'), split: 'val' });
    assert.equal(val.metrics.count, 100, 'the ingredients\' validation split: 10% of 1,000');

    // Ingredients with different splits: averaged, but no split is claimed.
    await saveRun(join(root, 'c'), 'bhatnagar', 3, { ...split, seed: 6 });
    const mixed = await runAverage({ models: [join(root, 'a'), join(root, 'c')], out: join(root, 'mixed') });
    assert.equal(mixed.sharedSplit, null);
    await assert.rejects(runEvaluate({ model: join(root, 'mixed'), split: 'val' }), /--split val: the averaged models \(edgeloom average\) do not share one data set and validation split/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('edgeloom average: refuses one model, other architectures and other classes with one line', async () => {
  await selectBackend('cpu');
  const root = await mkdtemp(join(tmpdir(), 'el-average-'));
  try {
    await saveRun(join(root, 'a'), 'mlp', 1, {});
    await saveRun(join(root, 'b'), 'mlp', 2, {});
    await saveRun(join(root, 'lenet'), 'lenet5', 1, {});
    await saveRun(join(root, 'two'), 'mlp', 1, {}, ['x', 'y']);
    const ok = await edgeloom(['average', join(root, 'a'), join(root, 'b'), '--out', join(root, 'ab'), '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout).averageOf.map((x: { weight: number }) => x.weight), [0.5, 0.5]);
    const cases: Array<[string[], RegExp]> = [
      [[join(root, 'a')], /^edgeloom: average: expected at least two model directories, got 1$/m],
      [[join(root, 'a'), join(root, 'lenet')], /^edgeloom: .*lenet: architecture lenet5, but .*a is mlp$/m],
      [[join(root, 'a'), join(root, 'two')], /^edgeloom: .*two: its classes differ from .*a's$/m],
      [[join(root, 'a'), join(root, 'missing')], /^edgeloom: .*missing: .*model\.json: not found/m],
    ];
    for (const [dirs, message] of cases) {
      const bad = await edgeloom(['average', ...dirs, '--out', join(root, 'bad')]);
      assert.equal(bad.code, 1, dirs.join(' '));
      assert.match(bad.stderr, message);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
