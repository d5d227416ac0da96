import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';




test('train --help lists the flags with examples; archs --json lists every architecture', async () => {
  const help = await edgeloom(['train', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--arch', '--schedule', '--label-smoothing', '--limit', '--val-split', '--patience', '--augment', 'robust', '--resume', '--init', '--distill', '--distill-weight',
    '--distill-temperature', '--backend', '--workers', '--no-onnx', '--no-quantize', 'Examples:']) assert.ok(help.stdout.includes(flag), flag);
  const archs = await edgeloom(['archs', '--json']);
  assert.equal(archs.code, 0);
  const list = JSON.parse(archs.stdout) as Array<{ name: string; parameters: number }>;
  assert.equal(list.find((a) => a.name === 'cnn')?.parameters, 628_630);
  assert.equal(list.length, 8);
});

test('train --json prints only JSON and writes model, report and plots; a bad flag is one line', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-cli-'));
  const r = await edgeloom(['train', '--arch', 'mlp', '--epochs', '1', '--limit', '500', '--batch-size', '50', '--optimizer', 'adam', '--lr', '0.003', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.arch, 'mlp');
  assert.ok(summary.testAccuracy > 0.5 && summary.testAccuracy <= 1);
  for (const f of ['model.json', 'weights.bin', 'report.json', 'report.md', 'checkpoint/state.json', 'learning-curves.png', 'confusion-matrix.png',
    'misclassified.png']) assert.ok(existsSync(join(out, f)), f);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.equal(report.test.accuracy, summary.testAccuracy);
  assert.equal(report.test.count, 10_000);
  assert.equal(report.data.train, 500);
  assert.equal(report.history.length, 1);
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /\| macro avg \|/);

  const bad = await edgeloom(['train', '--arch', 'mlp', '--schedule', 'linear']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^edgeloom: --schedule: unknown schedule "linear"/m);
});

test('Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-int-'));
  let sent = false;
  const r = await edgeloom(['train', '--arch', 'mlp', '--epochs', '40', '--limit', '1000', '--batch-size', '20', '--out', out, '--json'], (text, child) => {
    if (!sent && /epoch 1\/40 loss/.test(text)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /checkpoint saved/);
  const state = JSON.parse(await readFile(join(out, 'checkpoint', 'state.json'), 'utf8'));
  assert.ok(state.epoch >= 1 && state.epoch < 40);
  assert.equal(JSON.parse(r.stdout).interrupted, true);

  const resumed = await edgeloom(['train', '--resume', out, '--epochs', String(state.epoch + 1), '--no-onnx', '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const summary = JSON.parse(resumed.stdout);
  assert.equal(summary.epochsRun, state.epoch + 1);
  assert.ok(existsSync(join(out, 'report.json')));
});

test('SIGTERM (how background runs are stopped) also checkpoints and exits 130', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-term-'));
  let sent = false;
  const r = await edgeloom(['train', '--arch', 'mlp', '--epochs', '40', '--limit', '1000', '--batch-size', '20', '--no-onnx', '--out', out, '--json'], (text, child) => {
    if (!sent && /epoch 1\/40 loss/.test(text)) {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGTERM: finishing the current batch and saving a checkpoint/);
  const state = JSON.parse(await readFile(join(out, 'checkpoint', 'state.json'), 'utf8'));
  assert.ok(state.epoch >= 1 && state.epoch < 40);
});

test('--init fine-tunes from a trained model: its weights are the start, --arch defaults to its own', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'el-init-parent-'));
  const p = await edgeloom(['train', '--arch', 'mlp', '--epochs', '1', '--limit', '500', '--batch-size', '50', '--optimizer', 'adam', '--lr', '0.003', '--no-onnx', '--out', parent, '--json']);
  assert.equal(p.code, 0, p.stderr);
  const parentAcc = JSON.parse(p.stdout).testAccuracy as number;
  assert.ok(parentAcc > 0.5);

  // A learning rate of 1e-9 leaves the weights where they started: the child scores like its
  // parent, which a fresh initialisation (about 10%) could not.
  const child = await mkdtemp(join(tmpdir(), 'el-init-child-'));
  const c = await edgeloom(['train', '--init', parent, '--epochs', '1', '--limit', '500', '--optimizer', 'sgd', '--momentum', '0', '--lr', '1e-9', '--no-onnx', '--out', child, '--json']);
  assert.equal(c.code, 0, c.stderr);
  const summary = JSON.parse(c.stdout);
  assert.equal(summary.arch, 'mlp');
  assert.ok(Math.abs(summary.testAccuracy - parentAcc) < 0.005, `child ${summary.testAccuracy} vs parent ${parentAcc}`);
  assert.match(c.stderr, /fine-tuning: starting from the weights of/);
  const report = JSON.parse(await readFile(join(child, 'report.json'), 'utf8'));
  assert.equal(report.config.init, parent);

  const wrong = await edgeloom(['train', '--init', parent, '--arch', 'cnn', '--epochs', '1']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^edgeloom: --init .*: the model is mlp, but --arch is cnn$/m);
  const missing = await edgeloom(['train', '--init', join(child, 'nope'), '--epochs', '1']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^edgeloom: .*nope/m);
});
