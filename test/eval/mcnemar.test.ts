import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mcnemar, mcnemarExactP } from '../../training/eval/mcnemar.ts';

/** McNemar's exact test (training/eval/mcnemar.ts) against binomial sums worked out by hand. */

const close = (a: number, b: number, rel = 1e-9) => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-300), `${a} vs ${b}`);

test('small counts: twice the binomial tail, as summed by hand', () => {
  // b = 10, c = 2: n = 12, 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096.
  close(mcnemarExactP(10, 2), (2 * 79) / 4096);
  close(mcnemarExactP(2, 10), (2 * 79) / 4096);
  // b = 5, c = 0: 2 / 2^5.
  close(mcnemarExactP(5, 0), 2 / 32);
  // b = 7, c = 3: n = 10, 2 * (1 + 10 + 45 + 120) / 1024.
  close(mcnemarExactP(7, 3), (2 * 176) / 1024);
});

test('a balanced or empty split is no evidence: p = 1 (twice a tail that holds the middle term is capped)', () => {
  assert.equal(mcnemarExactP(0, 0), 1);
  assert.equal(mcnemarExactP(4, 4), 1);
  assert.equal(mcnemarExactP(1, 0), 1);
});

test('thousands of discordant images: no underflow, and the normal approximation agrees', () => {
  // 2^-3000 underflows a double; the log-space sum must not.
  const p = mcnemarExactP(1600, 1400);
  // Continuity-corrected normal approximation: z = (|b - c| - 1) / sqrt(b + c); two-sided tail via erfc.
  const z = (200 - 1) / Math.sqrt(3000);
  // erfc = 1 - erf, erf from its Taylor series (accurate to ~1e-13 for x < 3).
  const erfc = (x: number) => {
    let sum = 0;
    let term = x;
    for (let n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= (-x * x) / (n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  };
  const approx = erfc(z / Math.SQRT2);
  assert.ok(p > 0 && p < 1e-3, String(p));
  close(p, approx, 0.05);
  assert.equal(mcnemarExactP(5000, 0) > 0, false, 'beyond double range the p-value is 0, not NaN');
  assert.ok(!Number.isNaN(mcnemarExactP(5000, 0)));
});

test('mcnemar counts only the images exactly one model gets right', () => {
  const labels = [0, 1, 2, 3, 4, 5, 6, 7];
  const a = [0, 1, 2, 3, 9, 9, 6, 9]; // right on 0,1,2,3,6
  const b = [0, 1, 9, 9, 4, 5, 9, 9]; // right on 0,1,4,5
  const r = mcnemar(labels, a, b);
  assert.deepEqual([r.onlyA, r.onlyB], [3, 2]);
  close(r.p, mcnemarExactP(3, 2));
  assert.throws(() => mcnemar(labels, a.slice(1), b), /8 labels, 7 and 8 predictions/);
});
