import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatQuantize, runQuantize, type QuantizeCommandResult } from '../../training/quantize/run.ts';
import { quantizeModel } from '../../training/quantize/quantize.ts';
import { subset, type ImageSet } from '../../training/data/dataset.ts';
import { stratifiedSample } from '../../training/data/split.ts';
import { toModelInput } from '../../src/preprocess.ts';
import { parseModelMetadata } from '../../src/onnx/metadata.ts';
import { UserError } from '../../src/errors.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';
import { tinyTorchCnn } from '../onnx/foreign.ts';
import { tinyModel, writeTinyQuantizeInputs } from './tiny.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { predictedClasses } from '../helpers/onnx-run.ts';

/**
 * `edgeloom quantize` (runQuantize) in process, on the tiny hand-written model and a small CSV data
 * set written here (30 training, 20 test images): what it writes is quantizeModel's result for the
 * training images it says it used, and its fp32-vs-int8 check is recomputed here image by image.
 */
let dir: string;
let data: string;
let train: ImageSet;
let testSet: ImageSet;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'el-qrun-'));
  ({ data, train, test: testSet } = await writeTinyQuantizeInputs(dir, 30));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs fn with its log captured (test/helpers/capture-log.ts) as one string. */
async function withLog<T>(fn: () => Promise<T>): Promise<{ result: T; log: string }> {
  const { value, lines } = await captureLog(fn);
  return { result: value, log: lines.join('') };
}

test('runQuantize (defaults): writes quantizeModel\'s model for the training images, and checks it against fp32 on the test images', async () => {
  const model = join(dir, 'tiny.onnx');
  const out = join(dir, 'tiny.int8.onnx');
  const { result: r, log } = await withLog(() => runQuantize({ model, out, data }));
  const fp32 = new Uint8Array(await readFile(model));
  const written = new Uint8Array(await readFile(out));
  // The default calibration size (512) is more than the 30 training images: all of them, in order.
  const expected = await quantizeModel(fp32, toModelInput(train.images), { calibrationSeed: QUANTIZE_DEFAULTS.calibrationSeed });
  assert.deepEqual(written, new Uint8Array(expected.bytes));
  assert.deepEqual(r.settings, expected.settings);
  assert.equal(r.settings.calibrationSize, 30);
  assert.deepEqual([r.out, r.fp32Bytes, r.int8Bytes, r.quantizedTensors, r.data], [out, fp32.length, written.length, 5, data]);

  // The check: every test image (20 < the default 1000), fp32 and int8 against the labels and each other.
  const a = await predictedClasses(fp32, testSet);
  const b = await predictedClasses(written, testSet);
  const rate = (f: (i: number) => boolean) => a.filter((_, i) => f(i)).length / a.length;
  assert.deepEqual(r.check, {
    images: 20,
    fp32Accuracy: rate((i) => a[i] === testSet.labels[i]),
    int8Accuracy: rate((i) => b[i] === testSet.labels[i]),
    agreement: rate((i) => a[i] === b[i]),
  });
  assert.match(log, /calibrating on 30 training images \(percentile\), target cpu/);
  assert.match(log, new RegExp(`data: ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`), 'a --data spec is named as it is');
});

test('runQuantize passes its options on: target, method, per-tensor, reduce-range, seed and a calibration sample', async () => {
  const out = join(dir, 'trt.onnx');
  const r = await runQuantize({ model: join(dir, 'tiny.onnx'), out, data, target: 'tensorrt', method: 'minmax', perTensor: true, reduceRange: true, seed: 5, calibrationSize: 10, checkSize: 0 });
  assert.equal(r.check, null, '--check-size 0 skips the check');
  assert.deepEqual(r.settings, {
    format: 'QDQ', target: 'tensorrt', method: 'minmax', calibrationSize: 10, calibrationSeed: 5, perChannel: false, reduceRange: true, activationType: 'int8', weightType: 'int8',
  });
  // Calibrated on a stratified sample of 10 training images drawn with the seed: one per class.
  const sample = subset(train, stratifiedSample(train.labels, 10, 10, 5));
  assert.deepEqual([...sample.labels].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const expected = await quantizeModel(new Uint8Array(await readFile(join(dir, 'tiny.onnx'))), toModelInput(sample.images),
    { target: 'tensorrt', method: 'minmax', perChannel: false, reduceRange: true, calibrationSeed: 5 });
  assert.deepEqual(new Uint8Array(await readFile(out)), new Uint8Array(expected.bytes));

  const pct = await runQuantize({ model: join(dir, 'tiny.onnx'), out: join(dir, 'pct.onnx'), data, percentile: 90, checkSize: 0 });
  assert.equal(pct.settings.percentile, 90);
});

test('runQuantize takes the data from the model\'s recipe when --data is not given', async () => {
  const model = join(dir, 'recipe.onnx');
  await writeFile(model, tinyModel({ metadata: { recipe: { data } } }));
  const { result: r, log } = await withLog(() => runQuantize({ model, out: join(dir, 'recipe.int8.onnx'), checkSize: 4 }));
  assert.equal(r.data, data);
  assert.equal(r.check?.images, 4, 'a stratified sample of 4 test images');
  assert.match(log, /\(the model's training data, from its recipe\)/);
});

test('runQuantize adopts a foreign model in memory; without an embedding it warns that no drift profile is made', async () => {
  const model = join(dir, 'torch.onnx');
  await writeFile(model, tinyTorchCnn(10));
  const out = join(dir, 'torch.int8.onnx');
  const { result: r, log } = await withLog(() => runQuantize({ model, out, data, embedding: 'none', checkSize: 0 }));
  assert.equal(r.settings.format, 'QDQ');
  const meta = parseModelMetadata(await readFile(out));
  assert.equal(meta?.adopted?.inputName, 'input.1');
  assert.equal(meta?.driftReference, undefined);
  assert.match(log, /torch\.onnx: not an edgeloom model, adopted in memory/);
  assert.match(log, /torch\.onnx: no `embedding` output, so no drift profile \(the agent needs both\); name the penultimate tensor with --embedding TENSOR/);
});

test('runQuantize refuses a missing model, a calibration size below 1 and a quantized model, and writes nothing', async () => {
  const out = join(dir, 'refused.onnx');
  const refuses = async (opts: Parameters<typeof runQuantize>[0], message: RegExp) => {
    await assert.rejects(runQuantize(opts), (e: Error) => e instanceof UserError && message.test(e.message));
    assert.ok(!existsSync(out));
  };
  await refuses({ model: join(dir, 'nope.onnx'), out, data }, /^--model .*nope\.onnx: not found$/);
  await refuses({ model: join(dir, 'tiny.onnx'), out, data, calibrationSize: 0 }, /^--calibration-size: expected a positive integer, got 0$/);
  await refuses({ model: join(dir, 'tiny.onnx'), out, data, calibrationSize: Number.NaN }, /^--calibration-size: expected a positive integer, got NaN$/);
  await refuses({ model: join(dir, 'tiny.int8.onnx'), out, data }, /tiny\.int8\.onnx: already quantized \(cpu, percentile\); quantize the float model from `edgeloom export`$/);
});

test('formatQuantize: what was written, the size change and the check', () => {
  const r: QuantizeCommandResult = {
    out: 'm.int8.onnx',
    settings: { format: 'QDQ', target: 'cpu', method: 'entropy', calibrationSize: 8, calibrationSeed: 1, perChannel: true, reduceRange: true, activationType: 'uint8', weightType: 'int8' },
    fp32Bytes: 4096,
    int8Bytes: 1024,
    quantizedTensors: 7,
    check: { images: 200, fp32Accuracy: 0.9, int8Accuracy: 0.885, agreement: 0.97 },
    data: 'fashion-mnist',
  };
  assert.equal(formatQuantize(r), [
    'wrote m.int8.onnx: cpu QDQ, entropy, per-channel weights (reduce-range), 7 activation tensors',
    'size: fp32 4.0 KiB -> int8 1.0 KiB (25%)',
    'check on 200 test images of fashion-mnist: fp32 90.00%, int8 88.50%, agreement 97.00%',
  ].join('\n'));
  const plain = formatQuantize({ ...r, settings: { ...r.settings, target: 'tensorrt', perChannel: false, reduceRange: false }, int8Bytes: 1536, check: null });
  assert.equal(plain, 'wrote m.int8.onnx: tensorrt QDQ, entropy, per-tensor weights, 7 activation tensors\nsize: fp32 4.0 KiB -> int8 1.5 KiB (38%)');
});
