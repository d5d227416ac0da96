import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { convertLayersModel } from '../../training/onnx/convert.ts';
import { decodeModel, getAttr, onnx, tensorDims, tensorFloats, toNumber, type NodeProto } from '../../src/onnx/proto.ts';
import { UserError } from '../../src/errors.ts';
import { exportWithParity, randomImages, useCpuBackend } from './helpers.ts';
import { runOnce } from '../helpers/onnx-run.ts';

/**
 * The converter's less common paths, each against tfjs through onnxruntime (exportWithParity) or
 * against what the ONNX spec requires of the graph: layers without bias or centre, several input
 * channels into depthwise kernels, layer kinds and options convert-units.test.ts leaves out, models
 * whose contract outputs are unusual (the input, a pass-through, a flattened image), and the names
 * the graph's tensors carry. Complements convert-units.test.ts.
 */
before(useCpuBackend);
const L = tf.layers;
type ST = tf.SymbolicTensor;

const nodesOf = (bytes: Uint8Array): NodeProto[] => decodeModel(bytes).graph?.node ?? [];
const opsOf = (bytes: Uint8Array) => nodesOf(bytes).map((n) => n.opType);
const producer = (bytes: Uint8Array, tensor: string) => nodesOf(bytes).find((n) => n.output!.includes(tensor));

test('no bias, no BN centre, several channels into depthwise and separable kernels with a depth multiplier', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 2, useBias: false }),
    L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, useBias: false }),
    L.separableConv2d({ filters: 4, kernelSize: 3, depthMultiplier: 2, useBias: false, activation: 'relu' }),
    L.batchNormalization({ center: false }),
    L.flatten(),
    L.dense({ units: 6, useBias: false, name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  const bytes = await exportWithParity(model, 'no bias');
  const dw = nodesOf(bytes).filter((n) => n.opType === 'Conv' && toNumber(getAttr(n, 'group')?.i) > 1);
  // 3 channels in, 2 per channel: a depthwise conv is a Conv with one group per input channel.
  assert.deepEqual(dw.map((n) => toNumber(getAttr(n, 'group')?.i)), [3, 6]);
});

test('what ONNX requires of the graph: the default-domain opset, named initializers, every Conv and Gemm bias a float initializer of its output width', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 3 }),
    L.separableConv2d({ filters: 5, kernelSize: 3 }),
    L.depthwiseConv2d({ kernelSize: 3 }),
    L.flatten(),
    L.dense({ units: 6, name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  const bytes = await exportWithParity(model, 'spec');
  const m = decodeModel(bytes);
  // An empty domain is ai.onnx, the operator set every node here belongs to.
  assert.deepEqual(m.opsetImport!.map((o) => o.domain), ['']);
  const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, t]));
  assert.ok(!inits.has(''), 'an empty input name means "optional input left out" in ONNX: no initializer may have it');
  const convs = m.graph!.node!.filter((x) => x.opType === 'Conv' || x.opType === 'Gemm');
  // The separable layer's depthwise step has no bias (its one bias follows the pointwise step).
  assert.deepEqual(convs.map((n) => n.input!.length), [3, 2, 3, 3, 3, 3]);
  const widths: number[] = [];
  for (const n of convs.filter((x) => x.input!.length === 3)) {
    const w = inits.get(n.input![1])!;
    const b = inits.get(n.input![2]);
    assert.ok(b, `${n.name}: bias ${n.input![2]} is an initializer`);
    const out = tensorDims(w)[n.opType === 'Conv' ? 0 : 1];
    assert.equal(b.dataType, onnx.TensorProto.DataType.FLOAT);
    assert.deepEqual(tensorDims(b), [out]);
    assert.equal(tensorFloats(b).length, out);
    widths.push(out);
  }
  // conv 3, separable's pointwise 5, depthwise 5, dense 6 and 10.
  assert.deepEqual(widths, [3, 5, 5, 6, 10]);
});

test('pass-through layers (GaussianNoise, GaussianDropout, AlphaDropout) add no node', async () => {
  const layers = (noise: boolean) => [
    L.flatten({ inputShape: [28, 28, 1] }),
    ...(noise ? [L.gaussianNoise({ stddev: 0.5 })] : []),
    L.dense({ units: 6, activation: 'relu', name: 'embedding' }),
    ...(noise ? [L.gaussianDropout({ rate: 0.3 }), L.alphaDropout({ rate: 0.3 })] : []),
    L.dense({ units: 10, name: 'logits' }),
  ];
  const noisy = await exportWithParity(tf.sequential({ layers: layers(true) }), 'pass-through');
  assert.deepEqual(opsOf(noisy), opsOf(convertLayersModel(tf.sequential({ layers: layers(false) })).bytes));
});

test('Activation layers, a ReLU loaded from model.json (maxValue null), a LeakyReLU with its own alpha', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 2 }),
    L.activation({ activation: 'relu6' }),
    L.conv2d({ filters: 3, kernelSize: 3 }),
    L.reLU({}),
    L.conv2d({ filters: 3, kernelSize: 3 }),
    L.leakyReLU({ alpha: 0.1 }),
    L.flatten(),
    L.dense({ units: 6 }),
    L.activation({ activation: 'tanh', name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  // A saved and loaded model has `maxValue: null` where it was left out.
  const artifacts = await new Promise<tf.io.ModelArtifacts>((resolve) => {
    void model.save(tf.io.withSaveHandler(async (a) => {
      resolve(a);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
  });
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  assert.equal((loaded.layers[3].getConfig() as { maxValue?: unknown }).maxValue, null);
  const bytes = await exportWithParity(loaded, 'activations');
  const ops = opsOf(bytes);
  assert.deepEqual(['Clip', 'Relu', 'Tanh'].map((op) => ops.filter((o) => o === op).length), [1, 1, 1]);
  assert.ok(Math.abs(getAttr(nodesOf(bytes).find((n) => n.opType === 'LeakyRelu')!, 'alpha')!.f! - 0.1) < 1e-7);
});

test('pooling with same padding on odd sizes, global max pooling, image concatenation on the default axis', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const c = L.conv2d({ filters: 3, kernelSize: 3, strides: 2 }).apply(inp) as ST; // 13x13
  const maxp = L.maxPooling2d({ poolSize: 2, padding: 'same' }).apply(c) as ST; // 7x7, one padded row and column
  const avgp = L.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(c) as ST; // 7x7
  const cat = L.concatenate({}).apply([maxp, avgp]) as ST;
  const e = L.globalMaxPooling2d({ name: 'embedding' }).apply(cat) as ST;
  const bytes = await exportWithParity(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST }), 'pooling');
  const nodes = nodesOf(bytes);
  const pads = (op: string) => (getAttr(nodes.find((n) => n.opType === op)!, 'pads')?.ints ?? []).map(toNumber);
  // TensorFlow's same padding: total (7-1)*2+k-13, the odd pixel at the end.
  assert.deepEqual(pads('MaxPool'), [0, 0, 1, 1]);
  assert.deepEqual(pads('AveragePool'), [1, 1, 1, 1]);
  assert.equal(toNumber(getAttr(nodes.find((n) => n.opType === 'Concat')!, 'axis')?.i), 1);
  assert.ok(opsOf(bytes).includes('GlobalMaxPool'));
  assert.equal(decodeModel(bytes).graph!.output!.length, 2);
});

test('merges: one variadic Max, Min and Sum node for three inputs; binary Add and Mul chained; a standalone BN over a flattened image', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const branch = (k: number) => L.conv2d({ filters: 2, kernelSize: k, strides: 4, padding: 'same' }).apply(inp) as ST;
  const [a, b, c] = [branch(1), branch(3), branch(5)];
  const max = L.maximum({ name: 'max3' }).apply([a, b, c]) as ST;
  const min = L.minimum({ name: 'min3' }).apply([a, b, c]) as ST;
  const avg = L.average({ name: 'avg3' }).apply([a, b, c]) as ST;
  const sum = L.add({ name: 'add3' }).apply([max, min, avg]) as ST;
  // Read twice (the BN and the Add), the Flatten's BN cannot fold: Mul + Add over tfjs's element order.
  const flat = L.flatten().apply(sum) as ST;
  const bn = L.batchNormalization({}).apply(flat) as ST;
  const e = L.dense({ units: 6, name: 'embedding' }).apply(L.add({}).apply([bn, flat]) as ST) as ST;
  const bytes = await exportWithParity(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST }), 'merges');
  const nodes = nodesOf(bytes);
  for (const op of ['Max', 'Min', 'Sum']) assert.deepEqual(nodes.filter((n) => n.opType === op).map((n) => n.input!.length), [3], op);
  // ONNX Add is binary: three inputs take two nodes; the flat Add and the BN's Add one each.
  assert.equal(nodes.filter((n) => n.opType === 'Add').length, 4);
});

test('every layer\'s tensor in the graph carries the tfjs layer\'s name; a layer\'s inner steps are named under it', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const cr = L.conv2d({ filters: 2, kernelSize: 3, strides: 3, activation: 'relu', name: 'c_relu' }).apply(inp) as ST;
  const cl = L.conv2d({ filters: 2, kernelSize: 3, name: 'c_lin' }).apply(cr) as ST;
  const sr = L.separableConv2d({ filters: 2, kernelSize: 3, activation: 'relu', name: 's_relu' }).apply(cl) as ST;
  const sl = L.separableConv2d({ filters: 2, kernelSize: 1, name: 's_lin' }).apply(sr) as ST;
  const one = L.conv2d({ filters: 2, kernelSize: 1, name: 'one' }).apply(sr) as ST;
  const max = L.maximum({ name: 'mx' }).apply([sl, sr, one]) as ST;
  const avg = L.average({ name: 'avg' }).apply([sl, sr, max]) as ST;
  const add = L.add({ name: 'add' }).apply([sl, one, avg]) as ST;
  const g = L.globalAveragePooling2d({ name: 'gap' }).apply(add) as ST;
  const dr = L.dense({ units: 5, activation: 'relu', name: 'd_relu' }).apply(g) as ST;
  const dl = L.dense({ units: 6, name: 'd_lin' }).apply(dr) as ST;
  const e = L.dense({ units: 6, activation: 'tanh', name: 'embedding' }).apply(dl) as ST;
  const bytes = await exportWithParity(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST }), 'names');
  const outputs = nodesOf(bytes).flatMap((n) => n.output!);
  const under = (layer: string) => outputs.filter((o) => o === layer || o.startsWith(`${layer}/`) || o.startsWith(`${layer}_`));
  assert.deepEqual(under('c_relu'), ['c_relu/pre', 'c_relu']);
  assert.deepEqual(under('c_lin'), ['c_lin']);
  assert.deepEqual(under('s_relu'), ['s_relu/depthwise', 's_relu/pre', 's_relu']);
  assert.deepEqual(under('s_lin'), ['s_lin/depthwise', 's_lin']);
  assert.deepEqual(under('mx'), ['mx']);
  assert.deepEqual(under('avg'), ['avg/sum', 'avg']);
  assert.deepEqual(under('add'), ['add/1', 'add']);
  assert.deepEqual(under('gap'), ['gap/pool', 'gap']);
  assert.deepEqual(under('d_relu'), ['d_relu/pre', 'd_relu']);
  assert.deepEqual(under('d_lin'), ['d_lin']);
  assert.deepEqual(under('embedding'), ['embedding/pre', 'embedding']);
});

test('contract outputs: the input pixels as the embedding of a one-Dense Sequential; the embedding and the logits one tensor (a final Dropout, a linear Activation after the logits)', async () => {
  const oneDense = tf.sequential({ layers: [L.dense({ inputShape: [784], units: 10, name: 'logits' })] });
  const c = convertLayersModel(oneDense);
  assert.deepEqual([c.embeddingLayer, c.embeddingSize, c.numClasses], [oneDense.inputs[0].sourceLayer.name, 784, 10]);
  const x = randomImages(2, 5);
  const run = await runOnce(c.bytes, x, 2);
  assert.deepEqual(run.embedding, x, 'the embedding is the image, flattened');
  const expected = (oneDense.predict(tf.tensor2d(x, [2, 784])) as tf.Tensor).dataSync();
  run.logits.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-4, `logit ${i}: ${v} vs ${expected[i]}`));

  const dropped = tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1] }), L.dense({ units: 10 }), L.dropout({ rate: 0.5 })] });
  const bytes = await exportWithParity(dropped, 'final dropout');
  assert.deepEqual(producer(bytes, 'embedding')?.input, ['logits'], 'one tensor under both names');
  const twice = await runOnce(bytes, x, 2);
  assert.deepEqual(twice.embedding, twice.logits);
  // The same with the embedding after the logits (a linear Activation: a copy of the logits tensor).
  const after = tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1] }), L.dense({ units: 10, name: 'logits' }), L.activation({ activation: 'linear', name: 'embedding' })] });
  assert.deepEqual(producer(await exportWithParity(after, 'embedding after the logits'), 'embedding')?.input, ['logits']);
});

test('contract outputs: a layer named logits before a softmax head; a flattened image as the logits; a layer named input', async () => {
  const headed = tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1] }), L.dense({ units: 6, name: 'embedding' }), L.dense({ units: 10, name: 'logits' }), L.softmax()] });
  const c = convertLayersModel(headed);
  assert.equal(c.logitsLayer, 'logits', 'the raw logits, not the softmax after them');
  assert.equal(producer(c.bytes, 'logits')?.opType, 'Gemm');

  // 2 channels of 2x2: 8 "classes" in tfjs's NHWC order, put back by a Gather into `logits`.
  const inp = tf.input({ shape: [28, 28, 1] });
  const conv = L.conv2d({ filters: 2, kernelSize: 14, strides: 14 }).apply(inp) as ST;
  const logits = L.flatten({ name: 'logits' }).apply(conv) as ST;
  const e = L.globalAveragePooling2d({ name: 'embedding' }).apply(conv) as ST;
  const bytes = await exportWithParity(tf.model({ inputs: inp, outputs: [logits, e] }), 'flattened logits');
  assert.equal(producer(bytes, 'logits')?.opType, 'Gather');

  const named = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3, strides: 3, name: 'input' }), L.flatten({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] });
  const nb = await exportWithParity(named, 'a layer named input');
  assert.deepEqual(nodesOf(nb)[0].input![0], 'input', 'the image input is read by the first Conv');
  assert.notEqual(nodesOf(nb)[0].output![0], 'input');
});

test('refused: a layer kind without an ONNX form, causal padding, merges of tensors whose shapes or element orders differ anywhere', () => {
  const refuses = (model: tf.LayersModel, message: RegExp) =>
    assert.throws(() => convertLayersModel(model), (err: Error) => err instanceof UserError && message.test(err.message), String(message));
  refuses(tf.sequential({ layers: [L.upSampling2d({ inputShape: [28, 28, 1], name: 'up' }), L.flatten({ name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] }),
    /^layer up: UpSampling2D is not supported by the ONNX exporter$/);
  refuses(tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3, padding: 'causal' as 'same', name: 'cc' }), L.flatten({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] }), /^layer cc: causal padding is not supported$/);
  const inp = tf.input({ shape: [28, 28, 1] });
  const three = L.conv2d({ filters: 3, kernelSize: 1 }).apply(inp) as ST;
  const mixed = L.add({ name: 'bcast' }).apply([three, inp]) as ST;
  const e = L.globalAveragePooling2d({ name: 'embedding' }).apply(mixed) as ST;
  refuses(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST }), /^layer bcast: inputs have different shapes or element orders$/);
  // 18 + 12 values each, the same order for the first 18 (a flattened 3x3x2 map), then a flattened
  // 2x2x3 map (ONNX's NCHW order) against a Dense output (one order in both runtimes).
  const img = L.flatten().apply(L.conv2d({ filters: 2, kernelSize: 3, strides: 9 }).apply(inp) as ST) as ST;
  const map = L.flatten().apply(L.conv2d({ filters: 3, kernelSize: 14, strides: 14 }).apply(inp) as ST) as ST;
  const vec = L.dense({ units: 12 }).apply(L.flatten().apply(inp) as ST) as ST;
  const late = L.add({ name: 'late' }).apply([L.concatenate({}).apply([img, map]) as ST, L.concatenate({}).apply([img, vec]) as ST]) as ST;
  const le = L.dense({ units: 6, name: 'embedding' }).apply(late) as ST;
  refuses(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(le) as ST }), /^layer late: inputs have different shapes or element orders$/);
});
