/**
 * McNemar's exact test for two classifiers scored on the same images: only the images exactly one
 * of them gets right say anything about which is better. Under "equally accurate" each such image
 * is a fair coin (A right or B right), so the two-sided p-value is twice the smaller binomial tail
 * of Bin(b + c, 1/2), capped at 1. Exact rather than the chi-square approximation: a close pair of
 * models has few discordant images (two customnet runs on 10,000 test images: a few hundred).
 */

export interface McNemar {
  /** Images only the first model classifies correctly. */
  onlyA: number;
  /** Images only the second model classifies correctly. */
  onlyB: number;
  /** Two-sided exact p-value of "both models are equally accurate" (1 when no image is discordant). */
  p: number;
}

/** Counts the discordant images of two prediction vectors against the labels and tests them. */
export function mcnemar(labels: ArrayLike<number>, predA: ArrayLike<number>, predB: ArrayLike<number>): McNemar {
  if (predA.length !== labels.length || predB.length !== labels.length) throw new Error(`mcnemar: ${labels.length} labels, ${predA.length} and ${predB.length} predictions`);
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < labels.length; i++) {
    const a = predA[i] === labels[i];
    const b = predB[i] === labels[i];
    if (a && !b) onlyA++;
    else if (b && !a) onlyB++;
  }
  return { onlyA, onlyB, p: mcnemarExactP(onlyA, onlyB) };
}

/** 2 * P(X <= min(b, c)) for X ~ Bin(b + c, 1/2), at most 1; summed in log space so n in the thousands does not underflow. */
export function mcnemarExactP(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  // log C(n, i) by the recurrence C(n, i) = C(n, i - 1) * (n - i + 1) / i, then log-sum-exp.
  const logTerms: number[] = [];
  let logC = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    logTerms.push(logC - n * Math.LN2);
  }
  const max = Math.max(...logTerms);
  let sum = 0;
  for (const t of logTerms) sum += Math.exp(t - max);
  return Math.min(1, 2 * Math.exp(max) * sum);
}
