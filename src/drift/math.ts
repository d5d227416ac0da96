import { IMAGE_SIZE } from '../classes.ts';

/**
 * Pure maths of the drift monitor: distribution distances, their null distributions, and the
 * per-frame scores. No I/O, no dependencies, so the device, training and a dashboard share it.
 */

// ---------- distributions ----------

/** ln Γ(x) (Lanczos, g=7), accurate to ~1e-13 for x > 0. */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xx = x - 1;
  let a = c[0];
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized lower incomplete gamma P(a, x) (series below a+1, continued fraction above). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
  }
  return 1 - gammaQcf(a, x);
}

/** Upper tail Q(a, x) = 1 - P(a, x) by Lentz's continued fraction (no cancellation in the tail). */
function gammaQcf(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

export function chi2Cdf(x: number, df: number): number {
  return gammaP(df / 2, x / 2);
}

/** Upper tail P(X > x) of chi-square, exact in the far tail (p-values of strong drift). */
export function chi2Sf(x: number, df: number): number {
  if (x <= 0) return 1;
  return x / 2 < df / 2 + 1 ? 1 - gammaP(df / 2, x / 2) : gammaQcf(df / 2, x / 2);
}

/** x with chi2Cdf(x, df) = p, by bisection on the (monotone) CDF in log space. */
export function chi2Quantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`chi2Quantile: p must be in (0,1), got ${p}`);
  let lo = 0;
  let hi = Math.max(1, df);
  while (chi2Sf(hi, df) > 1 - p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (chi2Sf(mid, df) > 1 - p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Standard normal upper tail (erfc by Numerical Recipes' Chebyshev fit, rel. error < 1.2e-7). */
export function normalSf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly = 1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))));
  const erfc = t * Math.exp(-x * x - 1.26551223 + t * poly);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
export function binomialSf(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  const lnC = (j: number) => logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1);
  let sum = 0;
  for (let j = k; j <= n; j++) {
    const term = Math.exp(lnC(j) + j * lp + (n - j) * lq);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.min(1, sum);
}

/** Kolmogorov distribution upper tail Q(λ) = 2 Σ (-1)^(k-1) exp(-2k²λ²). */
export function kolmogorovSf(lambda: number): number {
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += (k % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-17) break;
  }
  return Math.max(0, Math.min(1, 2 * sum));
}

/** c(α) of the two-sample KS test: reject when D > c(α)·sqrt(1/n + 1/m). */
export function ksCriticalCoefficient(alpha: number): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2);
}

// ---------- distances between binned distributions ----------

/** Bin index of x given sorted inner edges: the number of edges <= x (so B = edges.length + 1 bins). */
export function binIndex(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function histogram(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binIndex(edges, values[i])]++;
  return counts;
}

/** Proportions with +0.5 per bin, so an empty bin does not make PSI infinite. */
export function smoothedProportions(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0) + 0.5 * counts.length;
  return counts.map((c) => (c + 0.5) / total);
}

/** Population stability index Σ (p - q) ln(p / q); p, q proportions without zeros. */
export function psi(p: readonly number[], q: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (p[i] - q[i]) * Math.log(p[i] / q[i]);
  return s;
}

/** Hellinger distance sqrt(1 - Σ sqrt(p q)), in [0, 1]. */
export function hellinger(p: readonly number[], q: readonly number[]): number {
  let bc = 0;
  for (let i = 0; i < p.length; i++) bc += Math.sqrt(p[i] * q[i]);
  return Math.sqrt(Math.max(0, 1 - bc));
}

/** Pearson X² of observed counts against expected proportions. */
export function chiSquareStatistic(observed: readonly number[], expected: readonly number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  let s = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = n * expected[i];
    s += ((observed[i] - e) ** 2) / e;
  }
  return s;
}

/**
 * CDF of a reference distribution stored as quantiles at equally spaced levels 0..1 (the first is
 * the minimum, the last the maximum), linear between them.
 */
export function quantileCdf(quantiles: readonly number[], x: number): number {
  const q = quantiles.length - 1;
  if (x < quantiles[0]) return 0;
  if (x >= quantiles[q]) return 1;
  let lo = 0;
  let hi = q;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (quantiles[mid] <= x) lo = mid;
    else hi = mid;
  }
  // quantiles[lo] <= x < quantiles[hi], so the step is never flat: the search ends on the last level
  // of a flat run of quantiles (a point mass), where the CDF has jumped.
  return (lo + (x - quantiles[lo]) / (quantiles[hi] - quantiles[lo])) / q;
}

/** KS statistic sup |F_n - F| of a sample against a reference given by its quantiles. */
export function ksStatistic(sample: ArrayLike<number>, quantiles: readonly number[]): number {
  const xs = Float64Array.from(sample).sort();
  const n = xs.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    // Only the last of tied sample values counts for the upper side; F is continuous from the right.
    const f = quantileCdf(quantiles, xs[i]);
    if (i + 1 === n || xs[i + 1] !== xs[i]) d = Math.max(d, (i + 1) / n - f);
    const fLeft = leftLimitCdf(quantiles, xs[i]);
    if (i === 0 || xs[i - 1] !== xs[i]) d = Math.max(d, fLeft - i / n);
  }
  return d;
}

function leftLimitCdf(quantiles: readonly number[], x: number): number {
  const q = quantiles.length - 1;
  if (x <= quantiles[0]) return 0;
  if (x > quantiles[q]) return 1;
  // Largest level whose quantile is < x, then linear to the next.
  let lo = 0;
  let hi = q;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (quantiles[mid] < x) lo = mid;
    else hi = mid;
  }
  // quantiles[lo] < x <= quantiles[hi]: a step of non-zero width.
  return (lo + (x - quantiles[lo]) / (quantiles[hi] - quantiles[lo])) / q;
}

/** Empirical quantiles at `levels` equally spaced levels 0..1 (type-7 interpolation). */
export function empiricalQuantiles(values: ArrayLike<number>, levels: number): number[] {
  const xs = Float64Array.from(values).sort();
  const out: number[] = [];
  for (let i = 0; i < levels; i++) {
    const h = (xs.length - 1) * (i / (levels - 1));
    const lo = Math.floor(h);
    const hi = Math.min(xs.length - 1, lo + 1);
    out.push(xs[lo] + (h - lo) * (xs[hi] - xs[lo]));
  }
  return out;
}

/** Inner edges of `bins` equal-frequency bins of `values`, duplicates removed. */
export function equalFrequencyEdges(values: ArrayLike<number>, bins: number): number[] {
  const q = empiricalQuantiles(values, bins + 1).slice(1, -1);
  return [...new Set(q)];
}

// ---------- per-frame scores ----------

function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  return m;
}

/** ln Σ exp(x_i / T), stable. */
export function logSumExp(logits: ArrayLike<number>, temperature = 1): number {
  const m = maxOf(logits) / temperature;
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i] / temperature - m);
  return m + Math.log(s);
}

/** Softmax entropy in nats, in float64 from the logits. */
export function softmaxEntropy(logits: ArrayLike<number>, temperature = 1): number {
  const lse = logSumExp(logits, temperature);
  let h = 0;
  for (let i = 0; i < logits.length; i++) {
    const lp = logits[i] / temperature - lse;
    h -= Math.exp(lp) * lp;
  }
  return Math.max(0, h);
}

/** Energy score -T ln Σ exp(l/T) (Liu et al. 2020): higher means less familiar. */
export function energyScore(logits: ArrayLike<number>, temperature = 1): number {
  return -temperature * logSumExp(logits, temperature);
}

/** Max softmax probability with temperature T. */
export function maxSoftmax(logits: ArrayLike<number>, temperature = 1): number {
  return Math.exp(maxOf(logits) / temperature - logSumExp(logits, temperature));
}

/**
 * -ln(1 - max softmax), computed without forming 1 - p: a monotone transform of the confidence
 * (so KS gives the same answer) that does not saturate at 1.0 in float32 like p itself.
 */
export function confidenceLogit(logits: ArrayLike<number>): number {
  const m = maxOf(logits);
  let top = -1;
  for (let i = 0; i < logits.length; i++) if (logits[i] === m) { top = i; break; }
  let rest = 0;
  let all = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i] - m);
    all += e;
    if (i !== top) rest += e;
  }
  return rest > 0 ? -Math.log(rest / all) : 745;
}

/** Negative log-likelihood (mean) of labels under softmax(logits / T); logits row-major [n, k]. */
export function meanNll(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, temperature: number): number {
  const n = labels.length;
  let s = 0;
  for (let r = 0; r < n; r++) {
    const row = Array.prototype.slice.call(logits, r * k, r * k + k) as number[];
    s += logSumExp(row, temperature) - row[labels[r]] / temperature;
  }
  return s / n;
}

/** Temperature minimising the NLL: golden-section search on ln T in [ln 0.05, ln 20]. */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const f = (lt: number) => meanNll(logits, labels, k, Math.exp(lt));
  let a = Math.log(0.05);
  let b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 60; i++) {
    if (fc < fd) { b = d; d = c; fd = fc; c = b - g * (b - a); fc = f(c); }
    else { a = c; c = d; fc = fd; d = a + g * (b - a); fd = f(d); }
  }
  return Math.exp((a + b) / 2);
}

// ---------- image statistics ----------

/** Variance of the 4-neighbour Laplacian over interior pixels of a w×h image (values as given). */
export function laplacianVariance(img: ArrayLike<number>, width: number, height: number): number {
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const l = img[i - 1] + img[i + 1] + img[i - width] + img[i + width] - 4 * img[i];
      s += l;
      s2 += l * l;
      n++;
    }
  }
  if (n === 0) return 0;
  const mean = s / n;
  return Math.max(0, s2 / n - mean * mean);
}

export interface ImageStats {
  /** Mean pixel, 0..1. */
  brightness: number;
  /** Pixel standard deviation, 0..0.5. */
  contrast: number;
  /** Laplacian variance on the 0..1 scale. */
  sharpness: number;
  /** Fraction of pixels brighter than FOREGROUND_LEVEL (garment area on the black background). */
  foreground: number;
}

export const IMAGE_STAT_NAMES = ['brightness', 'contrast', 'sharpness', 'foreground'] as const;
export type ImageStatName = (typeof IMAGE_STAT_NAMES)[number];
/** 8-bit level above which a pixel counts as garment (10% of full scale). */
export const FOREGROUND_LEVEL = 25;

/** Statistics of one 8-bit grayscale image (28×28 after preprocessing). */
export function imageStats(pixels: Uint8Array, width = IMAGE_SIZE, height = IMAGE_SIZE): ImageStats {
  let s = 0;
  let s2 = 0;
  let fg = 0;
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i] / 255;
    s += v;
    s2 += v * v;
    if (pixels[i] > FOREGROUND_LEVEL) fg++;
  }
  const n = pixels.length;
  const mean = s / n;
  const scaled = Float32Array.from(pixels, (v) => v / 255);
  return {
    brightness: mean,
    contrast: Math.sqrt(Math.max(0, s2 / n - mean * mean)),
    sharpness: laplacianVariance(scaled, width, height),
    foreground: fg / n,
  };
}

// ---------- Mahalanobis ----------

/** Lower Cholesky factor L of a symmetric positive definite matrix (row-major d×d): A = L Lᵀ. */
export function cholesky(a: ArrayLike<number>, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      if (i === j) {
        if (!(s > 0)) throw new RangeError(`cholesky: matrix not positive definite at row ${i}`);
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / l[j * d + j];
      }
    }
  }
  return l;
}

/** Inverse of a lower-triangular matrix (still lower-triangular). */
export function invertLower(l: ArrayLike<number>, d: number): Float64Array {
  const w = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    w[i * d + i] = 1 / l[i * d + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * d + k] * w[k * d + j];
      w[i * d + j] = -s / l[i * d + i];
    }
  }
  return w;
}

/** W·x for lower-triangular W stored packed by rows (row i holds i+1 values). */
export function packedLowerTimes(packed: ArrayLike<number>, x: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(d);
  let o = 0;
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j <= i; j++) s += packed[o + j] * x[j];
    out[i] = s;
    o += i + 1;
  }
  return out;
}

export function packLower(m: ArrayLike<number>, d: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) out.push(m[i * d + j]);
  return out;
}

/**
 * Minimum over classes of the squared Mahalanobis distance (x-μ_c)ᵀ Σ⁻¹ (x-μ_c), with Σ⁻¹ = WᵀW
 * (W = L⁻¹, packed) and the class means already whitened (W μ_c): one triangular product per frame.
 */
export function mahalanobisMin(x: ArrayLike<number>, whitening: ArrayLike<number>, whitenedMeans: readonly (readonly number[])[], d: number): number {
  const z = packedLowerTimes(whitening, x, d);
  let best = Infinity;
  for (const mu of whitenedMeans) {
    let s = 0;
    for (let i = 0; i < d; i++) s += (z[i] - mu[i]) ** 2;
    if (s < best) best = s;
  }
  return best;
}
