import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  binIndex, binomialSf, chi2Cdf, chi2Quantile, chi2Sf, chiSquareStatistic, cholesky, confidenceLogit, empiricalQuantiles, energyScore, equalFrequencyEdges, FOREGROUND_LEVEL, gammaP,
  hellinger, histogram, IMAGE_STAT_NAMES, imageStats, invertLower, kolmogorovSf, ksStatistic, laplacianVariance, logGamma, logSumExp, mahalanobisMin, maxSoftmax, meanNll, normalSf,
  packedLowerTimes, packLower, psi, quantileCdf, smoothedProportions, softmaxEntropy,
} from '../../src/drift/math.ts';

/**
 * The drift maths at the places test/drift/math.test.ts does not reach: the other branch of every
 * special function, edge cases of the distances and scores, and closed forms to check them by.
 */
const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);
const rel = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol * Math.abs(b), `${what} ${a} vs ${b} (rel ${tol})`);

test('logGamma: the reflection below 1/2 and the Lanczos sum above, against Γ values', () => {
  close(logGamma(0.25), Math.log(3.6256099082219083), 1e-12, 'Γ(1/4)');
  close(logGamma(0.1), Math.log(9.513507698668732), 1e-12, 'Γ(0.1)');
  close(logGamma(1), 0, 1e-13, 'Γ(1)');
  close(logGamma(2), 0, 1e-13, 'Γ(2)');
  close(logGamma(3.5), Math.log(3.3233509704478426), 1e-12, 'Γ(7/2) = 15√π/8');
  close(logGamma(11), Math.log(3628800), 1e-10, '10!');
  rel(logGamma(101), 363.73937555556347, 1e-13, 'ln 100!');
});

test('chi-square: both branches of the incomplete gamma, closed forms for 2 and 4 degrees of freedom', () => {
  // df = 4: P(X <= x) = 1 - e^(-x/2) (1 + x/2); df = 2: 1 - e^(-x/2).
  const cdf4 = (x: number) => 1 - Math.exp(-x / 2) * (1 + x / 2);
  for (const x of [0.5, 1, 3, 5.9, 6.1, 12, 40]) {
    close(chi2Cdf(x, 4), cdf4(x), 1e-13, `cdf(${x}, 4)`);
    rel(chi2Sf(x, 4), Math.exp(-x / 2) * (1 + x / 2), 1e-9, `sf(${x}, 4)`);
    close(chi2Cdf(x, 2), 1 - Math.exp(-x / 2), 1e-13, `cdf(${x}, 2)`);
    rel(chi2Sf(x, 2), Math.exp(-x / 2), 1e-10, `sf(${x}, 2)`);
  }
  rel(chi2Sf(400, 4), Math.exp(-200) * 201, 1e-9, 'far tail');
  assert.equal(gammaP(2, 0), 0);
  assert.equal(gammaP(2, -1), 0);
  assert.equal(chi2Sf(0, 3), 1);
  assert.equal(chi2Sf(-2, 3), 1);
  close(chi2Cdf(1e-300, 4), 0, 1e-300);
  close(gammaP(0.5, 1e-4) + chi2Sf(2e-4, 1), 1, 1e-13, 'P + Q = 1');
  for (const [p, df] of [[0.5, 2], [0.9, 4], [0.999999, 2], [1e-6, 2], [0.95, 30]] as const) {
    const x = chi2Quantile(p, df);
    close(chi2Cdf(x, df), p, 1e-9, `quantile(${p}, ${df})`);
  }
  close(chi2Quantile(0.5, 2), 2 * Math.log(2), 1e-10, 'median of χ²(2)');
  close(chi2Quantile(0.95, 30), 43.772972, 1e-5, 'χ²(30) 95%');
  for (const bad of [0, 1, -0.5, 2, Number.NaN]) assert.throws(() => chi2Quantile(bad, 2), (e: Error) => e instanceof RangeError && e.message === `chi2Quantile: p must be in (0,1), got ${bad}`);
});

test('normalSf, binomialSf, kolmogorovSf: symmetry, both ends, and the clamps', () => {
  close(normalSf(0), 0.5, 1e-7);
  close(normalSf(1), 0.15865525, 2e-8);
  close(normalSf(-1), 1 - 0.15865525, 2e-8);
  close(normalSf(3), 0.0013498980, 2e-9);
  rel(normalSf(6), 9.8658765e-10, 1e-6);
  close(normalSf(-6), 1, 1e-9);
  // Binomial(4, 0.3): P(X >= 2) = 1 - 0.7^4 - 4·0.3·0.7^3.
  close(binomialSf(2, 4, 0.3), 1 - 0.7 ** 4 - 4 * 0.3 * 0.7 ** 3, 1e-14);
  close(binomialSf(4, 4, 0.3), 0.3 ** 4, 1e-16);
  close(binomialSf(1, 4, 0.3), 1 - 0.7 ** 4, 1e-14);
  assert.equal(binomialSf(-1, 4, 0.3), 1);
  assert.equal(binomialSf(5, 4, 0.3), 0);
  assert.ok(binomialSf(1, 3, 1 - 1e-12) <= 1, 'never above 1');
  let tail = 0;
  for (let j = 150; j <= 200; j++) tail += Math.exp(lnBinomPmf(j, 200, 0.05));
  rel(binomialSf(150, 200, 0.05), tail, 1e-9, 'far tail, summed in log space');
  assert.equal(kolmogorovSf(0.1), 1);
  assert.equal(kolmogorovSf(0), 1);
  close(kolmogorovSf(0.5), 0.9639452436648751, 1e-9, 'Q(0.5)');
  close(kolmogorovSf(1), 0.26999967167735456, 1e-9, 'Q(1)');
  close(kolmogorovSf(0.2), 1, 1e-12, 'at the cut-off the series is 1 too');
  rel(kolmogorovSf(3), 2 * Math.exp(-18), 1e-6, 'Q(3) ≈ 2e^-18');
  assert.ok(kolmogorovSf(0.25) <= 1 && kolmogorovSf(0.25) > 0.99999);
});

function lnBinomPmf(k: number, n: number, p: number): number {
  let c = 0;
  for (let i = 0; i < k; i++) c += Math.log((n - i) / (i + 1));
  return c + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

test('binning and distances: edges at both ends, empty bins smoothed, Pearson X² per bin', () => {
  assert.equal(binIndex([], 5), 0);
  assert.equal(binIndex([1], 1), 1);
  assert.equal(binIndex([1], 0.999), 0);
  assert.equal(binIndex([1, 2, 3, 4, 5, 6, 7], 4), 4);
  assert.equal(binIndex([1, 2, 3, 4, 5, 6, 7], 3.5), 3);
  assert.equal(binIndex([1, 2, 3, 4, 5, 6, 7], 7), 7);
  assert.equal(binIndex([1, 2, 3, 4, 5, 6, 7], -7), 0);
  assert.deepEqual(histogram(Float32Array.of(0.5, 1.5, 2.5), [1, 2]), [1, 1, 1]);
  assert.deepEqual(histogram([], [1, 2]), [0, 0, 0]);
  assert.deepEqual(smoothedProportions([3, 0, 1]), [3.5 / 5.5, 0.5 / 5.5, 1.5 / 5.5]);
  close(psi([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), -0.3 * Math.log(0.4) + 0.3 * Math.log(2.5), 1e-12);
  close(hellinger([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), Math.sqrt(1 - 2 * Math.sqrt(0.1) - 0.3), 1e-12);
  assert.equal(hellinger([0.5, 0.5], [0.5, 0.5 + 1e-16]), 0, 'rounding above 1 is clamped');
  close(chiSquareStatistic([10, 20, 30], [0.5, 0.25, 0.25]), (20 ** 2) / 30 + (5 ** 2) / 15 + (15 ** 2) / 15, 1e-12);
});

test('quantile CDF and KS: below, above and between quantiles; flat runs; ties in the sample', () => {
  const q = [0, 1, 1, 1, 4];
  assert.equal(quantileCdf(q, -1), 0);
  assert.equal(quantileCdf(q, 4), 1);
  assert.equal(quantileCdf(q, 9), 1);
  close(quantileCdf(q, 0.5), 0.125, 1e-12, 'half way up the first step');
  close(quantileCdf(q, 1), 0.75, 1e-12, 'the point mass at 1 jumps to its last level');
  close(quantileCdf(q, 2.5), 0.875, 1e-12);
  close(quantileCdf([0, 2, 4, 6, 8, 10, 12, 14, 16], 11), 11 / 16, 1e-12, 'a longer search');
  close(ksStatistic([0.5], [0, 1]), 0.5, 1e-12);
  close(ksStatistic([0.2, 0.2, 0.9], [0, 1]), Math.max(2 / 3 - 0.2, 0.2 - 0, 0.9 - 2 / 3, 1 - 0.9), 1e-12, 'tied values count once on each side');
  close(ksStatistic([-1, -1], [0, 1]), 1, 1e-12, 'all below the reference');
  close(ksStatistic([2, 3], [0, 1]), 1, 1e-12, 'all above');
  close(ksStatistic([0.25, 0.75], [0, 0.5, 1]), 0.25, 1e-12);
  close(ksStatistic(Float32Array.of(3, 1, 2), [0, 1, 2, 3, 4]), Math.max(1 / 3 - 1 / 4, 2 / 3 - 2 / 4, 1 - 3 / 4, 1 / 4, 2 / 4 - 1 / 3, 3 / 4 - 2 / 3), 1e-7, 'unsorted input');
  // The left limit at a point mass: a sample at 1 against q sees the mass below 1 only (0.25).
  close(ksStatistic([1], q), Math.max(1 - 0.75, 0.25), 1e-12);
  close(ksStatistic([0], q), 1, 1e-12, 'at the minimum: F = 0 from the left');
});

test('quantiles and equal-frequency edges: type-7 interpolation between order statistics', () => {
  assert.deepEqual(empiricalQuantiles([4, 1, 3, 2], 3), [1, 2.5, 4]);
  assert.deepEqual(empiricalQuantiles([10, 0], 5), [0, 2.5, 5, 7.5, 10]);
  assert.deepEqual(empiricalQuantiles([7], 3), [7, 7, 7]);
  assert.deepEqual(equalFrequencyEdges([1, 2, 3, 4, 5, 6, 7, 8, 9], 4), [3, 5, 7]);
  assert.deepEqual(equalFrequencyEdges([1, 1, 1, 1, 2], 4), [1]);
});

test('output scores: temperature, ties, a logit that swamps the rest', () => {
  close(logSumExp([1, 2, 3]), Math.log(Math.E + Math.E ** 2 + Math.E ** 3), 1e-12);
  close(logSumExp([1, 2, 3], 2), Math.log(Math.exp(0.5) + Math.exp(1) + Math.exp(1.5)), 1e-12);
  close(logSumExp([1000, 1000]), 1000 + Math.log(2), 1e-9, 'no overflow');
  close(logSumExp([-1000, -1001]), -1000 + Math.log1p(Math.exp(-1)), 1e-9, 'no underflow');
  close(softmaxEntropy([0, 0], 5), Math.log(2), 1e-12);
  const p = [1, 2, 3].map((v) => Math.exp(v / 2));
  const s = p.reduce((a, b) => a + b, 0);
  close(softmaxEntropy([1, 2, 3], 2), -p.reduce((a, v) => a + (v / s) * Math.log(v / s), 0), 1e-12);
  assert.ok(softmaxEntropy([0, 800]) >= 0, 'never negative');
  close(energyScore([1, 2, 3]), -logSumExp([1, 2, 3]), 1e-12);
  close(maxSoftmax([3, 1, 2]), Math.E ** 3 / (Math.E + Math.E ** 2 + Math.E ** 3), 1e-12);
  close(maxSoftmax([-5, -7]), 1 / (1 + Math.exp(-2)), 1e-12, 'all negative');
  close(confidenceLogit([5, 5]), Math.log(2), 1e-12, 'a tie: the runner-up is as likely');
  close(confidenceLogit([5, 5, 5]), Math.log(3 / 2), 1e-12);
  close(confidenceLogit([-3, -1, -2]), -Math.log((Math.exp(-2) + Math.exp(-1)) / (1 + Math.exp(-2) + Math.exp(-1))), 1e-12);
  assert.equal(confidenceLogit([0, 1000]), 745, 'the rest underflows: capped where exp(-x) does');
  assert.equal(confidenceLogit([7]), 745);
  // Mean NLL of labels under softmax(logits / T), rows of k.
  const logits = [2, 0, 0, 1];
  const labels = [0, 1];
  const nll = ((Math.log(Math.exp(1) + 1) - 1) + (Math.log(1 + Math.exp(0.5)) - 0.5)) / 2;
  close(meanNll(logits, labels, 2, 2), nll, 1e-12);
  close(meanNll(Float32Array.from(logits), Uint8Array.from(labels), 2, 1), ((Math.log(Math.exp(2) + 1) - 2) + (Math.log(1 + Math.E) - 1)) / 2, 1e-7);
});

test('image statistics: brightness, contrast, Laplacian sharpness, foreground above level 25, any size', () => {
  assert.deepEqual(IMAGE_STAT_NAMES, ['brightness', 'contrast', 'sharpness', 'foreground']);
  assert.equal(FOREGROUND_LEVEL, 25);
  const px = new Uint8Array(784);
  px[0] = 25;
  px[1] = 26;
  px[2] = 255;
  const s = imageStats(px);
  close(s.foreground, 2 / 784, 1e-15, 'strictly above 25');
  close(s.brightness, (25 + 26 + 255) / 255 / 784, 1e-12);
  const sq = (25 / 255) ** 2 + (26 / 255) ** 2 + 1;
  close(s.contrast, Math.sqrt(sq / 784 - s.brightness ** 2), 1e-12);
  // A 4x3 image: one interior row of two pixels.
  const small = Uint8Array.of(0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0);
  const st = imageStats(small, 4, 3);
  // Laplacians of the interior pixels (1,1) and (2,1): -4 and +1 (on the 0..1 scale).
  close(st.sharpness, ((16 + 1) / 2) - ((-4 + 1) / 2) ** 2, 1e-6);
  close(st.brightness, 1 / 12, 1e-12);
  assert.equal(laplacianVariance([1, 2, 3, 4, 5, 6], 3, 2), 0, 'no interior pixel');
  assert.equal(laplacianVariance([1, 2, 3, 4, 5, 6], 2, 3), 0);
  // A linear ramp has a zero Laplacian everywhere.
  assert.equal(laplacianVariance(Float32Array.from({ length: 25 }, (_, i) => (i % 5) + 2 * Math.floor(i / 5)), 5, 5), 0);
});

test('Cholesky, triangular inverse, packed product and the Mahalanobis minimum on a 3x3 case', () => {
  // A = L Lᵀ with L = [[2,0,0],[1,3,0],[-1,2,1]].
  const L = [2, 0, 0, 1, 3, 0, -1, 2, 1];
  const A = [4, 2, -2, 2, 10, 5, -2, 5, 6];
  assert.deepEqual(Array.from(cholesky(A, 3)), L);
  const W = invertLower(L, 3);
  // W L = I.
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    let s = 0;
    for (let k = 0; k < 3; k++) s += W[i * 3 + k] * L[k * 3 + j];
    close(s, i === j ? 1 : 0, 1e-12, `(WL)[${i}][${j}]`);
  }
  assert.deepEqual(packLower([1, 0, 0, 2, 3, 0, 4, 5, 6], 3), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(packedLowerTimes([1, 2, 3, 4, 5, 6], [1, 10, 100], 3)), [1, 32, 654]);
  const w = packLower(W, 3);
  // (x-μ)ᵀ A⁻¹ (x-μ) for x - μ = L·(1, 2, 2): |(1, 2, 2)|² = 9.
  const x = [2 * 1, 1 * 1 + 3 * 2, -1 * 1 + 2 * 2 + 1 * 2];
  close(mahalanobisMin(x, w, [[0, 0, 0]], 3), 9, 1e-10);
  const far = Array.from(packedLowerTimes(w, [100, 0, 0], 3));
  close(mahalanobisMin(x, w, [far, [0, 0, 0], far], 3), 9, 1e-10, 'the nearest of three');
  assert.equal(mahalanobisMin(x, w, [], 3), Infinity);
  assert.throws(() => cholesky([1, 0, 0, 0, -1, 0, 0, 0, 1], 3), (e: Error) => e instanceof RangeError && e.message === 'cholesky: matrix not positive definite at row 1');
  assert.throws(() => cholesky([0, 0, 0, 1], 2), /at row 0/);
  assert.throws(() => cholesky([1, 1, 1, 1], 2), /at row 1/, 'singular');
});
