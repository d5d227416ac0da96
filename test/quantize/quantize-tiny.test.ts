import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeModel } from '../../training/quantize/quantize.ts';
import { decodeModel, encodeModel, floatValueInfo, tensorFloats, DataType } from '../../src/onnx/proto.ts';
import { parseModelMetadata, writeModelMetadata } from '../../src/onnx/metadata.ts';
import { FASHION_MNIST_CLASSES } from '../../src/classes.ts';
import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';
import { tinyImages, tinyModel, tinyModelProto } from './tiny.ts';
import { runOnce as run } from '../helpers/onnx-run.ts';

/**
 * quantizeModel end to end on the tiny hand-written model (milliseconds, no training): the int8
 * model computes what the float one does, and says how it was made.
 */

const calibration = tinyImages(24);
const check = tinyImages(6, 99);

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function spread(a: Float32Array): number {
  return Math.max(...a) - Math.min(...a);
}

test('quantizeModel (defaults, cpu): the int8 model computes the float logits and embedding within a few quantization steps', async () => {
  const fp32 = tinyModel();
  const q = await quantizeModel(fp32, calibration);
  const a = await run(fp32, check, 6);
  const b = await run(q.bytes, check, 6);
  assert.ok(spread(a.logits) > 1, 'the logits vary (the comparison means something)');
  assert.ok(maxDiff(a.logits, b.logits) < 0.03 * spread(a.logits), `logits differ by ${maxDiff(a.logits, b.logits)}`);
  assert.ok(maxDiff(a.embedding!, b.embedding!) < 0.03 * spread(a.embedding!), `embedding differs by ${maxDiff(a.embedding!, b.embedding!)}`);
  assert.equal(b.embeddingSize, a.embeddingSize);
  assert.ok(q.bytes.length < fp32.length, 'int8 weights make the file smaller');
  assert.equal(q.quantizedTensors, 5, 'input, conv/act, pool, flat, embedding');
  assert.deepEqual([...q.ranges.keys()], ['input', 'conv/act', 'pool', 'flat', 'embedding']);
  // Pixels and ReLU outputs: never negative.
  for (const [t, [lo, hi]] of q.ranges) assert.ok(lo >= 0 && hi > lo, `${t}: [${lo}, ${hi}]`);

  // The ReLUs are gone (the uint8 clamp is the ReLU); every Conv/Gemm bias is an int32 DQ.
  const g = decodeModel(q.bytes).graph!;
  const ops = (g.node ?? []).map((n) => n.opType);
  assert.ok(!ops.includes('Relu'));
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  for (const n of (g.node ?? []).filter((x) => x.opType === 'Conv' || x.opType === 'Gemm')) {
    const dq = (g.node ?? []).find((x) => x.output![0] === n.input![2])!;
    assert.equal(dq.opType, 'DequantizeLinear');
    assert.equal(inits.get(dq.input![0])?.dataType, DataType.INT32);
    const xDq = (g.node ?? []).find((x) => x.output![0] === n.input![0])!;
    const wDq = (g.node ?? []).find((x) => x.output![0] === n.input![1])!;
    const xScale = tensorFloats(inits.get(xDq.input![1])!)[0];
    const wScales = tensorFloats(inits.get(wDq.input![1])!);
    const bScales = tensorFloats(inits.get(dq.input![1])!);
    assert.deepEqual(bScales, wScales.map((s) => Math.fround(xScale * s)), `${n.name}: bias scale = input scale x weight scale`);
  }

  const meta = parseModelMetadata(q.bytes)!;
  assert.equal(meta.arch, 'tiny', 'the float model\'s metadata is kept');
  assert.deepEqual(meta.classes, [...FASHION_MNIST_CLASSES]);
  assert.deepEqual(meta.quantization, {
    format: 'QDQ', target: 'cpu', method: QUANTIZE_DEFAULTS.method, percentile: QUANTIZE_DEFAULTS.percentile, calibrationSize: 24,
    calibrationSeed: QUANTIZE_DEFAULTS.calibrationSeed, perChannel: true, reduceRange: false, activationType: 'uint8', weightType: 'int8',
  });
  assert.deepEqual(q.settings, meta.quantization);
  await assert.rejects(quantizeModel(q.bytes, calibration), /the model is already quantized/);
});

test('the defaults are the documented ones (src/defaults.ts)', () => {
  const { target, method, percentile, perChannel, reduceRange, calibrationSeed } = QUANTIZE_DEFAULTS;
  assert.deepEqual(DEFAULT_QUANTIZE_OPTIONS, { target, method, percentile, perChannel, reduceRange, calibrationSeed });
});

test('quantizeModel (tensorrt, minmax): int8 activations, ReLUs kept, no percentile recorded; recorded shapes dropped', async () => {
  const spec = tinyModelProto();
  spec.graph!.valueInfo = [floatValueInfo('conv', ['N', 2, 26, 26]), floatValueInfo('flat', ['N', 338])];
  const fp32 = writeModelMetadata(encodeModel(spec), { arch: 'tiny', classes: [...FASHION_MNIST_CLASSES] });
  const q = await quantizeModel(fp32, calibration, { target: 'tensorrt', method: 'minmax', perChannel: false, reduceRange: true, calibrationSeed: 9 });
  const g = decodeModel(q.bytes).graph!;
  assert.deepEqual(g.valueInfo ?? [], [], 'shapes recorded for the float tensors are dropped');
  assert.equal((g.node ?? []).filter((n) => n.opType === 'Relu').length, 2);
  assert.deepEqual(q.settings, {
    format: 'QDQ', target: 'tensorrt', method: 'minmax', calibrationSize: 24, calibrationSeed: 9, perChannel: false, reduceRange: true,
    activationType: 'int8', weightType: 'int8',
  });
  assert.deepEqual([...q.ranges.keys()], ['input', 'flat', 'embedding']);
  // minmax: the range of `input` is exactly that of the calibration pixels.
  assert.deepEqual(q.ranges.get('input'), [Math.min(...calibration), Math.max(...calibration)]);
  const a = await run(fp32, check, 6);
  const b = await run(q.bytes, check, 6);
  assert.ok(maxDiff(a.logits, b.logits) < 0.06 * spread(a.logits), `logits differ by ${maxDiff(a.logits, b.logits)}`);
});

test('quantizeModel: a model without `embedding` (evaluation only) quantizes too', async () => {
  const q = await quantizeModel(tinyModel({ noEmbedding: true }), calibration, { method: 'entropy' });
  const outs = (decodeModel(q.bytes).graph!.output ?? []).map((o) => o.name);
  assert.deepEqual(outs, ['logits']);
  assert.equal(q.settings.method, 'entropy');
  assert.ok(!('percentile' in q.settings));
});
