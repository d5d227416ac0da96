import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insertQdq, loadGraph, removeQuantizableActivations, tensorsToQuantize, type Graph, type QdqOptions } from '../../training/quantize/qdq.ts';
import {
  attr, DataType, encodeModel, floatTensor, floatValueInfo, getIntAttr, int8Tensor, makeNode, tensorDims, tensorFloats,
  type NodeProto, type TensorProto,
} from '../../src/onnx/proto.ts';
import { tinyModelProto, TINY_CONV_FILTERS, TINY_EMBEDDING, type ModelSpec } from './tiny.ts';

/**
 * insertQdq and its helpers on small hand-built graphs, in process (no calibration, no onnxruntime):
 * which activations are folded, which tensors are quantized, how Q/DQ pairs, weights and biases
 * are laid out. Expected scales are worked out here from the ranges given (uint8: (hi - lo) / 255
 * with 0 in the range; int8 weights: max|w| / 127).
 */
const CPU: QdqOptions = { target: 'cpu', perChannel: true, reduceRange: false };
const TRT: QdqOptions = { target: 'tensorrt', perChannel: true, reduceRange: false };

function graphOf(model: ModelSpec): Graph {
  return loadGraph(encodeModel(model));
}

/** A model around the given nodes: input `input` [N,4], output `logits` (and more outputs if named). */
function model(nodes: NodeProto[], inits: TensorProto[], outputs = ['logits']): ModelSpec {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', input: [floatValueInfo('input', ['N', 4])], output: outputs.map((o) => floatValueInfo(o, ['N', 4])), initializer: inits, node: nodes },
  };
}

const w4 = (name: string, values = [0.5, -0.25, 1, -2, 0.1, 0.2, 0.3, 0.4, -0.5, 0.25, -1, 2, 0.7, -0.7, 0.05, 1.27]) => floatTensor(name, [4, 4], new Float32Array(values));
const b4 = (name: string) => floatTensor(name, [4], new Float32Array([0.1, -0.2, 0.3, 0.05]));

function initOf(r: { initializers: TensorProto[] }, name: string): TensorProto {
  const t = r.initializers.find((i) => i.name === name);
  assert.ok(t, `initializer ${name}`);
  return t;
}

function ints(t: TensorProto): number[] {
  const raw = new Uint8Array(t.rawData ?? []);
  if (t.dataType === DataType.INT8) return Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength));
  if (t.dataType === DataType.UINT8) return Array.from(raw);
  assert.equal(t.dataType, DataType.INT32, `${t.name} is an integer tensor`);
  return Array.from(new Int32Array(raw.slice().buffer));
}

/** Every node input is the graph input, an initializer or an earlier node's output; names are unique. */
function assertWellFormed(r: { nodes: NodeProto[]; initializers: TensorProto[] }): void {
  const available = new Set(['input', ...r.initializers.map((t) => t.name!)]);
  assert.equal(available.size, r.initializers.length + 1, 'initializer names are unique');
  for (const n of r.nodes) {
    for (const i of n.input ?? []) if (i !== '') assert.ok(available.has(i), `${n.opType} reads ${i}, which exists before it`);
    for (const o of n.output ?? []) {
      assert.ok(!available.has(o), `${o} is produced once`);
      available.add(o);
    }
  }
}

const producerOf = (nodes: NodeProto[], t: string) => nodes.find((n) => (n.output ?? []).includes(t));
const readersOf = (nodes: NodeProto[], t: string) => nodes.filter((n) => (n.input ?? []).includes(t));

test('removeQuantizableActivations: a Relu or Clip(0, x) right after Conv/Gemm/Add is folded into its producer', () => {
  const g = graphOf(tinyModelProto());
  assert.deepEqual(removeQuantizableActivations(g), ['conv/act', 'embedding']);
  assert.deepEqual(g.nodes.map((n) => n.opType), ['Conv', 'MaxPool', 'Flatten', 'Gemm', 'Gemm']);
  assert.deepEqual(g.nodes[0].output, ['conv/act'], 'the Conv now writes the activation\'s tensor');
  assert.deepEqual(g.nodes[3].output, ['embedding']);

  const clip = graphOf(tinyModelProto({ convActivation: 'relu6' }));
  assert.deepEqual(removeQuantizableActivations(clip), ['conv/act', 'embedding'], 'Clip from 0 is a ReLU once quantized to uint8 [0, 6]');

  const add = graphOf(model([
    makeNode('Add', ['input', 'k'], ['sum'], 'add'),
    makeNode('Relu', ['sum'], ['act'], 'relu'),
    makeNode('MatMul', ['act', 'w'], ['logits'], 'mm'),
  ], [floatTensor('k', [4], new Float32Array([1, 2, 3, 4])), w4('w')]));
  assert.deepEqual(removeQuantizableActivations(add), ['act']);
  assert.deepEqual(add.nodes.map((n) => n.opType), ['Add', 'MatMul']);
});

test('removeQuantizableActivations keeps activations it cannot fold', () => {
  const keep = (nodes: NodeProto[], inits: TensorProto[], outputs?: string[]) => {
    const g = graphOf(model(nodes, inits, outputs));
    const before = g.nodes.map((n) => n.opType);
    assert.deepEqual(removeQuantizableActivations(g), [], before.join(' '));
    assert.deepEqual(g.nodes.map((n) => n.opType), before);
  };
  const inits = [w4('w'), floatTensor('lo', [], new Float32Array([-1])), floatTensor('zero', [], new Float32Array([0])), floatTensor('hi', [], new Float32Array([6]))];
  // Clip from -1 (a ReLU would lose the negative part), Clip without a minimum.
  keep([makeNode('MatMul', ['input', 'w'], ['x'], 'mm'), makeNode('Clip', ['x', 'lo', 'hi'], ['logits'], 'clip')], inits);
  keep([makeNode('MatMul', ['input', 'w'], ['x'], 'mm'), makeNode('Clip', ['x', '', 'hi'], ['logits'], 'clip')], inits);
  // After an op that is not Conv/Gemm/Add (MatMul, Sigmoid), or straight on the graph input.
  keep([makeNode('MatMul', ['input', 'w'], ['x'], 'mm'), makeNode('Relu', ['x'], ['logits'], 'relu')], inits);
  keep([makeNode('Sigmoid', ['input'], ['x'], 's'), makeNode('Clip', ['x', 'zero', 'hi'], ['logits'], 'clip')], inits);
  keep([makeNode('Relu', ['input'], ['logits'], 'relu')], inits);
  // The pre-activation tensor is read elsewhere too, or is itself a graph output.
  keep([
    makeNode('Gemm', ['input', 'w'], ['x'], 'gemm'),
    makeNode('Relu', ['x'], ['r'], 'relu'),
    makeNode('Add', ['x', 'r'], ['logits'], 'add'),
  ], inits);
  keep([makeNode('Gemm', ['input', 'w'], ['x'], 'gemm'), makeNode('Relu', ['x'], ['logits'], 'relu')], inits, ['logits', 'x']);
});

test('tensorsToQuantize: cpu quantizes the activations around integer-capable ops, in graph order; tensorrt only weighted-op inputs', () => {
  const g = graphOf(tinyModelProto());
  removeQuantizableActivations(g);
  // `logits` is read by nobody in the graph: it stays float.
  assert.deepEqual(tensorsToQuantize(g, 'cpu'), ['input', 'conv/act', 'pool', 'flat', 'embedding']);
  assert.deepEqual(tensorsToQuantize(graphOf(tinyModelProto()), 'tensorrt'), ['input', 'flat', 'embedding']);

  const mixed = graphOf(model([
    makeNode('Sigmoid', ['input'], ['s'], 'sig'),
    makeNode('Mul', ['s', 'k'], ['m'], 'mul'),
    makeNode('Concat', ['m', 's'], ['c'], 'cat', [attr('axis', 1)]),
    makeNode('MatMul', ['c', 'w8'], ['mm'], 'mm'),
    makeNode('Tanh', ['mm'], ['logits'], 'tanh'),
  ], [floatTensor('k', [4], new Float32Array([1, 2, 3, 4])), floatTensor('w8', [8, 4], new Float32Array(32).fill(0.1))]));
  // The Sigmoid is not quantized itself; its output is, as an input of Mul and Concat. A constant
  // operand (k, w8) is an initializer, not an activation.
  assert.deepEqual(tensorsToQuantize(mixed, 'cpu'), ['s', 'm', 'c', 'mm']);
  assert.deepEqual(tensorsToQuantize(mixed, 'tensorrt'), ['c']);
});

/** The tiny model's graph after activation folding, with made-up calibration ranges. */
function tinyQdq(opts: QdqOptions, ranges: Record<string, [number, number]> = {}) {
  const g = graphOf(tinyModelProto());
  if (opts.target === 'cpu') removeQuantizableActivations(g);
  const all: Record<string, [number, number]> = { input: [0, 1], 'conv/act': [0, 2.55], pool: [0, 5.1], flat: [0, 5.1], embedding: [0, 1.02], ...ranges };
  const tensors = tensorsToQuantize(g, opts.target);
  const r = insertQdq(g, new Map(tensors.map((t) => [t, all[t]])), opts);
  return { g, r };
}

test('insertQdq (cpu): uint8 Q/DQ around every quantized tensor, one DQ per reader, graph outputs from a DQ under their own name', () => {
  const { r } = tinyQdq(CPU);
  assertWellFormed(r);
  const q = r.nodes.filter((n) => n.opType === 'QuantizeLinear');
  // One Q per quantized tensor; `input` is quantized where it enters the graph.
  assert.deepEqual(q.map((n) => n.input![0]), ['input', 'conv/act/float', 'pool/float', 'flat/float', 'embedding/float']);
  assert.equal(r.nodes[0].opType, 'QuantizeLinear');
  for (const qn of q) {
    const scale = tensorFloats(initOf(r, qn.input![1]));
    assert.deepEqual(tensorDims(initOf(r, qn.input![1])), [], 'per-tensor activation scale');
    assert.ok(scale[0] > 0);
    const zp = initOf(r, qn.input![2]);
    assert.equal(zp.dataType, DataType.UINT8, 'cpu activations are uint8');
    assert.deepEqual(ints(zp), [0], 'ranges from 0: zero point 0');
    const readers = readersOf(r.nodes, qn.output![0]);
    assert.ok(readers.length >= 1);
    for (const dq of readers) {
      assert.equal(dq.opType, 'DequantizeLinear');
      assert.deepEqual(dq.input!.slice(1), qn.input!.slice(1), 'Q and DQ share scale and zero point');
      assert.ok(readersOf(r.nodes, dq.output![0]).length <= 1, 'each DQ feeds one reader');
    }
  }
  // Scales from the ranges: (hi - lo) / 255.
  const scaleOf = (t: string) => tensorFloats(initOf(r, producerOf(r.nodes, `${t}/q`)!.input![1]))[0];
  assert.equal(scaleOf('input'), Math.fround(1 / 255));
  assert.equal(scaleOf('conv/act'), Math.fround(2.55 / 255));
  // `embedding` is both read (by the head) and a graph output: the head and the output get a DQ each.
  const embDqs = readersOf(r.nodes, 'embedding/q');
  assert.equal(embDqs.length, 2);
  assert.equal(producerOf(r.nodes, 'embedding')?.opType, 'DequantizeLinear', 'the graph output `embedding` is a DQ');
  assert.equal(producerOf(r.nodes, 'logits')?.opType, 'Gemm', 'logits stay float, straight from the Gemm');
  assert.equal(readersOf(r.nodes, 'logits').length, 0);
  assert.equal(r.activationParams.get('embedding')?.scale, Math.fround(1.02 / 255));
});

test('insertQdq (cpu): MaxPool and Flatten keep their input\'s scale (onnxruntime fuses them only so)', () => {
  // Calibration gave pool and flat a different range; they still share conv/act's parameters.
  const { r } = tinyQdq(CPU);
  const conv = r.activationParams.get('conv/act')!;
  assert.deepEqual(r.activationParams.get('pool'), conv);
  assert.deepEqual(r.activationParams.get('flat'), conv);
  const qOf = (t: string) => producerOf(r.nodes, `${t}/q`)!;
  assert.deepEqual(tensorFloats(initOf(r, qOf('flat').input![1])), new Float32Array([Math.fround(2.55 / 255)]));
  // Without a range for the MaxPool's input, the pool uses its own.
  const g = graphOf(tinyModelProto());
  removeQuantizableActivations(g);
  const own = insertQdq(g, new Map([['pool', [0, 5.1] as [number, number]]]), CPU);
  assert.equal(own.activationParams.get('pool')?.scale, Math.fround(5.1 / 255));
});

test('insertQdq (cpu): per-channel int8 weights, int32 biases at input scale x weight scale', () => {
  const { g, r } = tinyQdq(CPU);
  assertWellFormed(r);
  assert.ok(!r.initializers.some((t) => t.name === 'conv/w' || t.name === 'fc/w' || t.name === 'conv/b'), 'float weights and biases are dropped');
  // fc reads `flat`, which shares conv/act's range (2.55).
  const ops = [['conv', 'conv/w', TINY_CONV_FILTERS, 1], ['fc', 'fc/w', TINY_EMBEDDING, 2.55], ['head', 'head/w', 10, 1.02]] as const;
  for (const [op, wName, channels, inputRange] of ops) {
    const node = r.nodes.find((n) => n.name === op)!;
    const wDq = producerOf(r.nodes, node.input![1])!;
    assert.equal(wDq.opType, 'DequantizeLinear');
    assert.equal(getIntAttr(wDq, 'axis', -1), 0, `${op}: per output channel (axis 0 for Conv and transB Gemm)`);
    const wq = initOf(r, wDq.input![0]);
    assert.equal(wq.dataType, DataType.INT8);
    const float = tensorFloats(g.inits.get(wName)!);
    assert.deepEqual(tensorDims(wq), tensorDims(g.inits.get(wName)!));
    const wScale = tensorFloats(initOf(r, wDq.input![1]));
    assert.equal(wScale.length, channels);
    assert.deepEqual(ints(initOf(r, wDq.input![2])), new Array(channels).fill(0), 'symmetric weights: zero point 0');
    const per = float.length / channels;
    const wInts = ints(wq);
    for (let c = 0; c < channels; c++) {
      const slice = float.subarray(c * per, (c + 1) * per);
      const absMax = Math.max(...Array.from(slice, Math.abs));
      assert.equal(wScale[c], Math.fround((2 * absMax) / 254), `${op} channel ${c}: scale = max|w| / 127`);
      assert.equal(Math.max(...wInts.slice(c * per, (c + 1) * per).map(Math.abs)), 127, `${op} channel ${c} uses the full range`);
    }
    // Issue 14 item 1: the bias is an int32 DQ with scale = input scale x weight scale.
    const bDq = producerOf(r.nodes, node.input![2])!;
    assert.equal(bDq.opType, 'DequantizeLinear');
    assert.equal(bDq.input!.length, 2, 'no zero-point input: 0 by default');
    assert.equal(getIntAttr(bDq, 'axis', -1), 0);
    const bq = initOf(r, bDq.input![0]);
    assert.equal(bq.dataType, DataType.INT32);
    const bScale = tensorFloats(initOf(r, bDq.input![1]));
    assert.deepEqual(tensorDims(initOf(r, bDq.input![1])), [channels]);
    const xScale = Math.fround(inputRange / 255);
    const bias = tensorFloats(g.inits.get(`${op}/b`)!);
    const bInts = ints(bq);
    for (let c = 0; c < channels; c++) {
      assert.equal(bScale[c], Math.fround(xScale * wScale[c]), `${op} bias scale ${c}`);
      assert.equal(bInts[c], Math.round(bias[c] / bScale[c]), `${op} bias value ${c}`);
    }
  }
});

test('insertQdq: per-tensor and reduce-range weights; a scalar bias scale without an axis', () => {
  const { r } = tinyQdq({ target: 'cpu', perChannel: false, reduceRange: true });
  for (const op of ['conv', 'fc', 'head']) {
    const node = r.nodes.find((n) => n.name === op)!;
    const wDq = producerOf(r.nodes, node.input![1])!;
    assert.equal(getIntAttr(wDq, 'axis', -1), -1, 'no axis for per-tensor');
    assert.deepEqual(tensorDims(initOf(r, wDq.input![1])), []);
    assert.deepEqual(tensorDims(initOf(r, wDq.input![2])), []);
    const w = ints(initOf(r, wDq.input![0]));
    assert.equal(Math.max(...w.map(Math.abs)), 64, 'reduce-range: 7-bit weights, the largest at 64');
    const bDq = producerOf(r.nodes, node.input![2])!;
    assert.deepEqual(tensorDims(initOf(r, bDq.input![1])), [], 'one bias scale');
    assert.equal(getIntAttr(bDq, 'axis', -1), -1);
  }
});

test('insertQdq (tensorrt): symmetric int8 activations with zero point 0, biases left in float, MaxPool not tied to its input', () => {
  const g = graphOf(tinyModelProto());
  const ranges = new Map<string, [number, number]>([['input', [0, 1]], ['conv/act', [0, 2.54]], ['pool', [-1, 1.27]], ['flat', [0, 3]], ['embedding', [-2, 1]]]);
  const r = insertQdq(g, ranges, TRT);
  assertWellFormed(r);
  for (const n of r.nodes.filter((x) => x.opType === 'QuantizeLinear' || (x.opType === 'DequantizeLinear' && x.input!.length === 3))) {
    const zp = initOf(r, n.input![2]);
    assert.equal(zp.dataType, DataType.INT8);
    assert.ok(ints(zp).every((v) => v === 0));
  }
  assert.equal(r.activationParams.get('pool')?.scale, Math.fround(2.54 / 254), 'symmetric: max|x| / 127');
  assert.equal(r.activationParams.get('conv/act')?.scale, Math.fround(5.08 / 254));
  assert.equal(r.activationParams.get('embedding')?.scale, Math.fround(4 / 254));
  for (const op of ['conv', 'fc', 'head']) {
    const node = r.nodes.find((n) => n.name === op)!;
    assert.equal(node.input![2], `${op}/b`, `${op}: float bias`);
    assert.equal(initOf(r, `${op}/b`).dataType, DataType.FLOAT);
  }
});

test('insertQdq: a bias stays float when the op\'s input is not quantized, and a Gemm without transB is per column', () => {
  const g = graphOf(model([
    makeNode('Gemm', ['input', 'w', 'b'], ['h'], 'g1'),
    makeNode('Gemm', ['h', 'w', 'b'], ['logits'], 'g2'),
  ], [w4('w'), b4('b')]));
  const r = insertQdq(g, new Map([['h', [-1, 2] as [number, number]]]), CPU);
  assertWellFormed(r);
  const g1 = r.nodes.find((n) => n.name === 'g1')!;
  const g2 = r.nodes.find((n) => n.name === 'g2')!;
  assert.equal(g1.input![2], 'b', 'input not quantized: float bias');
  assert.equal(producerOf(r.nodes, g2.input![2])?.opType, 'DequantizeLinear');
  // Both Gemms read the same weight: quantized once, one DQ shared.
  assert.equal(g1.input![1], g2.input![1]);
  const wDq = producerOf(r.nodes, g1.input![1])!;
  assert.equal(getIntAttr(wDq, 'axis', -1), 1, 'B is [K, N] without transB: one scale per column');
  const wScale = tensorFloats(initOf(r, wDq.input![1]));
  const w = tensorFloats(w4('w'));
  for (let c = 0; c < 4; c++) {
    const absMax = Math.max(...[0, 1, 2, 3].map((k) => Math.abs(w[k * 4 + c])));
    assert.equal(wScale[c], Math.fround((2 * absMax) / 254), `column ${c}`);
  }
  assert.equal(r.nodes.filter((n) => n.opType === 'DequantizeLinear' && n.input![0] === 'w/quantized').length, 1);
  // h: asymmetric uint8 over [-1, 2]: scale 3/255, zero point round(1 / (3/255)) = 85.
  assert.deepEqual(r.activationParams.get('h'), { scale: Math.fround(3 / 255), zeroPoint: 85 });
  assert.ok(r.initializers.some((t) => t.name === 'b' && t.dataType === DataType.FLOAT), 'the float bias is still read by g1');
});

test('insertQdq: a Gemm whose B is an activation, or a bias that is an activation, is left alone', () => {
  const g = graphOf(model([
    makeNode('Gemm', ['input', 'input', 'input'], ['logits'], 'g', [attr('transB', 1)]),
  ], []));
  const r = insertQdq(g, new Map([['input', [0, 1] as [number, number]]]), CPU);
  assertWellFormed(r);
  const gemm = r.nodes.find((n) => n.name === 'g')!;
  for (const i of gemm.input!) assert.equal(producerOf(r.nodes, i)?.opType, 'DequantizeLinear', 'each activation input has its own DQ');
  assert.equal(new Set(gemm.input).size, 3);
  assert.ok(!r.nodes.some((n) => n.opType === 'DequantizeLinear' && n.input!.length === 2), 'no int32 bias');
});

test('insertQdq: names it adds never clash with the model\'s (a BN `x/q_scale` initializer stays itself)', () => {
  const g = graphOf(model([
    makeNode('Mul', ['input', 'h/q_scale'], ['h'], 'mul'),
    makeNode('Add', ['h', 'h/q_scale'], ['logits'], 'add'),
  ], [floatTensor('h/q_scale', [4], new Float32Array([2, 2, 2, 2]))]));
  const r = insertQdq(g, new Map([['h', [0, 8] as [number, number]], ['input', [0, 1] as [number, number]]]), CPU);
  assertWellFormed(r);
  assert.deepEqual(tensorFloats(initOf(r, 'h/q_scale')), new Float32Array([2, 2, 2, 2]), 'the model\'s tensor is kept as it was');
  const q = producerOf(r.nodes, 'h/q')!;
  assert.equal(q.input![1], 'h/q_scale_1');
  assert.deepEqual(tensorFloats(initOf(r, 'h/q_scale_1')), new Float32Array([Math.fround(8 / 255)]));
  for (const dq of readersOf(r.nodes, 'h/q')) assert.equal(dq.input![1], 'h/q_scale_1');
});

test('insertQdq refuses a weight that is not float32', () => {
  const g = graphOf(model([makeNode('Gemm', ['input', 'w'], ['logits'], 'g')], [int8Tensor('w', [4, 4], new Int8Array(16))]));
  assert.throws(() => insertQdq(g, new Map([['input', [0, 1] as [number, number]]]), CPU), /weight w is not float32/);
});
