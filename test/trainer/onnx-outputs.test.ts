import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { selectBackend } from '../../training/backend/index.ts';
import type { ImageSet } from '../../training/data/dataset.ts';
import { saveTfjsModel } from '../../training/model/io.ts';
import { writeOnnxOutputs } from '../../training/trainer/onnx-outputs.ts';
import { runEdgeloom as edgeloom } from '../helpers/run-cli.ts';



const TINY = ['train', '--arch', 'lenet5', '--epochs', '1', '--limit', '500', '--json'];

test('train ends with model.onnx and model.int8.onnx: loadable, with metadata, listed in report.json', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-onnx-'));
  const r = await edgeloom([...TINY, '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.match(r.stderr, /exporting ONNX to .*model\.onnx/);
  assert.match(r.stderr, /quantizing to .*model\.int8\.onnx/);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report.onnx, summary.onnx);
  assert.equal(report.onnx.fp32.path, join(out, 'model.onnx'));
  assert.equal(report.onnx.int8.path, join(out, 'model.int8.onnx'));
  assert.ok(report.onnx.fp32.parityMaxAbsDiff < 1e-3);
  assert.ok(report.onnx.int8.sizeRatio > 0.1 && report.onnx.int8.sizeRatio < 0.5, String(report.onnx.int8.sizeRatio));
  // A --limit run evaluates the int8 model on a stratified 2,000-image subset of the test set.
  assert.equal(report.onnx.int8.test.count, 2000);
  assert.ok(Math.abs(report.onnx.int8.test.accuracy - report.onnx.int8.test.tfjsAccuracy) < 0.05);
  assert.ok(summary.files.includes('model.onnx') && summary.files.includes('model.int8.onnx'));
  assert.match(await readFile(join(out, 'report.md'), 'utf8'), /## ONNX[\s\S]*model\.int8\.onnx/);

  for (const [file, accuracy] of [['model.onnx', report.test.accuracy], ['model.int8.onnx', report.onnx.int8.test.accuracy]] as const) {
    const meta = await readModelMetadata(join(out, file));
    assert.equal(meta?.arch, 'lenet5', file);
    assert.deepEqual(meta?.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(meta?.metrics?.accuracy, accuracy, file);
    assert.equal((meta?.recipe as { limit?: number } | undefined)?.limit, 500);
    const session = await createOnnxSession(join(out, file));
    try {
      const res = await session.run(new Float32Array(2 * 784).fill(0.5), 2);
      assert.equal(res.logits.length, 20);
    } finally {
      await session.close();
    }
  }
  assert.equal((await readModelMetadata(join(out, 'model.int8.onnx')))?.quantization?.format, 'QDQ');
  // Same drift profiles as `edgeloom export` / `quantize` write: inside the model and beside it.
  for (const file of ['model.onnx', 'model.int8.onnx']) {
    assert.ok((await readModelMetadata(join(out, file)))?.driftReference, file);
    assert.ok(existsSync(join(out, `${file}.drift.json`)), file);
  }
  assert.equal(report.onnx.fp32.driftProfile, true);
});

test('--no-onnx writes no ONNX file (and removes an earlier run\'s); --no-quantize skips only int8', async () => {
  const out = await mkdtemp(join(tmpdir(), 'el-noonnx-'));
  await writeFile(join(out, 'model.int8.onnx'), 'stale');
  await writeFile(join(out, 'model.onnx.drift.json'), 'stale');
  const r = await edgeloom([...TINY, '--out', out, '--no-onnx']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).onnx, null);
  assert.ok(existsSync(join(out, 'model.json')));
  assert.ok(!existsSync(join(out, 'model.onnx')) && !existsSync(join(out, 'model.int8.onnx')) && !existsSync(join(out, 'model.onnx.drift.json')));
  assert.equal(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).onnx, undefined);

  const q = await edgeloom([...TINY, '--out', out, '--no-quantize']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(JSON.parse(q.stdout).onnx.int8, null);
  assert.ok(existsSync(join(out, 'model.onnx')) && !existsSync(join(out, 'model.int8.onnx')));
});

test('a failing export is one UserError line and writes no ONNX file', async () => {
  await selectBackend('auto');
  const out = await mkdtemp(join(tmpdir(), 'el-onnxfail-'));
  // A softmax logits layer breaks the model contract (logits out), so the exporter refuses it.
  const input = tf.input({ shape: [28, 28, 1] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const emb = tf.layers.dense({ units: 8, activation: 'relu', name: 'embedding' }).apply(flat) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10, activation: 'softmax', name: 'logits' }).apply(emb) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits, name: 'bad' });
  await saveTfjsModel(model, out, { arch: 'bad', classNames: [...FASHION_MNIST_CLASSES] });
  const set: ImageSet = { images: new Uint8Array(20 * 784), labels: Uint8Array.from({ length: 20 }, (_, i) => i % 10), count: 20, classNames: FASHION_MNIST_CLASSES };
  await assert.rejects(
    writeOnnxOutputs({ model, out, arch: 'bad', train: set, test: set, tfjsPredicted: new Uint8Array(20), quick: true, quantize: true, log: createLogger('test') }),
    (err: unknown) => err instanceof UserError && /^ONNX export failed \(.*softmax.*\); the tfjs model and report in .+ are kept$/.test(err.message) && !err.message.includes('\n'),
  );
  assert.ok(!existsSync(join(out, 'model.onnx')));
  assert.ok(existsSync(join(out, 'model.json')));
  model.dispose();
});
