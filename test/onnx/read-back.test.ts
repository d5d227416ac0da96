import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { exportToOnnx } from '../../training/onnx/export.ts';
import { fp32InitFor, readOnnxInitMeta, readOnnxWeights } from '../../training/onnx/read-back.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { decodeModel, encodeModel, int8Tensor } from '../../src/onnx/proto.ts';
import { parseModelMetadata, writeModelMetadata, type QuantizationSettings } from '../../src/onnx/metadata.ts';
import { UserError } from '../../src/errors.ts';
import { exportedArchitecture, randomImages, useCpuBackend } from './helpers.ts';

/**
 * `train --init model.onnx` reading an exported model back into its tfjs architecture, on small
 * architectures exported here (random weights and BatchNorm statistics): the read-back model
 * computes what onnxruntime computes on the file, with or without calibration images; files that
 * do not match are refused with the file named.
 */
let dir: string;
before(async () => {
  await useCpuBackend();
  dir = await mkdtemp(join(tmpdir(), 'el-readback-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const CLASSES5 = ['a', 'b', 'c', 'd', 'e'];

async function exported(arch: string, classes = CLASSES5, seed = 3): Promise<{ path: string; bytes: Uint8Array }> {
  const bytes = await exportedArchitecture(arch, classes, seed);
  const path = join(dir, `${arch}-${classes.length}-${seed}.onnx`);
  await writeFile(path, bytes);
  return { path, bytes };
}

async function ortLogits(bytes: Uint8Array, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await createOnnxSession(bytes);
  try {
    return (await s.run(x, n)).logits;
  } finally {
    await s.close();
  }
}

function tfjsLogits(model: tf.LayersModel, x: Float32Array, n: number): Float32Array {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor4d(x, [n, 28, 28, 1]));
    return (Array.isArray(y) ? y[0] : y).dataSync() as Float32Array;
  });
}

function assertClose(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4 * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** Pixels as training data arrive (uint8), and the same as model input. */
function calibration(count: number): { pixels: Uint8Array; input: Float32Array } {
  const input = randomImages(count, 21);
  const pixels = Uint8Array.from(input, (v) => Math.round(v * 255));
  return { pixels, input: Float32Array.from(pixels, (v) => v / 255) };
}

test('read back: folded BN (customnet, conv without bias, flatten -> dropout -> dense), standalone BN (lenet5-bn), plain MLP: same logits as onnxruntime', async () => {
  const x = randomImages(3, 5);
  for (const arch of ['customnet', 'lenet5-bn', 'mlp']) {
    const { path, bytes } = await exported(arch);
    const expected = await ortLogits(bytes, x, 3);
    for (const images of [calibration(6).pixels, new Uint8Array(0)]) {
      const back = await readOnnxWeights(path, images);
      assert.deepEqual([back.arch, back.classes], [arch, CLASSES5]);
      assertClose(tfjsLogits(back.model, x, 3), expected, `${arch} (${images.length ? 'calibrated' : 'no calibration'})`);
      back.model.dispose();
    }
  }
});

test('read back: BatchNorm moving statistics are the calibration images\' own (mean and variance of the BN input)', async () => {
  const { path } = await exported('lenet5-bn');
  const { pixels, input } = calibration(4);
  const back = await readOnnxWeights(path, pixels);
  const bn = back.model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
  const probe = tf.model({ inputs: back.model.inputs, outputs: bn.input as tf.SymbolicTensor });
  const { mean, variance } = tf.tidy(() => {
    const m = tf.moments(probe.predict(tf.tensor4d(input, [4, 28, 28, 1])) as tf.Tensor, [0, 1, 2]);
    return { mean: m.mean.dataSync() as Float32Array, variance: m.variance.dataSync() as Float32Array };
  });
  const w = new Map(bn.weights.map((v, i) => [v.originalName.split('/').pop()!, bn.getWeights()[i].dataSync() as Float32Array]));
  for (let c = 0; c < mean.length; c++) {
    assert.ok(Math.abs(w.get('moving_mean')![c] - mean[c]) <= 1e-4 * Math.max(1, Math.abs(mean[c])), `mean ${c}`);
    assert.ok(Math.abs(w.get('moving_variance')![c] - variance[c]) <= 1e-4 * Math.max(1, variance[c]), `variance ${c}`);
  }
  back.model.dispose();
});

test('readOnnxInitMeta and refusals: int8 (naming its fp32 parent when its card does), foreign, unknown or mismatched architecture, wrong sizes and types', async () => {
  const { path, bytes } = await exported('mlp');
  assert.deepEqual(await readOnnxInitMeta(path), { arch: 'mlp', classes: CLASSES5 });
  const refused = async (file: string, message: RegExp) => {
    await assert.rejects(readOnnxWeights(file, new Uint8Array(0)), (e: Error) => e instanceof UserError && message.test(e.message), String(message));
  };
  const q: QuantizationSettings = { format: 'QDQ', target: 'cpu', method: 'minmax', calibrationSize: 1, calibrationSeed: 1, perChannel: true, reduceRange: false, activationType: 'uint8',
    weightType: 'int8' };
  const int8 = join(dir, 'm.int8.onnx');
  await writeFile(int8, writeModelMetadata(bytes, { ...parseModelMetadata(bytes)!, quantization: q }));
  await refused(int8, /^--init .*m\.int8\.onnx: an int8 model \(QDQ cpu\); its weights are rounded and cannot be fine-tuned: use its fp32 parent \(the model `edgeloom quantize` was run on\)$/);
  await writeFile(join(dir, 'm.int8.json'), JSON.stringify({ parent: { file: 'some/where/m.onnx' } }));
  await refused(int8, new RegExp(`use its fp32 parent, --init ${join(dir, 'm.onnx').replace(/[.]/g, '\\.')}$`));
  await assert.rejects(readOnnxInitMeta(int8, 'the parent'), /^UserError: the parent: an int8 model/);

  const plain = join(dir, 'plain.onnx');
  const m = decodeModel(bytes);
  m.metadataProps = [];
  await writeFile(plain, encodeModel(m));
  await refused(plain, /plain\.onnx: no edgeloom metadata \(arch, classes\); --init reads ONNX models written by edgeloom export or train$/);
  const noClasses = join(dir, 'noclasses.onnx');
  await writeFile(noClasses, writeModelMetadata(encodeModel(m), { arch: 'mlp' }));
  await refused(noClasses, /no edgeloom metadata \(arch, classes\)/);
  const foreign = join(dir, 'foreign.onnx');
  await writeFile(foreign, writeModelMetadata(bytes, { ...parseModelMetadata(bytes)!, arch: 'foreign' }));
  await refused(foreign, /foreign\.onnx: architecture "foreign" is not one edgeloom can train \(an adopted model cannot be fine-tuned by edgeloom\)$/);

  // An MLP file that says it is a CNN: the CNN's first layer is a Conv, whose weights are not the MLP's.
  const liar = join(dir, 'liar.onnx');
  await writeFile(liar, writeModelMetadata(bytes, { ...parseModelMetadata(bytes)!, arch: 'cnn' }));
  await refused(liar, /liar\.onnx: layer .* weight kernel has \d+ values, the architecture needs 288 \[3,3,1,32\]$/);
  // The MLP with a wider first layer than mlp builds.
  const wide = ARCHITECTURES.mlp.build({ seed: 1, numClasses: 5, width: 120 });
  const wideBytes = (await exportToOnnx(wide, { metadata: { arch: 'mlp', classes: CLASSES5 } })).bytes;
  wide.dispose();
  const widePath = join(dir, 'wide.onnx');
  await writeFile(widePath, wideBytes);
  await refused(widePath, /wide\.onnx: layer .*: weight kernel has 94080 values, the architecture needs 78400 \[784,100\]$/);
  // An extra Dense in the file: left over.
  const lenet = await exported('lenet5', CLASSES5);
  const extra = join(dir, 'extra.onnx');
  await writeFile(extra, writeModelMetadata(lenet.bytes, { ...parseModelMetadata(lenet.bytes)!, arch: 'mlp' }));
  await refused(extra, /extra\.onnx: (layer .* has no counterpart in the file|layer .* weight kernel has)/);
  // Fewer layers in the file than the architecture has.
  const short = decodeModel(bytes);
  const shortInits = short.graph!.initializer!;
  const lastW = shortInits.findLastIndex((t) => t.name!.endsWith('/W'));
  short.graph!.initializer = shortInits.filter((_, i) => i !== lastW && i !== lastW + 1);
  const shortPath = join(dir, 'short.onnx');
  await writeFile(shortPath, encodeModel(short));
  await refused(shortPath, /short\.onnx: layer .* has no counterpart in the file \(expected a Conv or Gemm weight\); the file does not match the mlp architecture edgeloom builds today$/);
  // A bias missing, a weight stored as int8.
  const noBias = decodeModel(bytes);
  const firstB = noBias.graph!.initializer!.find((t) => t.name!.endsWith('/B'))!;
  noBias.graph!.initializer = noBias.graph!.initializer!.filter((t) => t !== firstB);
  const noBiasPath = join(dir, 'nobias.onnx');
  await writeFile(noBiasPath, encodeModel(noBias));
  await refused(noBiasPath, new RegExp(`nobias\\.onnx: initializer ${firstB.name!.replace(/[.]/g, '\\.')} not found$`));
  const int8W = decodeModel(bytes);
  const firstW = int8W.graph!.initializer!.findIndex((t) => t.name!.endsWith('/W'));
  int8W.graph!.initializer![firstW] = int8Tensor(int8W.graph!.initializer![firstW].name!, [784, 100], new Int8Array(78400));
  const int8WPath = join(dir, 'int8w.onnx');
  await writeFile(int8WPath, encodeModel(int8W));
  await refused(int8WPath, /int8w\.onnx: tensor .*: expected float32, found data type 3 \(an fp32 model from edgeloom export is needed\)$/);
});

test('fp32InitFor: an int8 model with its card\'s fp32 parent next to it resolves to the parent; anything else stays as given', async () => {
  const { bytes } = await exported('mlp');
  const sub = await mkdtemp(join(dir, 'init-'));
  const parent = join(sub, 'net.onnx');
  await writeFile(parent, bytes);
  const q: QuantizationSettings = { format: 'QDQ', target: 'cpu', method: 'minmax', calibrationSize: 1, calibrationSeed: 1, perChannel: true, reduceRange: false, activationType: 'uint8',
    weightType: 'int8' };
  const int8 = join(sub, 'net.int8.onnx');
  await writeFile(int8, writeModelMetadata(bytes, { ...parseModelMetadata(bytes)!, quantization: q }));
  assert.equal(await fp32InitFor(int8), int8, 'no card: as given');
  await writeFile(join(sub, 'net.int8.json'), JSON.stringify({ parent: { file: 'elsewhere/net.onnx' } }));
  assert.equal(await fp32InitFor(int8), parent, 'the card\'s parent, looked up next to the int8 file');
  assert.equal(await fp32InitFor(parent), parent, 'an fp32 model is its own init');
  await writeFile(join(sub, 'net.int8.json'), JSON.stringify({ parent: { file: 'gone.onnx' } }));
  assert.equal(await fp32InitFor(int8), int8, 'the parent is not there');
  await writeFile(join(sub, 'net.int8.json'), JSON.stringify({ parent: { file: 7 } }));
  assert.equal(await fp32InitFor(int8), int8);
  await writeFile(join(sub, 'net.int8.json'), '{not json');
  assert.equal(await fp32InitFor(int8), int8, 'an unreadable card is no card');
  assert.equal(await fp32InitFor(join(sub, 'missing.onnx')), join(sub, 'missing.onnx'));
  assert.equal(await fp32InitFor(sub), sub, 'a tfjs model directory');
});
