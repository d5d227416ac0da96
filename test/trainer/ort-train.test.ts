import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { resolveConfig } from '../../training/trainer/config.ts';
import { ortUnsupported, smoothTargets } from '../../training/trainer/ort-step.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';

test('train --experimental (needed before ort was a regular back end) is accepted with a warning; unknown back ends are refused naming ort', async () => {
  const r = await edgeloom(['train', '--arch', 'no-such-arch', '--experimental', '--backend', 'ort', '--epochs', '1', '--no-onnx']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--experimental: no longer needed \(--backend ort is a regular back end, and auto picks it\); ignored/);
  assert.match(r.stderr, /--arch: unknown architecture "no-such-arch"/);
  const bad = await edgeloom(['train', '--arch', 'customnet', '--backend', 'gpu', '--epochs', '1', '--no-onnx']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--backend: unknown back end "gpu" \(expected auto, node, wasm, cpu, ort\)/);
});

test('smoothTargets is tfjs label smoothing: y * (1 - s) + s / K, rows still summing to 1', () => {
  const y = Float32Array.from([0, 1, 0, 0, 0, 1, 0, 0]);
  const s = smoothTargets(y, 4, 0.2);
  assert.deepEqual(Array.from(s, (v) => Number(v.toFixed(6))), [0.05, 0.85, 0.05, 0.05, 0.05, 0.85, 0.05, 0.05]);
  assert.equal(smoothTargets(y, 4, 0), y);
});

test('the onnxruntime step plans every architecture, so --backend auto trains each on it', () => {
  for (const arch of Object.keys(ARCHITECTURES)) assert.equal(ortUnsupported(resolveConfig({ arch })), null, arch);
});

test('train (auto) trains customnet on onnxruntime: loss falls, the report names ort, the saved model is the trained one', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-ort-train-'));
  const r = await edgeloom(['train', '--arch', 'customnet', '--epochs', '2', '--limit', '600', '--batch-size', '32',
    '--lr', '0.002', '--schedule', 'constant', '--test-limit', '500', '--no-onnx', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /back end: ort \(training steps on onnxruntime-node; evaluation and export on wasm/);
  assert.match(r.stderr, /onnxruntime training step: 1 intra-op thread/);
  const summary = JSON.parse(r.stdout);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.equal(summary.backend, 'ort');
  assert.equal(report.backend.name, 'ort');
  assert.ok(report.history[1].loss < report.history[0].loss, `loss ${report.history[0].loss} -> ${report.history[1].loss}`);
  // The test accuracy is tfjs's, on the weights written back from onnxruntime: chance is 10%.
  assert.ok(report.test.accuracy > 0.5, `test accuracy ${report.test.accuracy}`);
});
