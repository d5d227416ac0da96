import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binIndex, binomialSf, chi2Cdf, chi2Quantile, chi2Sf, chiSquareStatistic, cholesky, confidenceLogit, empiricalQuantiles, energyScore, equalFrequencyEdges, fitTemperature, hellinger,
  histogram, imageStats, invertLower, kolmogorovSf, ksCriticalCoefficient, ksStatistic, laplacianVariance, logGamma, mahalanobisMin, maxSoftmax, normalSf, packLower, packedLowerTimes, psi,
    quantileCdf, smoothedProportions, softmaxEntropy } from '../../src/drift/math.ts';
import { createRng } from '../../src/random.ts';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

test('special functions match tabulated values', () => {
  close(logGamma(5), Math.log(24), 1e-12, 'lnΓ(5)');
  close(logGamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-12, 'lnΓ(1/2)');
  close(chi2Quantile(0.95, 1), 3.841459, 1e-5, 'χ²(1) 95%');
  close(chi2Quantile(0.99, 9), 21.665994, 1e-5, 'χ²(9) 99%');
  close(chi2Quantile(0.999, 9), 27.877165, 1e-5, 'χ²(9) 99.9%');
  close(chi2Cdf(3.841459, 1), 0.95, 1e-6);
  close(chi2Sf(10, 2), Math.exp(-5), 1e-12, 'χ²(2) tail = exp(-x/2)');
  // Far tail stays relative-accurate (no 1 - P cancellation): χ²(2) tail at 200 is exp(-100).
  close(chi2Sf(200, 2) / Math.exp(-100), 1, 1e-9);
  close(normalSf(1.959964), 0.025, 1e-6);
  close(normalSf(-1.959964), 0.975, 1e-6);
  close(binomialSf(3, 10, 0.5), 968 / 1024, 1e-12);
  close(binomialSf(0, 10, 0.5), 1, 0);
  close(binomialSf(10, 10, 0.5), 1 / 1024, 1e-15);
  close(ksCriticalCoefficient(0.05), 1.358102, 1e-5);
  close(kolmogorovSf(1.358102), 0.05, 1e-4);
  close(kolmogorovSf(1.627624), 0.01, 1e-4);
});

test('PSI, Hellinger and Pearson X² pin known values', () => {
  close(psi([0.5, 0.5], [0.25, 0.75]), 0.25 * Math.log(2) - 0.25 * Math.log(0.5 / 0.75), 1e-12);
  assert.equal(psi([0.3, 0.7], [0.3, 0.7]), 0);
  close(hellinger([0.5, 0.5], [0.25, 0.75]), Math.sqrt(1 - Math.sqrt(0.125) - Math.sqrt(0.375)), 1e-12);
  close(hellinger([1, 0], [0, 1]), 1, 1e-12);
  assert.equal(hellinger([0.2, 0.8], [0.2, 0.8]), 0);
  close(chiSquareStatistic([30, 70], [0.5, 0.5]), 16, 1e-12);
  assert.deepEqual(smoothedProportions([0, 1]), [0.5 / 2, 1.5 / 2]);
});

test('binning: a value on an edge goes to the upper bin; equal-frequency edges drop duplicates', () => {
  assert.equal(binIndex([1, 2, 3], 0.5), 0);
  assert.equal(binIndex([1, 2, 3], 2), 2);
  assert.equal(binIndex([1, 2, 3], 9), 3);
  assert.deepEqual(histogram([0, 1, 1.5, 2, 3, 7], [1, 2, 3]), [1, 2, 1, 2]);
  assert.deepEqual(equalFrequencyEdges([1, 2, 3, 4, 5, 6, 7, 8, 9], 2), [5]);
  assert.deepEqual(equalFrequencyEdges([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], 5).map((v) => Number(v.toFixed(9))), [0, 0.2]);
  assert.deepEqual(empiricalQuantiles([3, 1, 2], 3), [1, 2, 3]);
});

test('KS statistic against a quantile reference, including point masses', () => {
  const uniform = Array.from({ length: 101 }, (_, i) => i / 100);
  close(quantileCdf(uniform, 0.37), 0.37, 1e-12);
  close(ksStatistic([0.5], uniform), 0.5, 1e-12);
  close(ksStatistic([0.1, 0.2, 0.3, 0.4], uniform), 0.6, 1e-12);
  // Reference with 75% of its mass at 1: a sample all at 1 differs only by the mass below 1.
  close(ksStatistic([1, 1, 1, 1], [0, 1, 1, 1, 1]), 0.25, 1e-12);
  // A sample drawn from the reference itself stays under the 1% critical value most of the time.
  const rng = createRng(3);
  let rejections = 0;
  for (let t = 0; t < 300; t++) {
    const sample = Array.from({ length: 200 }, () => rng());
    if (ksStatistic(sample, uniform) > ksCriticalCoefficient(0.01) * Math.sqrt(1 / 200)) rejections++;
  }
  assert.ok(rejections <= 9, `${rejections}/300 null samples rejected at 1%`);
});

test('n·PSI under no drift follows χ²(B-1): the window-size threshold holds its false-alarm rate', () => {
  const rng = createRng(9);
  const bins = 10;
  const q = new Array(bins).fill(1 / bins);
  for (const n of [100, 1000]) {
    const threshold = chi2Quantile(0.95, bins - 1) / n;
    let above = 0;
    let aboveFixed = 0;
    for (let t = 0; t < 1000; t++) {
      const counts = new Array(bins).fill(0);
      for (let i = 0; i < n; i++) counts[Math.floor(rng() * bins)]++;
      // As the monitor computes it: +0.5 per bin.
      const v = psi(smoothedProportions(counts), q);
      if (v > threshold) above++;
      if (v > 0.1) aboveFixed++;
    }
    assert.ok(above >= 25 && above <= 80, `n=${n}: ${above}/1000 above the χ² threshold (expected ~50)`);
    // The folklore fixed 0.1 fires constantly at n=100 and never at n=1000.
    if (n === 100) assert.ok(aboveFixed > 300, `n=100: fixed 0.1 fired ${aboveFixed}/1000`);
    else assert.equal(aboveFixed, 0);
  }
});

test('per-frame output scores', () => {
  close(softmaxEntropy(new Array(10).fill(0)), Math.log(10), 1e-12);
  close(softmaxEntropy([0, 100]), 0, 1e-12);
  close(energyScore(new Array(10).fill(0)), -Math.log(10), 1e-12);
  close(energyScore([3, 3], 2), -2 * (1.5 + Math.log(2)), 1e-12);
  close(maxSoftmax([0, 0]), 0.5, 1e-12);
  close(maxSoftmax([0, Math.log(3)]), 0.75, 1e-12);
  close(maxSoftmax([0, 2 * Math.log(3)], 2), 0.75, 1e-12);
  close(confidenceLogit([0, Math.log(3)]), Math.log(4), 1e-12);
  // Where float32 softmax would give exactly 1.0, the transform still orders the frames.
  assert.ok(confidenceLogit([0, 40]) > confidenceLogit([0, 30]));
});

test('temperature fit recovers the temperature that generated the labels', () => {
  const rng = createRng(21);
  const k = 5;
  const n = 4000;
  const logits = new Float32Array(n * k);
  const labels = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) logits[r * k + c] = (rng() - 0.5) * 12;
    const row = Array.from(logits.subarray(r * k, (r + 1) * k), (v) => Math.exp(v / 2));
    const total = row.reduce((a, b) => a + b, 0);
    let u = rng() * total;
    let c = 0;
    while (c < k - 1 && (u -= row[c]) > 0) c++;
    labels[r] = c;
  }
  close(fitTemperature(logits, labels, k), 2, 0.15, 'fitted T');
});

test('image statistics and Laplacian variance', () => {
  assert.equal(laplacianVariance(new Float32Array(16).fill(0.7), 4, 4), 0);
  const impulse = new Float32Array(16);
  impulse[5] = 1;
  close(laplacianVariance(impulse, 4, 4), 4.25, 1e-12);
  const half = new Uint8Array(784);
  half.fill(255, 0, 392);
  const s = imageStats(half);
  close(s.brightness, 0.5, 1e-12);
  close(s.contrast, 0.5, 1e-12);
  close(s.foreground, 0.5, 1e-12);
  assert.ok(s.sharpness > 0);
  assert.deepEqual(imageStats(new Uint8Array(784)), { brightness: 0, contrast: 0, sharpness: 0, foreground: 0 });
});

test('Mahalanobis through the packed whitening factor', () => {
  const cov = [4, 2, 2, 3];
  const l = cholesky(cov, 2);
  assert.deepEqual(Array.from(l).map((v) => Number(v.toFixed(12))), [2, 0, 1, Number(Math.SQRT2.toFixed(12))]);
  const w = packLower(invertLower(l, 2), 2);
  close(mahalanobisMin([1, 1], w, [[0, 0]], 2), 3 / 8, 1e-12);
  // The minimum over classes: the nearer mean wins.
  const far = Array.from(packedLowerTimes(w, [10, 10], 2));
  const near = Array.from(packedLowerTimes(w, [1, 1], 2));
  close(mahalanobisMin([1, 1], w, [far, near], 2), 0, 1e-12);
  assert.throws(() => cholesky([1, 2, 2, 1], 2), /not positive definite/);
});
