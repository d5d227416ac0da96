import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fp32InitFor, readOnnxInitMeta, readOnnxWeights } from '../../training/onnx/read-back.ts';
import { decodeModel, encodeModel, floatTensor, tensorFloats, type TensorProto } from '../../src/onnx/proto.ts';
import { parseModelMetadata, writeModelMetadata } from '../../src/onnx/metadata.ts';
import { UserError } from '../../src/errors.ts';
import { runOnce } from '../helpers/onnx-run.ts';
import { exportedArchitecture, randomImages, useCpuBackend } from './helpers.ts';

/**
 * `train --init model.onnx` beyond read-back.test.ts: an architecture with no Flatten before its
 * classifier, the exact BatchNorm parameters without calibration images, and files that are
 * refused (or not) by how their initializers are named and sized.
 */
let dir: string;
before(async () => {
  await useCpuBackend();
  dir = await mkdtemp(join(tmpdir(), 'el-readback-edges-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const CLASSES = ['a', 'b', 'c'];

async function saved(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** The file with its initializers replaced by `edit`'s result. */
function withInitializers(bytes: Uint8Array, edit: (inits: TensorProto[]) => TensorProto[]): Uint8Array {
  const m = decodeModel(bytes);
  m.graph!.initializer = edit(m.graph!.initializer! as TensorProto[]);
  return encodeModel(m);
}

const floats = (inits: TensorProto[], name: string): Float32Array => tensorFloats(inits.find((t) => t.name === name)!);

async function refused(path: string, message: RegExp): Promise<void> {
  await assert.rejects(readOnnxWeights(path, new Uint8Array(0)), (e: Error) => e instanceof UserError && message.test(e.message), String(message));
}

const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('read back edgenet: global pooling -> dropout -> dense takes the kernel as it is (only a Flatten permutes rows), same logits as onnxruntime', async () => {
  const bytes = await exportedArchitecture('edgenet', CLASSES);
  const x = randomImages(2, 7);
  const expected = (await runOnce(bytes, x, 2)).logits;
  const back = await readOnnxWeights(await saved('edgenet.onnx', bytes), new Uint8Array(0));
  const got = tf.tidy(() => (back.model.predict(tf.tensor4d(x, [2, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
  back.model.dispose();
  const scale = Math.max(1, ...Array.from(expected, Math.abs));
  assert.equal(got.length, expected.length);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - expected[i]) <= 1e-4 * scale, `logit ${i}: ${got[i]} vs ${expected[i]}`);
});

test('without calibration images each BatchNorm is exactly y = s*x + t: gamma = s, beta = t, moving mean 0, moving variance 1 - epsilon', async () => {
  // lenet5-bn: BN after a Conv+ReLU, kept as bn_scale/bn_shift; customnet: BN folded into a Conv without bias (s = 1, t = its B).
  for (const arch of ['lenet5-bn', 'customnet']) {
    const bytes = await exportedArchitecture(arch, CLASSES);
    const inits = decodeModel(bytes).graph!.initializer! as TensorProto[];
    const names = inits.map((t) => t.name!);
    const scales = names.filter((n) => n.endsWith('/bn_scale'));
    const back = await readOnnxWeights(await saved(`${arch}.onnx`, bytes), new Uint8Array(0));
    const bns = back.model.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    assert.equal(bns.length, 3, arch);
    for (const [k, bn] of bns.entries()) {
      const w = new Map(bn.weights.map((v, i) => [v.originalName.split('/').pop()!, bn.getWeights()[i].dataSync() as Float32Array]));
      const eps = (bn.getConfig() as { epsilon: number }).epsilon;
      const n = w.get('gamma')!.length;
      // The k-th BN's s and t: its own bn_scale/bn_shift, or the k-th Conv's bias and ones.
      const s = arch === 'lenet5-bn' ? floats(inits, scales[k]) : new Float32Array(n).fill(1);
      const t = arch === 'lenet5-bn' ? floats(inits, scales[k].replace(/bn_scale$/, 'bn_shift')) : floats(inits, names.filter((x) => x.endsWith('/B'))[k]);
      for (let c = 0; c < n; c++) {
        const at = `${arch} BN ${k} channel ${c}`;
        assert.ok(Math.abs(w.get('gamma')![c] - s[c]) <= 1e-6 * Math.abs(s[c]), `${at} gamma ${w.get('gamma')![c]} vs ${s[c]}`);
        assert.ok(Math.abs(w.get('beta')![c] - t[c]) <= 1e-6 * Math.max(1, Math.abs(t[c])), `${at} beta`);
        assert.equal(w.get('moving_mean')![c], 0, `${at} moving mean`);
        assert.ok(Math.abs(w.get('moving_variance')![c] - (1 - eps)) <= 1e-7, `${at} moving variance ${w.get('moving_variance')![c]} vs ${1 - eps}`);
      }
    }
    back.model.dispose();
  }
});

test('BatchNorm scale or shift of the wrong length is refused naming the file and the layer, not loaded as NaN', async () => {
  const bn = await exportedArchitecture('lenet5-bn', CLASSES);
  const firstScale = decodeModel(bn).graph!.initializer!.find((t) => t.name!.endsWith('/bn_scale'))!.name!;
  const resized = (name: string, by: number) => withInitializers(bn, (inits) => inits.map((t) => {
    if (t.name !== name) return t;
    const v = tensorFloats(t);
    const out = new Float32Array(v.length + by);
    out.set(v.subarray(0, Math.min(v.length, out.length)));
    return floatTensor(name, [out.length], out);
  }));
  // The first BN follows a 32-filter Conv.
  const shortShift = await saved('short-shift.onnx', resized(firstScale.replace(/bn_scale$/, 'bn_shift'), -1));
  await refused(shortShift, new RegExp(`^--init ${escaped(shortShift)}: layer \\S+: BatchNorm scale and shift have 32 and 31 values, the architecture needs 32$`));
  const longScale = await saved('long-scale.onnx', resized(firstScale, 1));
  await refused(longScale, /long-scale\.onnx: layer \S+: BatchNorm scale and shift have 33 and 32 values, the architecture needs 32$/);
  // customnet: the first Conv has no bias of its own, so its B is the folded BN's shift.
  const folded = await exportedArchitecture('customnet', CLASSES);
  const firstB = decodeModel(folded).graph!.initializer!.find((t) => t.name!.endsWith('/B'))!.name!;
  const shortB = await saved('short-b.onnx', withInitializers(folded, (inits) => inits.map((t) => (t.name === firstB ? floatTensor(firstB, [31], tensorFloats(t).slice(0, 31)) : t))));
  await refused(shortB, /short-b\.onnx: layer \S+: BatchNorm scale and shift have 32 and 31 values, the architecture needs 32$/);
});

test('files whose weight tensors do not line up with the architecture: no graph, a W missing beside its B, one layer too many', async () => {
  const bytes = await exportedArchitecture('mlp', CLASSES);
  const noGraph = await saved('no-graph.onnx', writeModelMetadata(encodeModel({ irVersion: 8 }), { arch: 'mlp', classes: CLASSES }));
  await refused(noGraph, /no-graph\.onnx: layer \S+ has no counterpart in the file \(expected a Conv or Gemm weight\); the file does not match the mlp architecture edgeloom builds today$/);
  const firstW = decodeModel(bytes).graph!.initializer!.find((t) => t.name!.endsWith('/W'))!.name!;
  const noW = await saved('no-w.onnx', withInitializers(bytes, (inits) => inits.filter((t) => t.name !== firstW)));
  await refused(noW, /no-w\.onnx: layer \S+ has no counterpart in the file \(expected a Conv or Gemm weight\)/);
  const one = new Float32Array([1]);
  const extra = await saved('extra.onnx', withInitializers(bytes, (inits) => [...inits, floatTensor('extra/W', [1, 1], one), floatTensor('extra/B', [1], one)]));
  await refused(extra, /extra\.onnx: 1 weight tensor\(s\) left over; the file does not match the mlp architecture edgeloom builds today$/);
});

test('only initializers named exactly <layer>/W, /B, /bn_scale or /bn_shift are layer weights: others (constants of other ops) are ignored', async () => {
  const bytes = await exportedArchitecture('mlp', CLASSES);
  const one = new Float32Array([1]);
  const others = ['extra/Weights', 'extra/Bias', 'extra/bn_scales', 'relu6/max'].map((name) => floatTensor(name, [1], one));
  const path = await saved('others.onnx', withInitializers(bytes, (inits) => [...inits, ...others]));
  const [plain, withOthers] = [await readOnnxWeights(await saved('plain.onnx', bytes), new Uint8Array(0)), await readOnnxWeights(path, new Uint8Array(0))];
  const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(weights(withOthers.model), weights(plain.model));
  plain.model.dispose();
  withOthers.model.dispose();
});

test('readOnnxInitMeta names the file as --init PATH by default; fp32InitFor keeps an .onnx file without edgeloom metadata as given', async () => {
  const bytes = await exportedArchitecture('mlp', CLASSES);
  const foreign = await saved('foreign-arch.onnx', writeModelMetadata(bytes, { ...parseModelMetadata(bytes)!, arch: 'foreign' }));
  await assert.rejects(readOnnxInitMeta(foreign), (e: Error) => e instanceof UserError && e.message.startsWith(`--init ${foreign}: architecture "foreign"`));
  const m = decodeModel(bytes);
  m.metadataProps = [];
  const plain = await saved('no-metadata.onnx', encodeModel(m));
  assert.equal(await fp32InitFor(plain), plain);
});
