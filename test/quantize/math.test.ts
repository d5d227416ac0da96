import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeScaleZeroPoint, dequantizeValue, quantRange, quantizeBias, quantizeTensor, quantizeValue, quantizeWeights, roundHalfEven } from '../../training/quantize/math.ts';
import { TensorStats, calibratedRange, entropyThreshold, klDivergence, percentileThreshold } from '../../training/quantize/histogram.ts';

test('integer ranges: uint8, int8 symmetric (-127..127), reduce-range 7 bits', () => {
  assert.deepEqual(quantRange('uint8', false), [0, 255]);
  assert.deepEqual(quantRange('uint8', false, true), [0, 127]);
  assert.deepEqual(quantRange('int8', true), [-127, 127]);
  assert.deepEqual(quantRange('int8', false), [-128, 127]);
  assert.deepEqual(quantRange('int8', true, true), [-64, 64]);
});

test('round half to even, as QuantizeLinear', () => {
  assert.deepEqual([2.5, 3.5, -2.5, -3.5, 0.5, -0.5, 1.4, -1.6].map(roundHalfEven), [2, 4, -2, -4, 0, 0, 1, -2]);
});

test('asymmetric uint8 scale and zero point; the range always includes 0', () => {
  assert.deepEqual(computeScaleZeroPoint(-1, 3, 0, 255, false), { scale: Math.fround(4 / 255), zeroPoint: 64 });
  assert.deepEqual(computeScaleZeroPoint(0.5, 2, 0, 255, false), { scale: Math.fround(2 / 255), zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(-2, -1, 0, 255, false), { scale: Math.fround(2 / 255), zeroPoint: 255 });
});

test('symmetric int8: zero point 0, scale from the larger magnitude', () => {
  assert.deepEqual(computeScaleZeroPoint(-0.5, 2, -127, 127, true), { scale: Math.fround(4 / 254), zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(-3, 1, -127, 127, true), { scale: Math.fround(6 / 254), zeroPoint: 0 });
});

test('degenerate ranges fall back to scale 1, never zero or negative', () => {
  assert.deepEqual(computeScaleZeroPoint(0, 0, 0, 255, false), { scale: 1, zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(0, 0, -127, 127, true), { scale: 1, zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(Number.NaN, Number.NaN, 0, 255, false), { scale: 1, zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(0, 1e-45, 0, 255, false), { scale: 1, zeroPoint: 0 });
});

test('quantize and dequantize values with clamping', () => {
  const p = computeScaleZeroPoint(-1, 3, 0, 255, false);
  assert.equal(quantizeValue(0, p, 0, 255), 64);
  assert.equal(quantizeValue(3, p, 0, 255), 255);
  assert.equal(quantizeValue(100, p, 0, 255), 255);
  assert.equal(quantizeValue(-100, p, 0, 255), 0);
  assert.equal(dequantizeValue(64, p), 0);
  assert.deepEqual(Array.from(quantizeTensor([0, -1, 3], p, 0, 255)), [64, 0, 255]);
});

test('per-channel weights along axis 0 (Conv) and axis 1 (Gemm with transB=0); all-zero channel is safe', () => {
  const w = new Float32Array([1.5, -2, 0.5, 0, 0, 0]);
  const conv = quantizeWeights(w, [2, 3], 0, true, -127, 127, true);
  assert.deepEqual(Array.from(conv.values), [95, -127, 32, 0, 0, 0]);
  assert.deepEqual(conv.params, [{ scale: Math.fround(4 / 254), zeroPoint: 0 }, { scale: 1, zeroPoint: 0 }]);
  // [in=2, out=3]: column c is channel c.
  const gemm = quantizeWeights(new Float32Array([1, 2, -4, -1, 1, 2]), [2, 3], 1, true, -127, 127, true);
  assert.deepEqual(gemm.params.map((p) => p.scale), [2, 4, 8].map((m) => Math.fround(m / 254)));
  assert.deepEqual(Array.from(gemm.values), [127, 127, -127, -127, 64, 64]);
  const perTensor = quantizeWeights(w, [2, 3], 0, false, -127, 127, true);
  assert.equal(perTensor.params.length, 1);
});

test('bias: int32 with scale input_scale*weight_scale, zero point 0', () => {
  const b = quantizeBias(new Float32Array([0.1, -0.2]), 0.01, [0.5, 0.25]);
  assert.deepEqual(Array.from(b.values), [20, -80]);
  assert.deepEqual(Array.from(b.scales), [Math.fround(0.005), Math.fround(0.0025)]);
  assert.deepEqual(Array.from(quantizeBias(new Float32Array([1]), 0, [0]).scales), [1]);
});

test('histogram grows by powers of two without losing counts; percentile and minmax ranges', () => {
  const s = new TensorStats(8);
  s.add([0.5, -1], true);
  s.add([3.5], true);
  assert.equal(s.range, 4);
  assert.equal(s.hist.reduce((a, b) => a + b, 0), 3);
  assert.deepEqual([s.min, s.max], [-1, 3.5]);
  assert.deepEqual(calibratedRange(s, 'minmax'), [-1, 3.5]);
  const u = new TensorStats(100);
  u.add(Float32Array.from({ length: 1000 }, (_, i) => i / 1000), true);
  assert.ok(Math.abs(percentileThreshold(u, 90) - 0.9) < 0.011);
  const [lo, hi] = calibratedRange(u, 'percentile', 50);
  assert.equal(lo, 0);
  assert.ok(hi > 0.49 && hi < 0.52);
});

test('entropy calibration clips a far outlier but keeps the bulk of the distribution', () => {
  const s = new TensorStats(2048);
  // Exponential bulk (deterministic quantiles: mostly below 3, max about 10) and one far outlier.
  s.add(Float32Array.from({ length: 20000 }, (_, i) => -Math.log(1 - (i + 0.5) / 20000)), true);
  s.add([100], true);
  const th = entropyThreshold(s);
  assert.ok(th < 50 && th > 2, `threshold ${th}`);
  assert.equal(klDivergence([1, 1], [1, 1]), 0);
  assert.ok(klDivergence([1, 0], [0.5, 0.5]) > 0);
});
