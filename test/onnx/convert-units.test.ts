import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { convertLayersModel, IR_VERSION, OPSET } from '../../training/onnx/convert.ts';
import { exportToOnnx, metadataFromTrainReport, PARITY_TOLERANCE } from '../../training/onnx/export.ts';
import { decodeModel, getAttr, toNumber, valueInfoDims, type NodeProto } from '../../src/onnx/proto.ts';
import { parseModelMetadata, DEFAULT_PREPROCESSING } from '../../src/onnx/metadata.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { EDGELOOM_VERSION } from '../../src/version.ts';
import { randomImages, randomizeStats, useCpuBackend } from './helpers.ts';

/**
 * The tfjs -> ONNX converter on small models, layer kind by layer kind: the refusals (with the layer
 * named), and for what it accepts, parity with tfjs through onnxruntime on random images (the
 * exporter's own check, at 1e-4 of the logit scale) plus the graph shape the runtime relies on.
 * Complements export.test.ts.
 */
before(useCpuBackend);
const L = tf.layers;
type ST = tf.SymbolicTensor;

async function parity(model: tf.LayersModel, label: string): Promise<Uint8Array> {
  randomizeStats(model, 7);
  const { parity: p, bytes } = await exportToOnnx(model, { parityInput: randomImages(6, 3) });
  assert.ok(p, label);
  assert.ok(p.relativeError <= PARITY_TOLERANCE, `${label}: relative error ${p.relativeError}`);
  assert.ok(p.maxAbsDiffEmbedding <= 1e-3 * Math.max(1, p.logitScale), `${label}: embedding differs by ${p.maxAbsDiffEmbedding}`);
  return bytes;
}

const nodesOf = (bytes: Uint8Array): NodeProto[] => decodeModel(bytes).graph?.node ?? [];
const opsOf = (bytes: Uint8Array) => nodesOf(bytes).map((n) => n.opType);
const intsOf = (n: NodeProto, name: string) => (getAttr(n, name)?.ints ?? []).map(toNumber);

function refuses(build: () => tf.LayersModel, message: RegExp): void {
  const model = build();
  try {
    assert.throws(() => convertLayersModel(model), (e: Error) => e instanceof UserError && message.test(e.message), String(message));
  } finally {
    model.dispose();
  }
}

test('refused: several inputs, other input shapes, shared layers, channelsFirst, Dense on images, non-channel concat or BN, mixed element orders, an image embedding', () => {
  refuses(() => {
    const a = tf.input({ shape: [28, 28, 1] });
    const b = tf.input({ shape: [28, 28, 1] });
    const s = L.add().apply([a, b]) as ST;
    const f = L.flatten({ name: 'embedding' }).apply(s) as ST;
    return tf.model({ inputs: [a, b], outputs: L.dense({ units: 10, name: 'logits' }).apply(f) as ST });
  }, /^model has 2 inputs, expected one 28x28x1 image input$/);
  refuses(() => tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 3], name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] }),
    /^model input shape \[,28,28,3\] is not supported, expected \[null,28,28,1\] or \[null,784\]$/);
  refuses(() => tf.sequential({ layers: [L.dense({ inputShape: [100], units: 4, name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] }), /input shape \[,100\] is not supported/);
  refuses(() => {
    const inp = tf.input({ shape: [784] });
    const shared = L.dense({ units: 784, name: 'shared' });
    const twice = shared.apply(shared.apply(inp) as ST) as ST;
    const e = L.dense({ units: 8, name: 'embedding' }).apply(twice) as ST;
    return tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST });
  }, /^layer shared is used 2 times; shared layers are not supported$/);
  refuses(() => tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 1, dataFormat: 'channelsFirst', name: 'cf' }), L.flatten({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] }), /^layer cf: dataFormat channelsFirst is not supported \(channelsLast only\)$/);
  refuses(() => tf.sequential({ layers: [L.dense({ inputShape: [28, 28, 1], units: 3, name: 'd4' }), L.flatten({ name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] }),
    /^layer d4: Dense on a 4-D tensor is not supported \(add a Flatten or global pooling first\)$/);
  refuses(() => {
    const inp = tf.input({ shape: [28, 28, 1] });
    const cat = L.concatenate({ axis: 1, name: 'rows' }).apply([inp, inp]) as ST;
    const f = L.flatten({ name: 'embedding' }).apply(cat) as ST;
    return tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(f) as ST });
  }, /^layer rows: only channel concatenation is supported$/);
  refuses(() => tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3 }), L.batchNormalization({ axis: 1, name: 'bnh' }), L.flatten({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] }), /^layer bnh: BatchNormalization over axis 1 is not supported \(channels only\)$/);
  refuses(() => {
    // Same size (2x13x13 = 338), different element order: a flattened image and a Dense output.
    const inp = tf.input({ shape: [28, 28, 1] });
    const conv = L.conv2d({ filters: 2, kernelSize: 3, strides: 2 }).apply(inp) as ST;
    const flat = L.flatten().apply(conv) as ST;
    const dense = L.dense({ units: 338 }).apply(L.flatten().apply(inp) as ST) as ST;
    const sum = L.add({ name: 'mix' }).apply([flat, dense]) as ST;
    const e = L.dense({ units: 8, name: 'embedding' }).apply(sum) as ST;
    return tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST });
  }, /^layer mix: inputs have different shapes or element orders$/);
  refuses(() => {
    const inp = tf.input({ shape: [28, 28, 1] });
    const conv = L.conv2d({ filters: 2, kernelSize: 3, name: 'embedding' }).apply(inp) as ST;
    const g = L.globalAveragePooling2d({}).apply(conv) as ST;
    return tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(g) as ST });
  }, /^layer embedding \(the embedding output\) is not a flat \[N,D\] tensor$/);
  refuses(() => tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1], name: 'embedding' }), L.dense({ units: 10, activation: 'sigmoid', name: 'logits' })] }),
    /^layer logits: has a sigmoid activation, but the model contract needs raw logits \(no softmax\)$/);
});

test('merges: Add, Multiply, Maximum, Minimum and a three-way Average compute what tfjs does', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const branch = (k: number) => L.conv2d({ filters: 3, kernelSize: k, padding: 'same' }).apply(inp) as ST;
  const [a, b, c] = [branch(1), branch(3), branch(5)];
  const sub = L.add({}).apply([a, b]) as ST;
  const mul = L.multiply({}).apply([b, c, a]) as ST;
  const max = L.maximum({}).apply([a, c]) as ST;
  const min = L.minimum({}).apply([b, c]) as ST;
  const avg = L.average({ name: 'avg' }).apply([sub, mul, max]) as ST;
  const both = L.add({}).apply([avg, min]) as ST;
  const e = L.globalAveragePooling2d({ name: 'embedding' }).apply(both) as ST;
  const bytes = await parity(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(e) as ST }), 'merges');
  const ops = opsOf(bytes);
  for (const op of ['Max', 'Min', 'Sum', 'Add']) assert.ok(ops.includes(op), `${op} in ${ops.join(' ')}`);
  assert.equal(ops.filter((o) => o === 'Mul').length, 3, 'two Muls for the three-way Multiply, one for 1/3 of the Average');
});

test('activation layers: ReLU, capped ReLU, LeakyReLU and ELU with their defaults, a Softmax embedding', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 2 }),
    L.reLU({}),
    L.conv2d({ filters: 3, kernelSize: 3 }),
    L.reLU({ maxValue: 0.2 }),
    L.conv2d({ filters: 3, kernelSize: 3 }),
    L.leakyReLU({}),
    L.conv2d({ filters: 3, kernelSize: 3 }),
    L.elu({}),
    L.flatten(),
    L.dense({ units: 6 }),
    L.softmax({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  const bytes = await parity(model, 'activation layers');
  const nodes = nodesOf(bytes);
  const clip = nodes.find((n) => n.opType === 'Clip')!;
  assert.ok(clip, 'a capped ReLU is a Clip');
  assert.equal(nodes.filter((n) => n.opType === 'Relu').length, 1);
  assert.ok(Math.abs(getAttr(nodes.find((n) => n.opType === 'LeakyRelu')!, 'alpha')!.f! - 0.3) < 1e-7, 'Keras LeakyReLU default alpha 0.3');
  assert.deepEqual(nodes.filter((n) => n.opType === 'Elu').map((n) => getAttr(n, 'alpha')!.f), [1]);
  assert.equal(toNumber(getAttr(nodes.find((n) => n.opType === 'Softmax')!, 'axis')?.i), -1);
});

test('concatenation of flattened images (element orders joined) as the embedding; zero padding in every form; default pooling strides', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const c1 = L.conv2d({ filters: 2, kernelSize: 3, strides: 3 }).apply(inp) as ST;
  const c2 = L.conv2d({ filters: 3, kernelSize: 5, strides: 4 }).apply(inp) as ST;
  // Pooling before the zero padding: onnxruntime's PadFusion folds a Pad into a following MaxPool's
  // pads, which pad with -inf, not 0 (wrong when a window's real values are all negative).
  const pool1 = L.zeroPadding2d({ padding: 1 }).apply(L.maxPooling2d({ poolSize: 3 }).apply(c1) as ST) as ST;
  const pool2 = L.zeroPadding2d({ padding: [[2, 0], [0, 1]] }).apply(L.averagePooling2d({ poolSize: [2, 3], strides: [1, 2] }).apply(c2) as ST) as ST;
  const dense = L.dense({ units: 4 }).apply(L.flatten().apply(inp) as ST) as ST;
  const cat = L.concatenate({ name: 'embedding' }).apply([L.flatten().apply(pool1) as ST, dense, L.flatten().apply(pool2) as ST]) as ST;
  const model = tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(cat) as ST });
  const bytes = await parity(model, 'concat');
  const nodes = nodesOf(bytes);
  const pads = nodes.filter((n) => n.opType === 'Pad');
  assert.equal(pads.length, 2);
  const maxPool = nodes.find((n) => n.opType === 'MaxPool')!;
  assert.deepEqual(intsOf(maxPool, 'strides'), [3, 3], 'strides default to the pool size');
  const gather = nodes.find((n) => n.opType === 'Gather');
  assert.ok(gather, 'the embedding is put back in tfjs order');
  assert.deepEqual(gather.output, ['embedding']);
  const g = decodeModel(bytes).graph!;
  // c1 9x9 -> pool 3x3 -> pad 5x5; c2 6x6 -> avg 5x2 -> pad 7x3.
  assert.deepEqual(g.output!.map((o) => valueInfoDims(o)), [['N', 10], ['N', 2 * 5 * 5 + 4 + 3 * 7 * 3]]);
});

test('channel concatenation and BatchNorm: folded after a linear Conv, SeparableConv or Dense with one reader; standalone otherwise', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const sep = L.separableConv2d({ filters: 4, kernelSize: 3, depthMultiplier: 2, strides: 2 }).apply(inp) as ST;
  const sepBn = L.batchNormalization({ epsilon: 0.01 }).apply(sep) as ST;
  const dw = L.depthwiseConv2d({ kernelSize: 3, strides: 2 }).apply(inp) as ST;
  const dwBn = L.batchNormalization({}).apply(dw) as ST;
  // A conv read twice (its BN and the concatenation) cannot take the BN into its weights.
  const shared = L.conv2d({ filters: 2, kernelSize: 3, strides: 2 }).apply(inp) as ST;
  const sharedBn = L.batchNormalization({}).apply(shared) as ST;
  const cat = L.concatenate({ axis: 3 }).apply([sepBn, dwBn, sharedBn, shared]) as ST;
  const flat = L.flatten().apply(cat) as ST;
  const d = L.dense({ units: 6 }).apply(flat) as ST;
  const dBn = L.batchNormalization({ name: 'embedding' }).apply(d) as ST;
  const model = tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(dBn) as ST });
  const bytes = await parity(model, 'bn folding');
  const nodes = nodesOf(bytes);
  const concat = nodes.find((n) => n.opType === 'Concat')!;
  assert.equal(toNumber(getAttr(concat, 'axis')?.i), 1, 'channels are axis 1 in NCHW');
  // Only the shared conv's BN stays as Mul + Add; the embedding BN is folded into its Dense.
  assert.equal(nodes.filter((n) => n.opType === 'Mul').length, 1);
  assert.equal(nodes.filter((n) => n.opType === 'Add').length, 1);
  const sepConvs = nodes.filter((n) => n.opType === 'Conv' && n.name!.includes('separable'));
  assert.equal(sepConvs.length, 2, 'separable = depthwise (grouped) + pointwise Conv');
  assert.equal(toNumber(getAttr(sepConvs[0], 'group')?.i), 1 * 1, 'one input channel: group 1');
});

test('a BN after a Conv with an activation, or after a Dense with another width, stays standalone', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 3, activation: 'relu' }),
    L.batchNormalization({}),
    L.flatten(),
    L.dense({ units: 5, activation: 'tanh' }),
    L.batchNormalization({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  const bytes = await parity(model, 'standalone bn');
  assert.equal(opsOf(bytes).filter((o) => o === 'Mul').length, 2);
});

test('exportToOnnx: metadata defaults (version, arch = model name, classes, preprocessing, export time) under the caller\'s; sizes', async () => {
  const model = tf.sequential({ name: 'three', layers: [L.dense({ inputShape: [784], units: 5, name: 'embedding' }), L.dense({ units: 3, name: 'logits' })] });
  const before = Date.now();
  const r = await exportToOnnx(model);
  assert.equal(r.parity, null, 'no parity images: no check');
  assert.deepEqual([r.numClasses, r.embeddingSize], [3, 5]);
  const meta = parseModelMetadata(r.bytes)!;
  assert.deepEqual([meta.version, meta.arch, meta.classes], [EDGELOOM_VERSION, 'three', ['class 0', 'class 1', 'class 2']]);
  assert.deepEqual(meta.preprocessing, DEFAULT_PREPROCESSING);
  const at = Date.parse(meta.exportedAt!);
  assert.ok(at >= before - 1000 && at <= Date.now() + 1000, meta.exportedAt);
  const own = await exportToOnnx(model, { metadata: { arch: 'mine', classes: ['x', 'y', 'z'] } });
  assert.deepEqual([parseModelMetadata(own.bytes)?.arch, parseModelMetadata(own.bytes)?.classes], ['mine', ['x', 'y', 'z']]);
  const m = decodeModel(r.bytes);
  assert.deepEqual([toNumber(m.irVersion), toNumber(m.opsetImport![0].version), m.producerName, m.producerVersion, m.graph!.name], [IR_VERSION, OPSET, 'edgeloom', EDGELOOM_VERSION, 'three']);
  assert.deepEqual(m.graph!.input!.map((i) => [i.name, valueInfoDims(i)]), [['input', ['N', 1, 28, 28]]]);
  const ten = tf.sequential({ layers: [L.dense({ inputShape: [784], units: 4, name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] });
  assert.deepEqual(parseModelMetadata((await exportToOnnx(ten)).bytes)?.classes, [...FASHION_MNIST_CLASSES]);
  // Parity report fields, on a model whose last Dense makes the logits and the one before the embedding.
  const p = (await exportToOnnx(ten, { parityInput: randomImages(5, 2), tolerance: 1e-3 })).parity!;
  assert.equal(p.images, 5);
  assert.equal(p.tolerance, 1e-3);
  assert.equal(p.top1Agreement, 1);
  assert.ok(p.logitScale > 0 && p.maxAbsDiffLogits <= p.relativeError * Math.max(p.logitScale, 1e-6) + 1e-12);
  assert.ok(Number.isFinite(p.maxAbsDiffEmbedding));
  [model, ten].forEach((x) => x.dispose());
});

test('unnamed outputs: the last layer is the logits and its input the embedding; layers are renamed to the contract names without an Identity', async () => {
  const model = tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1] }), L.dense({ units: 7, activation: 'relu' }), L.dropout({ rate: 0.3 }), L.dense({ units: 10 })] });
  const bytes = await parity(model, 'unnamed');
  assert.ok(!opsOf(bytes).includes('Identity'));
  const c = convertLayersModel(model);
  assert.equal(c.embeddingSize, 7, 'dropout passes its input through: the embedding is the ReLU output');
  const producers = nodesOf(bytes).filter((n) => n.output!.includes('embedding') || n.output!.includes('logits')).map((n) => n.opType);
  assert.deepEqual(producers, ['Relu', 'Gemm']);
});

test('metadataFromTrainReport: arch, recipe, test metrics and classes from the report over model.json\'s own', () => {
  assert.deepEqual(metadataFromTrainReport(null, null), {});
  assert.deepEqual(metadataFromTrainReport(null, { arch: 'cnn', classNames: ['a', 'b'] }), { arch: 'cnn', classes: ['a', 'b'] });
  const full = metadataFromTrainReport({
    arch: 'edgenet', config: { epochs: 3 }, classNames: ['x', 'y'], test: { accuracy: 0.9, count: 100, macro: { f1: 0.8 }, weighted: { f1: 0.85 } }, createdAt: '2026-01-01T00:00:00Z',
  }, { arch: 'old', classNames: ['a', 'b'] });
  assert.deepEqual(full, {
    arch: 'edgenet', recipe: { epochs: 3 }, classes: ['x', 'y'],
    metrics: { split: 'test', accuracy: 0.9, macroF1: 0.8, weightedF1: 0.85, count: 100, trainedAt: '2026-01-01T00:00:00Z' },
  });
  // Fields of the wrong type are ignored, model.json's values stay.
  const odd = metadataFromTrainReport({ arch: 7 as unknown as string, config: 'x' as unknown as object, classNames: ['a', 3] as unknown as string[], test: { count: 5 } }, { arch: 'own' });
  assert.deepEqual(odd, { arch: 'own' });
  assert.deepEqual(metadataFromTrainReport({ test: { accuracy: 0.5 } }), {
    metrics: { split: 'test', accuracy: 0.5, macroF1: undefined, weightedF1: undefined, count: undefined, trainedAt: undefined },
  });
});

test('BatchNorm: explicit channel axes, no gamma, and never folded into the embedding layer (the embedding is the pre-BN value)', async () => {
  const model = tf.sequential({ layers: [
    L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 3 }),
    L.batchNormalization({ axis: 3, scale: false }),
    L.flatten(),
    L.dense({ units: 6, name: 'embedding' }),
    L.batchNormalization({ axis: 1 }),
    L.dense({ units: 10, name: 'logits' }),
  ] });
  const bytes = await parity(model, 'bn axes');
  // The Conv's BN is folded; the embedding's stays standalone (Mul + Add).
  assert.equal(opsOf(bytes).filter((o) => o === 'Mul').length, 1);
  refuses(() => tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3 }), L.batchNormalization({ axis: 2, name: 'bnw' }), L.flatten({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] }), /^layer bnw: BatchNormalization over axis 2 is not supported/);
});

test('concatenation of plain vectors keeps their order: no Gather for the embedding', async () => {
  const inp = tf.input({ shape: [784] });
  const a = L.dense({ units: 3, activation: 'tanh' }).apply(inp) as ST;
  const b = L.dense({ units: 4 }).apply(inp) as ST;
  const cat = L.concatenate({ name: 'embedding' }).apply([a, b]) as ST;
  const bytes = await parity(tf.model({ inputs: inp, outputs: L.dense({ units: 10, name: 'logits' }).apply(cat) as ST }), 'vector concat');
  assert.ok(!opsOf(bytes).includes('Gather'));
  assert.equal(nodesOf(bytes).find((n) => n.opType === 'Concat')!.output![0], 'embedding');
});
