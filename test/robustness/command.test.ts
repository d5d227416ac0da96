import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerRobustnessCommands } from '../../cli/robustness.ts';
import { buildTinyModel } from '../device/tiny-model.ts';
import { runRobustness, summarise, type RobustnessReport, type SeverityResult } from '../../training/robustness/run.ts';
import { captureStdout as capture } from '../helpers/capture-stdout.ts';


test('`edgeloom robustness --json --out` on a contract model: report fields, drops and files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-robustness-'));
  try {
    const model = join(dir, 'tiny.onnx');
    await writeFile(model, buildTinyModel({ seed: 3 }));
    const out = join(dir, 'report');
    const program = new Command('edgeloom').exitOverride();
    registerRobustnessCommands(program);
    const stdout = await capture(async () => {
      await program.parseAsync(['node', 'edgeloom', 'robustness', '--model', model, '--filters', 'rotate,occlusion', '--severities', '1,5', '--limit', '200', '--out', out, '--json']);
    });
    const r = JSON.parse(stdout) as RobustnessReport;
    assert.equal(r.kind, 'onnx');
    assert.equal(r.count, 200);
    assert.deepEqual(r.filters, ['rotate', 'occlusion']);
    assert.deepEqual(r.severities, [1, 5]);
    assert.deepEqual(r.results.map((x) => `${x.filter}:${x.severity}`), ['rotate:1', 'rotate:5', 'occlusion:1', 'occlusion:5']);
    for (const row of [r.clean, ...r.results, ...r.summary]) {
      for (const k of ['accuracy', 'precision', 'recall', 'f1'] as const) assert.ok(row[k] >= 0 && row[k] <= 1, `${k} in [0, 1]`);
    }
    // Accuracies are counts out of 200; the drop is clean minus filtered accuracy.
    for (const x of r.results) {
      assert.ok(Number.isInteger(Math.round(x.accuracy * 200 * 1e6) / 1e6));
      assert.equal(x.drop, r.clean.accuracy - x.accuracy);
    }
    const rot = r.results.filter((x) => x.filter === 'rotate');
    assert.equal(r.summary[0].accuracy, (rot[0].accuracy + rot[1].accuracy) / 2);
    assert.equal(r.summary[0].drop, r.clean.accuracy - r.summary[0].accuracy);
    const accs = r.results.map((x) => x.accuracy);
    assert.ok(Math.abs(r.meanCorruptionAccuracy - accs.reduce((a, b) => a + b, 0) / 4) < 1e-12);
    const worst = r.summary.reduce((w, s) => (s.accuracy < w.accuracy ? s : w));
    assert.equal(r.worstFilter.filter, worst.filter);
    // Filters do change predictions of even a random model (otherwise nothing was filtered).
    assert.ok(r.results.some((x) => x.accuracy !== r.clean.accuracy));

    for (const f of ['report.json', 'report.md', 'accuracy-vs-severity.png', 'accuracy-vs-severity.svg', 'examples.png']) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
      assert.ok(r.files.includes(join(out, f)), `${f} listed`);
    }
    for (const png of ['accuracy-vs-severity.png', 'examples.png']) assert.deepEqual(Array.from((await readFile(join(out, png))).subarray(1, 4)), [0x50, 0x4e, 0x47], `${png} is a PNG`);
    const saved = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as RobustnessReport;
    assert.deepEqual(saved.results, r.results);
    const md = await readFile(join(out, 'report.md'), 'utf8');
    assert.match(md, /\| filter \| accuracy \| precision \| recall \| F1 \| drop \|/);
    assert.match(md, new RegExp(`\\| rotate \\| ${(r.summary[0].accuracy * 100).toFixed(2)}% \\|`));
    assert.match(md, /\| occlusion \| side of a grey square patch \(px\) \| 6 \| 18 \|/);
    const svg = await readFile(join(out, 'accuracy-vs-severity.svg'), 'utf8');
    assert.ok(svg.includes('>rotate<') && svg.includes('>occlusion<'), 'one line per filter in the chart legend');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('robustness is reproducible and rejects bad options with one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-robustness-'));
  try {
    const model = join(dir, 'tiny.onnx');
    await writeFile(model, buildTinyModel({ seed: 5 }));
    const a = await runRobustness({ model, filters: 'rain', severities: '3', limit: 100 });
    const b = await runRobustness({ model, filters: 'rain', severities: '3', limit: 100 });
    assert.deepEqual(a.results, b.results);
    assert.equal(a.files.length, 0);
    await assert.rejects(runRobustness({ model, filters: 'snow', limit: 10 }), /--filters: unknown filter "snow"/);
    await assert.rejects(runRobustness({ model, severities: '7', limit: 10 }), /--severities/);
    await assert.rejects(runRobustness({ model, limit: 0 }), /--limit: expected a positive integer/);
    await assert.rejects(runRobustness({ model: join(dir, 'missing.onnx') }), /missing\.onnx: not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('summarise: per-filter means, mean corruption accuracy and the worst filter', () => {
  const clean = { accuracy: 0.9, precision: 0.9, recall: 0.9, f1: 0.9 };
  const row = (filter: 'cut' | 'blur', severity: number,
    accuracy: number): SeverityResult => ({ filter, severity, accuracy, precision: accuracy, recall: accuracy, f1: accuracy, drop: 0.9 - accuracy });
  const s = summarise(clean, [row('cut', 1, 0.5), row('cut', 2, 0.3), row('blur', 1, 0.8), row('blur', 2, 0.6)], ['cut', 'blur']);
  assert.ok(Math.abs(s.summary[0].accuracy - 0.4) < 1e-12 && Math.abs(s.summary[1].accuracy - 0.7) < 1e-12);
  assert.ok(Math.abs(s.meanCorruptionAccuracy - 0.55) < 1e-12);
  assert.ok(Math.abs(s.meanDrop - 0.35) < 1e-12);
  assert.equal(s.worstFilter.filter, 'cut');
  assert.ok(Math.abs(s.worstFilter.drop - 0.5) < 1e-12);
});

test('robustness on a tfjs model directory: same clean accuracy as `evaluate` on the same subset', async () => {
  const tf = await import('@tensorflow/tfjs');
  const { saveTfjsModel } = await import('../../training/model/io.ts');
  const { runEvaluate } = await import('../../training/eval/evaluate.ts');
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-robustness-tfjs-'));
  try {
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.randomNormal({ seed: 4 }) })] });
    // Fashion-MNIST's class names: other names would (rightly) not be scored on Fashion-MNIST.
    const { FASHION_MNIST_CLASSES } = await import('../../src/classes.ts');
    await saveTfjsModel(model, dir, { arch: 'test-linear', classNames: [...FASHION_MNIST_CLASSES] });
    const r = await runRobustness({ model: dir, filters: 'contrast', severities: '5', limit: 100 });
    assert.equal(r.kind, 'tfjs');
    const ev = await runEvaluate({ model: dir, limit: 100 });
    assert.equal(r.clean.accuracy, ev.metrics.accuracy);
    assert.equal(r.clean.f1, ev.metrics.macro.f1);
    assert.equal(r.results[0].drop, r.clean.accuracy - r.results[0].accuracy);
    assert.equal(r.split, 'test');
    // --split val takes the run's validation split from its report.json recipe.
    await assert.rejects(runRobustness({ model: dir, split: 'val', limit: 50 }), /--split val: the model carries no training recipe/);
    await writeFile(join(dir, 'report.json'), JSON.stringify({ arch: 'test-linear', config: { data: 'fashion-mnist', limit: 2000, valSplit: 0.1, seed: 3 } }));
    const val = await runRobustness({ model: dir, split: 'val', filters: 'contrast', severities: '5', out: join(dir, 'val') });
    assert.equal(val.split, 'val');
    assert.equal(val.count, 200, '10% of the 2,000-image recipe');
    const evVal = await runEvaluate({ model: dir, split: 'val' });
    assert.equal(val.clean.accuracy, evVal.metrics.accuracy);
    assert.match(await readFile(join(dir, 'val', 'report.md'), 'utf8'), /200 validation images/);
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
