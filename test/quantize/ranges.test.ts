/**
 * Edges of the calibration statistics and the quantization maths that the model-level tests
 * (quantize.test.ts) cannot see: empty and all-zero tensors, histogram growth, the per-tensor bias
 * scale, int32 saturation, and which number of levels each calibration method aims at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeScaleZeroPoint, dequantizeValue, quantizeBias, quantizeValue, quantizeWeights } from '../../training/quantize/math.ts';
import { TensorStats, calibratedRange, entropyThreshold, klDivergence, percentileThreshold } from '../../training/quantize/histogram.ts';

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

test('a symmetric uint8 range is centred on 128 (well defined although no target uses it)', () => {
  assert.deepEqual(computeScaleZeroPoint(-1, 1, 0, 255, true), { scale: Math.fround(2 / 255), zeroPoint: 128 });
  assert.deepEqual(computeScaleZeroPoint(0, 0, 0, 255, true), { scale: 1, zeroPoint: 128 });
  // Infinite ends are not a range: treated like 0, the other end still counts.
  assert.deepEqual(computeScaleZeroPoint(-Infinity, 2, 0, 255, false), { scale: Math.fround(2 / 255), zeroPoint: 0 });
  assert.deepEqual(computeScaleZeroPoint(-2, Infinity, 0, 255, false), { scale: Math.fround(2 / 255), zeroPoint: 255 });
});

test('dequantize inverts quantize to within half a step', () => {
  const p = computeScaleZeroPoint(-1, 3, 0, 255, false);
  for (const x of [-1, -0.3, 0, 0.77, 2.5, 3]) assert.ok(Math.abs(dequantizeValue(quantizeValue(x, p, 0, 255), p) - x) <= p.scale / 2 + 1e-7, `${x}`);
  assert.ok(Math.abs(dequantizeValue(255, p) - 3) < p.scale);
});

test('bias: one weight scale (per-tensor weights) applies to every channel; values saturate at int32', () => {
  const b = quantizeBias(new Float32Array([0.1, -0.2, 0.3]), 0.01, [0.5]);
  assert.deepEqual(Array.from(b.scales), [0.005, 0.005, 0.005].map(Math.fround));
  assert.deepEqual(Array.from(b.values), [20, -40, 60]);
  const huge = quantizeBias(new Float32Array([1e6, -1e6]), 1e-6, [1e-6]);
  assert.deepEqual(Array.from(huge.values), [2147483647, -2147483648]);
  // A negative product is no scale either.
  assert.deepEqual(Array.from(quantizeBias(new Float32Array([2]), -1, [1]).scales), [1]);
});

test('per-channel weights of a 3-D tensor: the channel is the axis, the rest of each slice shares its scale', () => {
  // dims [2, 2, 2], axis 1: channel c holds elements where floor(i / 2) % 2 === c.
  const w = new Float32Array([1, -1, 4, 2, 0.5, 0.25, -8, 1]);
  const q = quantizeWeights(w, [2, 2, 2], 1, true, -127, 127, true);
  assert.deepEqual(q.params.map((p) => p.scale), [2, 16].map((m) => Math.fround(m / 254)));
  assert.deepEqual(Array.from(q.values), [127, -127, 64, 32, 64, 32, -127, 16]);
  const perTensor = quantizeWeights(w, [2, 2, 2], 1, false, -127, 127, true);
  assert.deepEqual(perTensor.params, [{ scale: Math.fround(16 / 254), zeroPoint: 0 }]);
  assert.deepEqual(Array.from(perTensor.values), [16, -16, 64, 32, 8, 4, -127, 16]);
});

test('tensor statistics: min/max/count always, the histogram only when asked; empty batches change nothing', () => {
  const s = new TensorStats(4);
  s.add([1, -3], false);
  assert.deepEqual([s.min, s.max, s.count, s.range, sum(s.hist)], [-3, 1, 2, 0, 0]);
  // minmax calibration collects no histogram: its range is exactly what was seen.
  assert.deepEqual(calibratedRange(s, 'minmax'), [-3, 1]);
  s.add([], true);
  assert.deepEqual([s.min, s.max, s.count, s.range, sum(s.hist)], [-3, 1, 2, 0, 0]);
  assert.deepEqual(calibratedRange(new TensorStats(), 'percentile'), [0, 0], 'no values seen: the zero range');
  assert.deepEqual(calibratedRange(new TensorStats(), 'minmax'), [0, 0]);
});

test('an all-zero tensor lands in bin 0 with range 0 and calibrates to the zero range', () => {
  const s = new TensorStats(8);
  s.add([0, 0, 0], true);
  assert.deepEqual([s.range, s.hist[0], sum(s.hist)], [0, 3, 3]);
  assert.equal(percentileThreshold(s, 99), 0);
  assert.equal(entropyThreshold(s), 0);
  assert.deepEqual(calibratedRange(s, 'percentile'), [0, 0]);
  // The first non-zero batch sets the range; the zeros stay counted in bin 0.
  s.add([2, -1], true);
  assert.equal(s.range, 2);
  assert.deepEqual(Array.from(s.hist), [3, 0, 0, 0, 1, 0, 0, 1]);
});

test('histogram growth: bins merge by the power of two that covers the new maximum, counts kept in place', () => {
  const s = new TensorStats(8);
  s.add([0.1, 0.6, 0.9, -1], true); // range 1, bin width 1/8
  assert.deepEqual(Array.from(s.hist), [1, 0, 0, 0, 1, 0, 0, 2]);
  s.add([3.9], true); // needs x4: bins 0..3 -> 0, 4..7 -> 1
  assert.equal(s.range, 4);
  assert.deepEqual(Array.from(s.hist), [1, 3, 0, 0, 0, 0, 0, 1]);
  assert.equal(s.binWidth, 0.5);
  s.add([4], true); // on the range: the last bin, no growth
  assert.equal(s.range, 4);
  assert.equal(s.hist[7], 2);
  s.add([4.5], true); // just over: x2
  assert.equal(s.range, 8);
  assert.deepEqual(Array.from(s.hist), [4, 0, 0, 2, 1, 0, 0, 0]);
  s.add([16], true); // exactly twice the range: x2, not x4
  assert.equal(s.range, 16);
  assert.equal(s.hist[7], 1);
});

test('percentile threshold: the upper edge of the bin where the cumulative count first reaches the target', () => {
  const s = new TensorStats(10);
  s.add([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1], true);
  assert.equal(s.range, 1);
  assert.ok(Math.abs(percentileThreshold(s, 50) - 0.5) < 1e-12, 'exactly half reached at bin 4: its upper edge');
  assert.ok(Math.abs(percentileThreshold(s, 51) - 0.6) < 1e-12);
  assert.ok(Math.abs(percentileThreshold(s, 100) - 1) < 1e-12);
  assert.ok(Math.abs(percentileThreshold(s, 0) - 0.1) < 1e-12, 'the first bin\'s edge');
  // Asymmetric clip of a signed tensor: [max(min, -t), min(max, t)].
  const signed = new TensorStats(10);
  signed.add([-0.2, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 1], true);
  const [lo, hi] = calibratedRange(signed, 'percentile', 50);
  // |x|: 0.05, 0.15, 0.2, 0.25, 0.35 ... half of the 10 values are below 0.4.
  assert.equal(lo, -0.2, 'the observed minimum is inside the threshold');
  assert.ok(Math.abs(hi - 0.4) < 1e-12, `${hi}`);
});

test('entropy calibration aims at 128 levels, or 256 for a never-negative tensor of an asymmetric (uint8) target', () => {
  // Exponential bulk (deterministic quantiles, max about 9) and one far outlier at 100; 512 bins keep
  // the search short. With twice the levels, the best clip keeps twice the range.
  const values = Array.from({ length: 5000 }, (_, i) => -Math.log(1 - (i + 0.5) / 5000));
  values.push(100);
  const s = new TensorStats(512);
  s.add(values, true);
  const t128 = entropyThreshold(s, 128);
  const t256 = entropyThreshold(s, 256);
  assert.ok(t128 > 9 && t128 < t256 && t256 < 100, `thresholds ${t128} (128 levels) and ${t256} (256 levels)`);
  assert.deepEqual(calibratedRange(s, 'entropy', 99.999, false), [s.min, Math.min(s.max, t128)]);
  assert.deepEqual(calibratedRange(s, 'entropy', 99.999, true), [s.min, Math.min(s.max, t256)]);
  const neg = new TensorStats(512);
  neg.add([...values, -0.5], true);
  const [lo, hi] = calibratedRange(neg, 'entropy', 99.999, true);
  assert.equal(hi, Math.min(neg.max, entropyThreshold(neg, 128)), 'a signed tensor keeps 128 levels');
  assert.equal(lo, -0.5);
  // A ReLU output (minimum exactly 0) is never negative: 256 levels.
  const relu = new TensorStats(512);
  relu.add([0, ...values], true);
  assert.notEqual(entropyThreshold(relu, 128), entropyThreshold(relu, 256));
  assert.equal(calibratedRange(relu, 'entropy', 99.999, true)[1], Math.min(relu.max, entropyThreshold(relu, 256)));
  // Without the flag (the tensorrt target's symmetric int8), 128.
  assert.equal(calibratedRange(relu, 'entropy')[1], Math.min(relu.max, entropyThreshold(relu, 128)));
  // Every threshold is a whole number of bins, at least quantBins of them.
  assert.ok(t128 >= 128 * s.binWidth && Math.abs(t128 / s.binWidth - Math.round(t128 / s.binWidth)) < 1e-9);
});

test('entropy threshold: no clip for a plain uniform tensor; an outlier is clipped exactly at the end of the bulk', () => {
  const uniform = Array.from({ length: 5000 }, (_, i) => ((i + 0.5) / 5000) * 10);
  const plain = new TensorStats(512);
  plain.add(uniform, true);
  assert.equal(entropyThreshold(plain, 128), plain.range, 'every candidate clip costs information: keep the whole range');
  // The bulk fills bins 0..255 of a range of 20: clipping inside it folds real mass into the last
  // bin, keeping empty bins costs levels; the best threshold is the bulk's end, 256 bins = 10.
  const outlier = new TensorStats(512);
  outlier.add([...uniform, 20], true);
  assert.equal(outlier.range, 20);
  assert.equal(entropyThreshold(outlier, 128), 10);
});

test('KL divergence: empty histograms are infinitely far; a bin Q misses costs a large but finite amount', () => {
  assert.equal(klDivergence([0, 0], [1, 1]), Infinity);
  assert.equal(klDivergence([1, 1], [0, 0]), Infinity);
  const missing = klDivergence([1, 1], [1, 0]);
  assert.ok(Number.isFinite(missing) && missing > 10, `${missing}`);
  // Normalised before comparing: scaling either histogram changes nothing.
  assert.ok(Math.abs(klDivergence([1, 3], [2, 2]) - klDivergence([10, 30], [1, 1])) < 1e-12);
  const p = 0.25;
  assert.ok(Math.abs(klDivergence([1, 3], [2, 2]) - (p * Math.log(p / 0.5) + (1 - p) * Math.log((1 - p) / 0.5))) < 1e-12);
  assert.equal(klDivergence([0, 2], [1, 1]), Math.log(2), 'bins where P is 0 add nothing');
});
