import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chi2Cdf, chi2Sf, gammaP, ksStatistic, logGamma, logSumExp, quantileCdf } from '../../src/drift/math.ts';

/**
 * The drift maths where the mutation run (docs/testing.md, drift) found nothing pinned: lnΓ near 0,
 * chi-square at many degrees of freedom and far out in both tails, a point mass at the minimum of a
 * quantile reference, the left-hand side of the KS statistic, a temperature with huge logits.
 * Every expected value comes from a closed form or series written out here.
 */
const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);
const rel = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol * Math.abs(b), `${what} ${a} vs ${b} (rel ${tol})`);

/** Chi-square upper tail for even df as a Poisson sum: P(χ²(df) > x) = P(Poisson(x/2) < df/2), terms in log space. */
function chi2SfEven(x: number, df: number): number {
  const l = x / 2;
  let s = 0;
  let lnFact = 0;
  for (let k = 0; k < df / 2; k++) {
    if (k > 0) lnFact += Math.log(k);
    s += Math.exp(-l + k * Math.log(l) - lnFact);
  }
  return s;
}

/** erf by its Maclaurin series (fine for small arguments): χ²(1) has CDF erf(sqrt(x/2)). */
function erfSeries(z: number): number {
  let s = 0;
  let term = z; // (-1)^n z^(2n+1) / n!
  for (let n = 0; n < 30; n++) {
    s += term / (2 * n + 1);
    term *= (-z * z) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}

test('logGamma near 0: -ln x - γx + ζ(2)x²/2 (the reflection keeps it exact where Lanczos alone drifts)', () => {
  const euler = 0.5772156649015329;
  for (const x of [1e-8, 1e-6]) close(logGamma(x), -Math.log(x) - euler * x + ((Math.PI ** 2 / 6) * x * x) / 2, 1e-12, `lnΓ(${x})`);
});

test('chi-square for many degrees of freedom, both tails, against the Poisson sum', () => {
  // Far below the mean (x << df): the upper tail is all but 1, and the continued fraction would not converge there.
  for (const [x, df] of [[10, 40], [11, 40], [36, 100], [20, 100]] as const) close(chi2Sf(x, df), chi2SfEven(x, df), 1e-12, `sf(${x}, ${df})`);
  // Far above it: a tail of 1e-15 to 1e-37, which 1 - P(x) would round to 0.
  for (const [x, df] of [[250, 100], [300, 100], [400, 100], [120, 40]] as const) rel(chi2Sf(x, df), chi2SfEven(x, df), 1e-9, `sf(${x}, ${df})`);
  // The CDF far above the mean, where the lower series would overflow: 1 - e^(-x/2) for df = 2.
  assert.equal(chi2Cdf(4000, 2), 1);
  assert.equal(gammaP(1, 2000), 1);
  close(chi2Cdf(60, 4), 1 - Math.exp(-30) * 31, 1e-15, 'cdf(60, 4) = 1 - e^-30 (1 + 30)');
  // Just above 0 with one degree of freedom: erf(sqrt(x/2)).
  for (const x of [0.01, 0.2]) {
    close(chi2Cdf(x, 1), erfSeries(Math.sqrt(x / 2)), 1e-12, `cdf(${x}, 1)`);
    close(chi2Sf(x, 1), 1 - erfSeries(Math.sqrt(x / 2)), 1e-12, `sf(${x}, 1)`);
  }
});

test('quantile reference with a point mass at its minimum: the CDF there is the mass, not 0', () => {
  // Levels 0, 1/3, 2/3, 1 at 0, 0, 0, 3: two thirds of the reference sits exactly at 0.
  const q = [0, 0, 0, 3];
  close(quantileCdf(q, 0), 2 / 3, 1e-15, 'F(0)');
  close(quantileCdf(q, 1.5), 2 / 3 + 1 / 6, 1e-15, 'F(1.5)');
  assert.equal(quantileCdf(q, -1e-9), 0);
  // A sample all at 0: F_n jumps from 0 to 1 there, F from 0 to 2/3, so D = 1/3.
  close(ksStatistic([0, 0, 0], q), 1 / 3, 1e-15);
});

test('KS: the left-hand side of the sup, at any sample position, on uneven quantile steps', () => {
  // One sample at 5 against U(2, 6): F(5) = 3/4, F_n is 0 just below 5, so D = 3/4.
  close(ksStatistic([5], [2, 6]), 0.75, 1e-15, 'one step of width 4');
  // Steps of width 1 then 2 (levels 0, 1/2, 1 at 0, 1, 3): F(2) = 1/2 + 1/4.
  close(ksStatistic([2], [0, 1, 3]), 0.75, 1e-15, 'the second, wider step');
  // Against U(0, 1): F_n - F is at most 0.3 (after 0.2), F - F_n at most 0.95 - 2/4 = 0.45 (just below 0.95).
  close(ksStatistic([0.1, 0.2, 0.95, 0.96], [0, 1]), 0.45, 1e-12, 'the largest gap is below the third sample');
  // A tie at 0.8: just below it F_n = 1/3, so D = 0.8 - 1/3; on the right F_n = 1 against 0.8.
  close(ksStatistic([0.1, 0.8, 0.8], [0, 1]), 0.8 - 1 / 3, 1e-12, 'the left side of a tie counts from its first sample');
});

test('logSumExp with a temperature on logits far beyond exp\'s range', () => {
  close(logSumExp([1000, 1000], 2), 500 + Math.log(2), 1e-12, 'T = 2');
  close(logSumExp([-1000, -1000], 0.5), -2000 + Math.log(2), 1e-12, 'T = 0.5');
  close(logSumExp([400, 0], 0.5), 800 + Math.log1p(Math.exp(-800)), 1e-12, 'the small one underflows, the large one does not overflow');
});
