import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveTfjsModel } from '../../training/model/io.ts';
import { runExport } from '../../training/onnx/export.ts';
import { runQuantize } from '../../training/quantize/run.ts';
import { runEvaluate } from '../../training/eval/evaluate.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { randomizeStats, useCpuBackend } from './helpers.ts';

test('export -> quantize -> evaluate from a tfjs model directory with report.json', async () => {
  await useCpuBackend();
  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-cmd-'));
  try {
    const L = tf.layers;
    const model = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 5, strides: 2, activation: 'relu' }), L.flatten(),
      L.dense({ units: 16, activation: 'relu', name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] });
    randomizeStats(model, 2);
    const runDir = join(dir, 'run');
    await saveTfjsModel(model, runDir, { arch: 'tiny-cnn', classNames: [...FASHION_MNIST_CLASSES] });
    await writeFile(join(runDir, 'report.json'), JSON.stringify({
      arch: 'tiny-cnn', config: { epochs: 3, optimizer: 'adam' }, classNames: [...FASHION_MNIST_CLASSES],
      test: { accuracy: 0.8, count: 10000, macro: { f1: 0.79 }, weighted: { f1: 0.79 } }, createdAt: '2026-01-01T00:00:00Z',
    }));
    const onnxPath = join(dir, 'm.onnx');
    const exported = await runExport({ model: runDir, out: onnxPath, parityImages: 32 });
    assert.ok(existsSync(onnxPath));
    assert.ok(exported.parity && exported.parity.relativeError <= 1e-4 && exported.parity.images === 32);
    const meta = await readModelMetadata(onnxPath);
    assert.equal(meta?.arch, 'tiny-cnn');
    assert.deepEqual(meta?.recipe, { epochs: 3, optimizer: 'adam' });
    assert.equal((meta?.metrics as { accuracy: number }).accuracy, 0.8);

    const int8Path = join(dir, 'm.int8.onnx');
    const q = await runQuantize({ model: onnxPath, out: int8Path, calibrationSize: 64, checkSize: 100, method: 'minmax' });
    assert.ok(q.int8Bytes < q.fp32Bytes);
    assert.equal(q.settings.calibrationSize, 64);
    assert.ok(q.check && q.check.images === 100 && q.check.agreement > 0.8, JSON.stringify(q.check));
    await assert.rejects(runQuantize({ model: int8Path, out: join(dir, 'again.onnx') }), /m\.int8\.onnx: already quantized/);

    // tfjs directory and its ONNX export predict the same classes.
    const fromTfjs = await runEvaluate({ model: runDir, limit: 100 });
    const fromOnnx = await runEvaluate({ model: onnxPath, limit: 100 });
    assert.deepEqual(fromOnnx.metrics.confusion, fromTfjs.metrics.confusion);
    await assert.rejects(runExport({ model: join(dir, 'missing'), out: join(dir, 'x.onnx') }), /missing: not a directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
