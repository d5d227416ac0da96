import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insertQdq, loadGraph, removeQuantizableActivations, tensorsToQuantize, type QdqOptions } from '../../training/quantize/qdq.ts';
import { encodeModel, floatTensor, floatValueInfo, getIntAttr, makeNode, tensorDims, type NodeProto, type TensorProto } from '../../src/onnx/proto.ts';
import { tinyModelProto, TINY_CONV_FILTERS, TINY_EMBEDDING, type ModelSpec } from './tiny.ts';

/**
 * insertQdq and its helpers, op by op: which ops make their neighbours quantized, which pass their
 * input's scale on, which activations fold, and the exact tensor layout of what is added (shapes,
 * unnamed Q/DQ nodes, no stray attributes). Complements qdq.test.ts.
 */
const CPU: QdqOptions = { target: 'cpu', perChannel: true, reduceRange: false };

function model(nodes: NodeProto[], inits: TensorProto[] = [], outputs = ['logits']): ModelSpec {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', input: [floatValueInfo('input', ['N', 4])], output: outputs.map((o) => floatValueInfo(o, ['N', 4])), initializer: inits, node: nodes },
  };
}
const graphOf = (m: ModelSpec) => loadGraph(encodeModel(m));
const w4 = (name: string) => floatTensor(name, [4, 4], Float32Array.from({ length: 16 }, (_, i) => (i - 7.5) / 8));
const producerOf = (nodes: NodeProto[], t: string) => nodes.find((n) => (n.output ?? []).includes(t));

/** input -> Sigmoid -> s -> OP -> y -> Tanh -> logits: OP alone decides whether s and y are quantized. */
function around(op: string, extraInputs: string[] = [], inits: TensorProto[] = []) {
  return graphOf(model([
    makeNode('Sigmoid', ['input'], ['s'], 'sig'),
    makeNode(op, ['s', ...extraInputs], ['y'], 'op'),
    makeNode('Tanh', ['y'], ['logits'], 'tanh'),
  ], inits));
}

test('tensorsToQuantize (cpu): each integer-capable op quantizes its activation input and its output; other ops nothing', () => {
  for (const op of ['Add', 'Mul', 'MatMul', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'Flatten', 'Concat']) {
    assert.deepEqual(tensorsToQuantize(around(op), 'cpu'), ['s', 'y'], op);
  }
  for (const op of ['Conv', 'Gemm']) assert.deepEqual(tensorsToQuantize(around(op, ['w'], [w4('w')]), 'cpu'), ['s', 'y'], op);
  for (const op of ['Relu', 'Sigmoid', 'Softmax', 'Reshape', 'Transpose', 'Sub']) assert.deepEqual(tensorsToQuantize(around(op), 'cpu'), [], op);
  // A Conv/Gemm quantizes its data input only, even when B is computed (and so not a weight).
  assert.deepEqual(tensorsToQuantize(around('Gemm', ['input']), 'cpu'), ['s', 'y']);
  // Other ops quantize every activation input; an omitted optional input ('') is no tensor.
  assert.deepEqual(tensorsToQuantize(around('Concat', ['input', '']), 'cpu'), ['s', 'input', 'y']);
});

test('insertQdq (cpu): MaxPool, GlobalMaxPool, Flatten, Reshape and Transpose pass their input\'s scale on; averaging and arithmetic ops do not', () => {
  const ranges = (y: [number, number]) => new Map<string, [number, number]>([['s', [0, 1]], ['y', y]]);
  for (const op of ['MaxPool', 'GlobalMaxPool', 'Flatten', 'Reshape', 'Transpose']) {
    const r = insertQdq(around(op), ranges([0, 4]), CPU);
    assert.deepEqual(r.activationParams.get('y'), r.activationParams.get('s'), op);
  }
  for (const op of ['AveragePool', 'GlobalAveragePool', 'Add', 'Concat']) {
    const r = insertQdq(around(op), ranges([0, 4]), CPU);
    assert.equal(r.activationParams.get('y')?.scale, Math.fround(4 / 255), op);
  }
});

test('removeQuantizableActivations: a Clip after a Gemm folds only from exactly 0', () => {
  const clipAfterGemm = (lo: string) => graphOf(model([
    makeNode('Gemm', ['input', 'w'], ['x'], 'gemm'),
    makeNode('Clip', ['x', lo, 'hi'], ['logits'], 'clip'),
  ], [w4('w'), floatTensor('zero', [], new Float32Array([0])), floatTensor('neg', [], new Float32Array([-1])), floatTensor('hi', [], new Float32Array([6]))]));
  assert.deepEqual(removeQuantizableActivations(clipAfterGemm('zero')), ['logits']);
  for (const lo of ['neg', '']) {
    const g = clipAfterGemm(lo);
    assert.deepEqual(removeQuantizableActivations(g), [], `Clip(${lo || 'no minimum'})`);
    assert.deepEqual(g.nodes.map((n) => n.opType), ['Gemm', 'Clip']);
  }
});

test('insertQdq: every added tensor has its exact shape; Q/DQ nodes are unnamed and carry an axis only per channel', () => {
  const g = graphOf(tinyModelProto());
  removeQuantizableActivations(g);
  const ranges = new Map<string, [number, number]>([['input', [0, 1]], ['conv/act', [0, 2]], ['pool', [0, 2]], ['flat', [0, 2]], ['embedding', [0, 1]]]);
  const inits = (r: { initializers: TensorProto[] }) => new Map(r.initializers.map((t) => [t.name!, t]));
  for (const perChannel of [true, false]) {
    const r = insertQdq(g, ranges, { ...CPU, perChannel });
    const byName = inits(r);
    const dims = (t: string) => tensorDims(byName.get(t)!);
    const added = r.nodes.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear');
    assert.ok(added.length > 10);
    for (const n of added) assert.equal(n.name, '', `${n.opType} -> ${n.output![0]} is unnamed`);
    for (const [op, channels] of [['conv', TINY_CONV_FILTERS], ['fc', TINY_EMBEDDING], ['head', 10]] as const) {
      const node = r.nodes.find((n) => n.name === op)!;
      const wDq = producerOf(r.nodes, node.input![1])!;
      const bDq = producerOf(r.nodes, node.input![2])!;
      const perAxis = perChannel ? [channels] : [];
      assert.deepEqual([dims(wDq.input![1]), dims(wDq.input![2])], [perAxis, perAxis], `${op} weight scale and zero point`);
      assert.deepEqual(dims(bDq.input![0]), [channels], `${op} int32 bias`);
      assert.deepEqual(dims(bDq.input![1]), perAxis, `${op} bias scale`);
      for (const dq of [wDq, bDq]) assert.deepEqual((dq.attribute ?? []).map((a) => a.name), perChannel ? ['axis'] : [], `${op}: attributes`);
      assert.equal(getIntAttr(bDq, 'axis', -1), perChannel ? 0 : -1);
    }
    for (const q of r.nodes.filter((n) => n.opType === 'QuantizeLinear')) {
      assert.deepEqual([dims(q.input![1]), dims(q.input![2])], [[], []], `${q.output![0]}: scalar scale and zero point`);
      assert.deepEqual(q.attribute ?? [], []);
    }
  }
});

test('insertQdq: names it adds step past every taken name, node tensors included', () => {
  const g = graphOf(model([
    makeNode('Mul', ['input', 'h/q_scale'], ['h'], 'mul'),
    // Tensors of the model already called h/q (a node output) and h/q_scale_1 (an initializer).
    makeNode('Sigmoid', ['h'], ['h/q'], 'sig'),
    makeNode('Add', ['h', 'h/q'], ['a'], 'add'),
    makeNode('Add', ['a', 'h/q_scale_1'], ['logits'], 'add2'),
  ], [floatTensor('h/q_scale', [4], new Float32Array([2, 2, 2, 2])), floatTensor('h/q_scale_1', [4], new Float32Array([1, 1, 1, 1]))]));
  const r = insertQdq(g, new Map([['h', [0, 8] as [number, number]]]), CPU);
  const q = r.nodes.find((n) => n.opType === 'QuantizeLinear')!;
  assert.deepEqual([q.input![1], q.output![0]], ['h/q_scale_2', 'h/q_1']);
  assert.equal(producerOf(r.nodes, 'h/q')?.opType, 'Sigmoid', 'the model\'s own h/q is untouched');
  const outputs = r.nodes.flatMap((n) => n.output ?? []);
  assert.equal(new Set(outputs).size, outputs.length, 'every tensor is produced once');
});
