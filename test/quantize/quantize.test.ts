import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantizeModel } from '../../training/quantize/quantize.ts';
import { predictOnnx } from '../../training/eval/evaluate.ts';
import { argmaxRows } from '../../training/eval/metrics.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { decodeModel, tensorDims, toNumber, DataType, type TensorProto } from '../../src/onnx/proto.ts';
import { readModelMetadata } from '../../src/onnx/metadata.ts';
import { validateModelContract } from '../../src/onnx/contract.ts';
import { trainedOnnxModel, type TrainedFixture } from './fixture.ts';

let fx: TrainedFixture;
before(async () => {
  fx = await trainedOnnxModel();
});

function intValues(t: TensorProto): number[] {
  const raw = new Uint8Array(t.rawData ?? []);
  if (t.dataType === DataType.INT8) return Array.from(new Int8Array(raw.buffer));
  if (t.dataType === DataType.UINT8) return Array.from(raw);
  if (t.dataType === DataType.INT32) return Array.from(new Int32Array(raw.buffer));
  return (t.int32Data ?? []).map(toNumber);
}

async function accuracyAndPredictions(bytes: Uint8Array) {
  const pred = argmaxRows(await predictOnnx(bytes, fx.test), 10);
  let correct = 0;
  for (let i = 0; i < fx.test.count; i++) if (pred[i] === fx.test.labels[i]) correct++;
  return { pred, accuracy: correct / fx.test.count };
}

test('cpu int8: close to fp32, smaller, QDQ laid out for fusion, fused integer kernels in the optimized graph', async () => {
  const q = await quantizeModel(fx.fp32, fx.calibration, { target: 'cpu', method: 'percentile' });
  const a = await accuracyAndPredictions(fx.fp32);
  const b = await accuracyAndPredictions(q.bytes);
  assert.ok(a.accuracy > 0.5, `fp32 accuracy ${a.accuracy} (the fixture should have learned something)`);
  let same = 0;
  for (let i = 0; i < fx.test.count; i++) if (a.pred[i] === b.pred[i]) same++;
  assert.ok(same / fx.test.count >= 0.9, `agreement ${same / fx.test.count}`);
  assert.ok(Math.abs(a.accuracy - b.accuracy) <= 0.05, `fp32 ${a.accuracy} vs int8 ${b.accuracy}`);
  assert.ok(q.bytes.length < fx.fp32.length, 'int8 file is smaller');

  const g = decodeModel(q.bytes).graph!;
  const nodes = g.node ?? [];
  const consumers = (t: string) => nodes.filter((n) => (n.input ?? []).includes(t));
  for (const qn of nodes.filter((n) => n.opType === 'QuantizeLinear')) {
    const src = qn.input![0];
    if (src !== 'input') assert.equal(consumers(src).length, 1, `${src} feeds only its QuantizeLinear`);
    for (const dq of consumers(qn.output![0])) {
      assert.equal(dq.opType, 'DequantizeLinear');
      assert.deepEqual(dq.input!.slice(1), qn.input!.slice(1), 'Q and DQ share scale and zero point');
      assert.ok(consumers(dq.output![0]).length <= 1, 'one consumer per DQ');
    }
  }
  const outputs = new Set((g.output ?? []).map((o) => o.name));
  for (const n of nodes) if ((n.output ?? []).some((o) => outputs.has(o))) assert.notEqual(n.opType, 'QuantizeLinear');
  const scales = (g.initializer ?? []).filter((t) => t.dataType === DataType.FLOAT && t.name!.endsWith('scale'));
  for (const s of scales) assert.ok(new Float32Array(new Uint8Array(s.rawData!).buffer).every((v) => v > 0), `${s.name} > 0`);

  const dir = await mkdtemp(join(tmpdir(), 'edgeloom-q-'));
  try {
    const optimized = join(dir, 'optimized.onnx');
    const session = await createOnnxSession(q.bytes, { optimizedModelFilePath: optimized });
    await session.close();
    const ops = new Set((decodeModel(await readFile(optimized)).graph!.node ?? []).map((n) => n.opType));
    assert.ok(ops.has('QLinearConv'), `QLinearConv in ${[...ops].join(' ')}`);
    assert.ok(ops.has('QGemm') || ops.has('QLinearMatMul') || ops.has('MatMulInteger'), `integer Gemm in ${[...ops].join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const meta = await readModelMetadata(q.bytes);
  assert.equal(meta?.quantization?.target, 'cpu');
  assert.equal(meta?.quantization?.activationType, 'uint8');
  assert.equal(meta?.arch, 'tiny', 'export metadata is kept');
  validateModelContract(q.bytes, 'tiny.int8.onnx');
  await assert.rejects(quantizeModel(q.bytes, fx.calibration), /already quantized/);
});

function floats(t: TensorProto | undefined): number[] {
  assert.ok(t, 'initializer exists');
  assert.equal(t.dataType, DataType.FLOAT);
  return t.rawData?.length ? Array.from(new Float32Array(new Uint8Array(t.rawData).slice().buffer)) : (t.floatData ?? []).map(Number);
}

test('cpu int8: every Conv/Gemm bias is an int32 DequantizeLinear with scale = input scale x weight scale', async () => {
  const q = await quantizeModel(fx.fp32, fx.calibration, { target: 'cpu' });
  const g = decodeModel(q.bytes).graph!;
  const nodes = g.node ?? [];
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const producer = (t: string) => nodes.find((n) => (n.output ?? []).includes(t));
  const weighted = nodes.filter((n) => (n.opType === 'Conv' || n.opType === 'Gemm') && n.input![2]);
  assert.ok(weighted.length >= 3, `the fixture has biased Conv/Gemm nodes (${weighted.length})`);
  const floatBiases = decodeModel(fx.fp32).graph!.node!.filter((n) => (n.opType === 'Conv' || n.opType === 'Gemm') && n.input![2]).length;
  assert.equal(weighted.length, floatBiases, 'every bias of the float model is still there');
  for (const n of weighted) {
    const biasDq = producer(n.input![2]);
    assert.equal(biasDq?.opType, 'DequantizeLinear', `${n.name}: bias comes from a DequantizeLinear, not a float initializer`);
    const [qb, bScale, bZero] = biasDq!.input!;
    assert.equal(inits.get(qb)?.dataType, DataType.INT32, `${n.name}: bias stored as int32`);
    assert.ok(!bZero, `${n.name}: bias zero point left to its default, 0`);
    // The activation DQ feeding the op and the weight DQ give the two scales.
    const xDq = producer(n.input![0])!;
    const wDq = producer(n.input![1])!;
    assert.equal(xDq.opType, 'DequantizeLinear');
    assert.equal(wDq.opType, 'DequantizeLinear');
    const xScale = floats(inits.get(xDq.input![1]))[0];
    const wScales = floats(inits.get(wDq.input![1]));
    const bScales = floats(inits.get(bScale));
    assert.equal(bScales.length, wScales.length, `${n.name}: one bias scale per weight scale`);
    for (let c = 0; c < bScales.length; c++) {
      assert.equal(bScales[c], Math.fround(xScale * wScales[c]), `${n.name}: bias scale[${c}] = input scale x weight scale`);
    }
  }
});

test('tensorrt target: symmetric int8, every zero point 0, bias left in float, still accurate', async () => {
  const q = await quantizeModel(fx.fp32, fx.calibration, { target: 'tensorrt', method: 'entropy' });
  const g = decodeModel(q.bytes).graph!;
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const qdq = (g.node ?? []).filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear');
  assert.ok(qdq.length > 0);
  for (const n of qdq) {
    const zp = inits.get(n.input![2]);
    assert.ok(zp, `${n.name} has an explicit zero point`);
    assert.equal(zp.dataType, DataType.INT8, `${n.name} is int8`);
    assert.ok(intValues(zp).every((v) => v === 0), `${n.name} zero point is 0`);
  }
  for (const conv of (g.node ?? []).filter((n) => n.opType === 'Conv' || n.opType === 'Gemm')) {
    assert.equal(inits.get(conv.input![2])?.dataType, DataType.FLOAT, 'bias stays float');
  }
  const a = await accuracyAndPredictions(fx.fp32);
  const b = await accuracyAndPredictions(q.bytes);
  assert.ok(Math.abs(a.accuracy - b.accuracy) <= 0.05, `fp32 ${a.accuracy} vs int8 ${b.accuracy}`);
});

test('--reduce-range keeps weights in 7 bits; --per-tensor uses one weight scale; minmax works', async () => {
  const q = await quantizeModel(fx.fp32, fx.calibration, { reduceRange: true, perChannel: false, method: 'minmax' });
  const g = decodeModel(q.bytes).graph!;
  const weights = (g.initializer ?? []).filter((t) => t.dataType === DataType.INT8 && tensorDims(t).length >= 2);
  assert.ok(weights.length >= 3);
  for (const w of weights) assert.ok(intValues(w).every((v) => v >= -64 && v <= 64), `${w.name} within 7 bits`);
  const wScales = (g.initializer ?? []).filter((t) => t.name!.endsWith('/w_scale'));
  for (const s of wScales) assert.deepEqual(tensorDims(s), [], `${s.name} is per-tensor`);
  const meta = await readModelMetadata(q.bytes);
  assert.deepEqual([meta?.quantization?.reduceRange, meta?.quantization?.perChannel, meta?.quantization?.method], [true, false, 'minmax']);
  const a = await accuracyAndPredictions(fx.fp32);
  const b = await accuracyAndPredictions(q.bytes);
  assert.ok(Math.abs(a.accuracy - b.accuracy) <= 0.08);
});
