import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { exportToOnnx, checkParity } from '../../training/onnx/export.ts';
import { convertLayersModel } from '../../training/onnx/convert.ts';
import { flattenPerm, samePads } from '../../training/onnx/graph.ts';
import { decodeModel } from '../../src/onnx/proto.ts';
import { randomImages, randomizeStats, useCpuBackend } from './helpers.ts';

before(useCpuBackend);

const L = tf.layers;

async function assertParity(model: tf.LayersModel, label: string) {
  randomizeStats(model);
  const { parity, bytes } = await exportToOnnx(model, { parityInput: randomImages(16) });
  assert.ok(parity, label);
  assert.ok(parity.relativeError <= 1e-4, `${label}: relative error ${parity.relativeError}`);
  assert.ok(parity.maxAbsDiffEmbedding <= 1e-4 * Math.max(1, parity.logitScale) * 10, `${label}: embedding diff ${parity.maxAbsDiffEmbedding}`);
  return bytes;
}

function ops(bytes: Uint8Array): string[] {
  return (decodeModel(bytes).graph?.node ?? []).map((n) => n.opType ?? '');
}

test('conv (same/valid, strides, dilation) + folded BN with non-default epsilon + pooling + flatten + dense', async () => {
  const model = tf.sequential({
    name: 'seq_cnn',
    layers: [
      L.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same' }),
      L.batchNormalization({ epsilon: 0.05 }),
      L.activation({ activation: 'relu' }),
      L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
      L.conv2d({ filters: 6, kernelSize: [3, 2], dilationRate: 2, padding: 'valid', activation: 'relu' }),
      L.averagePooling2d({ poolSize: 2, padding: 'same' }),
      L.flatten(),
      L.dense({ units: 12 }),
      L.batchNormalization({ epsilon: 1e-3 }),
      L.activation({ activation: 'relu', name: 'embedding' }),
      L.dropout({ rate: 0.5 }),
      L.dense({ units: 10, name: 'logits' }),
    ],
  });
  const bytes = await assertParity(model, 'seq_cnn');
  const o = ops(bytes);
  assert.ok(!o.includes('BatchNormalization'), 'BN after conv is folded into the Conv weights');
  assert.equal(o.filter((x) => x === 'Mul').length, 0, 'no standalone BN needed');
  assert.ok(!o.includes('Transpose'), 'flatten order is fixed by permuting Dense rows, not by a Transpose');
});

test('folding uses the layer epsilon: a wrong epsilon would break parity', async () => {
  const model = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3 }), L.batchNormalization({ epsilon: 0.5 }), L.globalAveragePooling2d({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] });
  randomizeStats(model);
  const { bytes } = await exportToOnnx(model, { parityInput: randomImages(4) });
  const probe = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3 }), L.batchNormalization({ epsilon: 1e-5 }), L.globalAveragePooling2d({ name: 'embedding' }),
    L.dense({ units: 10, name: 'logits' })] });
  probe.setWeights(model.getWeights());
  await assert.rejects(checkParity(probe, bytes, randomImages(4), 'logits', 'embedding', 1e-4), /parity check failed/);
});

test('functional graph: residual Add, depthwise and separable conv, concat, standalone BN, global pooling', async () => {
  const inp = tf.input({ shape: [28, 28, 1] });
  const c1 = L.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
  const c2 = L.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false }).apply(c1) as tf.SymbolicTensor;
  const b2 = L.batchNormalization({ epsilon: 0.01 }).apply(c2) as tf.SymbolicTensor;
  const res = L.add().apply([c1, b2]) as tf.SymbolicTensor;
  const r = L.reLU({ maxValue: 6 }).apply(res) as tf.SymbolicTensor;
  const sbn = L.batchNormalization({ center: false }).apply(r) as tf.SymbolicTensor; // after relu: standalone
  const dw = L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same' }).apply(sbn) as tf.SymbolicTensor;
  const sep = L.separableConv2d({ filters: 5, kernelSize: 3, padding: 'valid', activation: 'relu6' }).apply(sbn) as tf.SymbolicTensor;
  const pooled = L.maxPooling2d({ poolSize: 2 }).apply(sep) as tf.SymbolicTensor;
  const z = L.zeroPadding2d({ padding: [[1, 0], [0, 1]] }).apply(pooled) as tf.SymbolicTensor;
  const g1 = L.globalAveragePooling2d({}).apply(dw) as tf.SymbolicTensor;
  const g2 = L.globalMaxPooling2d({}).apply(z) as tf.SymbolicTensor;
  const cat = L.concatenate({ name: 'embedding' }).apply([g1, g2]) as tf.SymbolicTensor;
  const logits = L.dense({ units: 10, name: 'logits' }).apply(cat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: logits, name: 'functional' });
  const bytes = await assertParity(model, 'functional');
  const o = ops(bytes);
  assert.ok(o.includes('Add') && o.includes('Concat') && o.includes('Clip'));
});

test('activations: sigmoid, tanh, elu, selu, softplus, softsign, swish, hard sigmoid, leaky relu, softmax', async () => {
  const layers: tf.layers.Layer[] = [L.flatten({ inputShape: [28, 28, 1] })];
  for (const activation of ['sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'hardSigmoid', 'mish'] as const) {
    layers.push(L.dense({ units: 16, activation: activation as 'relu' }));
  }
  layers.push(L.leakyReLU({ alpha: 0.2 }), L.elu({}), L.dense({ units: 12, activation: 'softmax', name: 'embedding' }), L.dense({ units: 10, name: 'logits' }));
  await assertParity(tf.sequential({ layers }), 'activations');
});

test('flatten order: a conv-flatten-dense model with distinct channels matches element by element, including a flattened embedding', async () => {
  const model = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 5, strides: 3 }), L.flatten({ name: 'embedding' }), L.batchNormalization({}),
    L.dense({ units: 10, name: 'logits' })] });
  await assertParity(model, 'flatten');
});

test('an MLP with a [784] input', async () => {
  const model = tf.sequential({ layers: [L.dense({ inputShape: [784], units: 20, activation: 'relu', name: 'embedding' }), L.dense({ units: 10, name: 'logits' })] });
  await assertParity(model, 'mlp');
});

test('unsupported layers are refused with the layer name', () => {
  const model = tf.sequential({ layers: [L.conv2d({ inputShape: [28, 28, 1], filters: 2, kernelSize: 3 }), L.upSampling2d({ name: 'up' }), L.flatten(), L.dense({ units: 10, name: 'logits' })] });
  assert.throws(() => convertLayersModel(model), /layer up: UpSampling2D is not supported/);
});

test('a logits layer with softmax is refused: the contract needs raw logits', () => {
  const model = tf.sequential({ layers: [L.flatten({ inputShape: [28, 28, 1], name: 'embedding' }), L.dense({ units: 10, activation: 'softmax', name: 'logits' })] });
  assert.throws(() => convertLayersModel(model), /layer logits: has a softmax activation, but the model contract needs raw logits/);
});

test('padding and flatten-order maths', () => {
  assert.deepEqual(samePads(28, 3, 2, 1), { begin: 0, end: 1, out: 14 });
  assert.deepEqual(samePads(28, 3, 1, 2), { begin: 2, end: 2, out: 28 });
  assert.equal(flattenPerm(1, 4, 4), null);
  // C=2,H=1,W=2: ONNX order (c0w0,c0w1,c1w0,c1w1) holds tfjs indices (0,2,1,3).
  assert.deepEqual(Array.from(flattenPerm(2, 1, 2)!), [0, 2, 1, 3]);
});
