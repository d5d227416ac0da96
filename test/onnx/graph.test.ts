import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GraphBuilder, convKernelFromOnnx, convKernelToOnnx, emitActivation, flattenPerm, samePads, validOut,
} from '../../training/onnx/graph.ts';
import { attr, DataType, encodeModel, floatValueInfo, getAttr, tensorDims, tensorFloats, toNumber, type TensorProto } from '../../src/onnx/proto.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';

/**
 * The exporter's graph helpers, without tfjs: names, initializers, the ONNX form of every Keras
 * activation (run in onnxruntime against the formula written here), padding and layout maths.
 */
test('GraphBuilder: unique names (reserved ones included), float and int64 initializers, nodes named after their output', () => {
  const g = new GraphBuilder();
  g.reserve('logits');
  assert.equal(g.uniqueName('logits'), 'logits_1');
  assert.equal(g.uniqueName('a'), 'a');
  assert.equal(g.uniqueName('a'), 'a_1');
  assert.equal(g.uniqueName('a'), 'a_2');
  const w = g.addFloat('w', [2], new Float32Array([1, 2]));
  const w2 = g.addFloat('w', [1], new Float32Array([3]));
  assert.deepEqual([w, w2], ['w', 'w_1']);
  assert.deepEqual(g.floatInit('w'), { dims: [2], values: new Float32Array([1, 2]) });
  const idx = g.addInt64('idx', [3, 1, 2]);
  assert.throws(() => g.floatInit(idx), /initializer idx is not a float tensor under construction/);
  assert.throws(() => g.floatInit('nope'), /initializer nope is not a float tensor under construction/);
  const { node, output } = g.node('Relu', ['x'], 'y', [attr('alpha', 2)]);
  assert.equal(output, 'y');
  assert.deepEqual([node.opType, node.input, node.output, node.name], ['Relu', ['x'], ['y'], 'y/Relu']);
  assert.equal(toNumber(getAttr(node, 'alpha')?.i), 2);
  assert.equal(g.node('Relu', ['y'], 'y').output, 'y_1', 'a second node on the same base gets a new output');
  assert.deepEqual(g.nodes.map((n) => n.name), ['y/Relu', 'y/Relu_1']);
  const protos = new Map(g.initializerProtos().map((t) => [t.name!, t as TensorProto]));
  assert.deepEqual([...protos.keys()], ['w', 'w_1', 'idx']);
  assert.deepEqual(tensorFloats(protos.get('w_1')!), new Float32Array([3]));
  assert.deepEqual(tensorDims(protos.get('w')!), [2]);
  assert.equal(protos.get('idx')!.dataType, DataType.INT64);
  assert.deepEqual(tensorDims(protos.get('idx')!), [3]);
});

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => Math.log(1 + Math.exp(x));
const FORMULAS: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  relu6: (x) => Math.min(6, Math.max(0, x)),
  sigmoid,
  tanh: Math.tanh,
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  selu: (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1)),
  softplus,
  softsign: (x) => x / (1 + Math.abs(x)),
  hardSigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
  hard_sigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
  swish: (x) => x * sigmoid(x),
  mish: (x) => x * Math.tanh(softplus(x)),
};

/** Runs `activation` on a [2,784] tensor (x from -8 to 8) through onnxruntime; returns the output. */
async function runActivation(activation: string, rank: 2 | 4): Promise<{ x: Float32Array; y: Float32Array; g: GraphBuilder }> {
  const g = new GraphBuilder();
  g.reserve('input');
  g.reserve('logits');
  const flat = rank === 2 ? g.node('Flatten', ['input'], 'flat', [attr('axis', 1)]).output : 'input';
  const y = emitActivation(g, activation, flat, 'act', rank);
  const last = rank === 2 ? y : g.node('Flatten', [y], 'act/flat', [attr('axis', 1)]).output;
  g.nodes.push({ opType: 'Identity', input: [last], output: ['logits'], name: 'out', attribute: [] });
  const bytes = encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name: 'a', node: g.nodes, initializer: g.initializerProtos(), input: [floatValueInfo('input', ['N', 1, 28, 28])], output: [floatValueInfo('logits', ['N', 784])] },
  });
  const x = Float32Array.from({ length: 2 * 784 }, (_, i) => -8 + (16 * i) / (2 * 784 - 1));
  const s = await createOnnxSession(bytes);
  try {
    return { x, y: (await s.run(x, 2)).logits, g };
  } finally {
    await s.close();
  }
}

test('emitActivation: every supported Keras activation computes its formula in onnxruntime', async () => {
  for (const [name, f] of Object.entries(FORMULAS)) {
    const { x, y } = await runActivation(name, 2);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - f(x[i])) < 1e-5 * Math.max(1, Math.abs(f(x[i]))), `${name}(${x[i]}) = ${y[i]}, expected ${f(x[i])}`);
  }
  // linear (and no activation) adds nothing and returns the input tensor.
  for (const a of ['linear', undefined]) {
    const g = new GraphBuilder();
    assert.equal(emitActivation(g, a as string, 'x', 'out', 2), 'x');
    assert.equal(g.nodes.length, 0);
  }
  assert.throws(() => emitActivation(new GraphBuilder(), 'gelu', 'x', 'out', 2), /activation "gelu" is not supported by the ONNX exporter/);
});

test('emitActivation softmax: over the channel axis of an image (axis 1 in NCHW), over the features of a vector', async () => {
  const flat = await runActivation('softmax', 2);
  for (let r = 0; r < 2; r++) {
    const row = flat.x.subarray(r * 784, (r + 1) * 784);
    const m = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
    for (let i = 0; i < 784; i++) assert.ok(Math.abs(flat.y[r * 784 + i] - Math.exp(row[i] - m) / sum) < 1e-6);
  }
  // One channel: softmax over channels is 1 everywhere (over any other axis it would not be).
  const image = await runActivation('softmax', 4);
  assert.ok(image.y.every((v) => Math.abs(v - 1) < 1e-6));
  assert.equal(toNumber(getAttr(image.g.nodes.find((n) => n.opType === 'Softmax')!, 'axis')?.i), 1);
});

test('TF "same" padding puts the odd pixel at the end; "valid" output sizes', () => {
  assert.deepEqual(samePads(28, 3, 2, 1), { begin: 0, end: 1, out: 14 });
  assert.deepEqual(samePads(28, 3, 1, 1), { begin: 1, end: 1, out: 28 });
  assert.deepEqual(samePads(28, 3, 1, 2), { begin: 2, end: 2, out: 28 });
  assert.deepEqual(samePads(7, 4, 1, 1), { begin: 1, end: 2, out: 7 });
  assert.deepEqual(samePads(10, 4, 3, 1), { begin: 1, end: 2, out: 4 });
  assert.deepEqual(samePads(5, 2, 3, 1), { begin: 0, end: 0, out: 2 });
  // A kernel smaller than the stride needs no padding at all (never negative).
  assert.deepEqual(samePads(4, 1, 2, 1), { begin: 0, end: 0, out: 2 });
  assert.equal(validOut(28, 3, 1, 1), 26);
  assert.equal(validOut(28, 3, 2, 1), 13);
  assert.equal(validOut(28, 3, 1, 2), 24);
  assert.equal(validOut(28, 5, 3, 1), 8);
});

test('flattenPerm: ONNX NCHW flatten position -> tfjs NHWC flatten position', () => {
  assert.equal(flattenPerm(1, 4, 4), null, 'one channel: same order');
  assert.equal(flattenPerm(5, 1, 1), null, '1x1 spatial: same order');
  // C=2, H=2, W=3: NCHW index c*6 + y*3 + x holds NHWC index (y*3 + x)*2 + c.
  const p = flattenPerm(2, 2, 3)!;
  const expected: number[] = [];
  for (let c = 0; c < 2; c++) for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) expected.push((y * 3 + x) * 2 + c);
  assert.deepEqual(Array.from(p), expected);
  assert.deepEqual(Array.from(flattenPerm(3, 1, 2)!), [0, 3, 1, 4, 2, 5]);
});

test('conv kernels: HWIO <-> OIHW element by element, and back', () => {
  const [kh, kw, ci, co] = [2, 3, 2, 4];
  const hwio = Float32Array.from({ length: kh * kw * ci * co }, (_, i) => i);
  const oihw = convKernelToOnnx(hwio, kh, kw, ci, co);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
    assert.equal(oihw[((o * ci + i) * kh + y) * kw + x], hwio[((y * kw + x) * ci + i) * co + o], `o${o} i${i} y${y} x${x}`);
  }
  assert.deepEqual(convKernelFromOnnx(oihw, co, ci, kh, kw), hwio);
});
