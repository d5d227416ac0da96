import { QUANTIZE_DEFAULTS } from '../../src/defaults.ts';

/**
 * Calibration statistics of one activation tensor: exact min/max plus a histogram of |x| that
 * grows by powers of two when a batch exceeds its range, so merging bins stays exact.
 */
export class TensorStats {
  min = Infinity;
  max = -Infinity;
  count = 0;
  range = 0;
  readonly hist: Float64Array;

  constructor(readonly bins = 2048) {
    this.hist = new Float64Array(bins);
  }

  add(values: ArrayLike<number>, withHistogram: boolean): void {
    let lo = this.min;
    let hi = this.max;
    let absMax = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      const a = v < 0 ? -v : v;
      if (a > absMax) absMax = a;
    }
    this.min = lo;
    this.max = hi;
    this.count += values.length;
    if (!withHistogram || values.length === 0) return;
    if (this.range === 0) this.range = absMax > 0 ? absMax : 0;
    if (absMax > this.range) this.grow(absMax);
    if (this.range === 0) {
      this.hist[0] += values.length;
      return;
    }
    const k = this.bins / this.range;
    for (let i = 0; i < values.length; i++) {
      const a = values[i] < 0 ? -values[i] : values[i];
      this.hist[Math.min(this.bins - 1, Math.floor(a * k))]++;
    }
  }

  private grow(absMax: number): void {
    if (this.range === 0) {
      this.range = absMax;
      return;
    }
    let factor = 1;
    while (this.range * factor < absMax) factor *= 2;
    const merged = new Float64Array(this.bins);
    for (let b = 0; b < this.bins; b++) merged[Math.floor(b / factor)] += this.hist[b];
    this.hist.set(merged);
    this.range *= factor;
  }

  get binWidth(): number {
    return this.range / this.bins;
  }
}

/** |x| below which `percentile` % of the values lie (upper edge of the bin that reaches it). */
export function percentileThreshold(s: TensorStats, percentile: number): number {
  const total = s.hist.reduce((a, b) => a + b, 0);
  if (total === 0 || s.range === 0) return 0;
  const target = (total * percentile) / 100;
  let cum = 0;
  for (let b = 0; b < s.bins; b++) {
    cum += s.hist[b];
    if (cum >= target) return (b + 1) * s.binWidth;
  }
  return s.range;
}

/**
 * TensorRT's entropy calibration: the |x| threshold whose clipped distribution P (outliers folded
 * into the last bin) loses least information, by KL(P || Q), when squeezed into `quantBins` levels.
 */
export function entropyThreshold(s: TensorStats, quantBins = 128): number {
  // Bin 0 (exact zeros from ReLU and black background, plus values within one bin of 0) dominates
  // and would make every aggressive clip look cheap; zero is exact whatever the threshold, so
  // that bin is left out of the distributions compared.
  const hist = Float64Array.from(s.hist);
  hist[0] = 0;
  const n = s.bins;
  if (s.range === 0) return 0;
  let bestI = n;
  let bestKl = Infinity;
  const suffix = new Float64Array(n + 1);
  for (let b = n - 1; b >= 0; b--) suffix[b] = suffix[b + 1] + hist[b];
  for (let i = quantBins; i <= n; i++) {
    const p = Array.from(hist.subarray(0, i));
    p[i - 1] += suffix[i];
    const q = new Float64Array(i);
    for (let j = 0; j < quantBins; j++) {
      const start = Math.floor((j * i) / quantBins);
      const end = Math.floor(((j + 1) * i) / quantBins);
      let sum = 0;
      let nonzero = 0;
      for (let k = start; k < end; k++) {
        sum += hist[k];
        if (hist[k] > 0) nonzero++;
      }
      if (nonzero === 0) continue;
      for (let k = start; k < end; k++) if (hist[k] > 0) q[k] = sum / nonzero;
    }
    const kl = klDivergence(p, q);
    if (kl < bestKl) {
      bestKl = kl;
      bestI = i;
    }
  }
  return bestI * s.binWidth;
}

/** KL(P||Q) of unnormalised histograms; a bin with P>0 and Q=0 costs as if Q held a tiny mass. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i];
    qs += q[i];
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / ps;
    const qi = Math.max(q[i] / qs, 1e-10);
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

/** Real range [lo, hi] to quantize a tensor with, by method; never wider than what was observed. */
export function calibratedRange(s: TensorStats, method: CalibrationMethod, percentile: number = QUANTIZE_DEFAULTS.percentile, asymmetric = false): [number, number] {
  if (s.count === 0) return [0, 0];
  if (method === 'minmax') return [s.min, s.max];
  // Levels available to |x|: 128 for int8 (symmetric) or a signed uint8 tensor, 256 for a uint8
  // tensor that is never negative (its whole range is [0, threshold]).
  const levels = asymmetric && s.min >= 0 ? 256 : 128;
  const th = method === 'percentile' ? percentileThreshold(s, percentile) : entropyThreshold(s, levels);
  return [Math.max(s.min, -th), Math.min(s.max, th)];
}
