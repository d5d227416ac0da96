import { IMAGE_STAT_NAMES, binomialSf, chi2Quantile, chi2Sf, chiSquareStatistic, confidenceLogit, energyScore, hellinger, histogram, imageStats, kolmogorovSf, ksCriticalCoefficient, ksStatistic,
  mahalanobisMin, maxSoftmax, normalSf, psi, smoothedProportions, softmaxEntropy, type ImageStats } from './math.ts';
import type { DriftReference } from './profile.ts';
import { projectionPlan, projectRows, type ProjectionPlan } from './projection.ts';

/** What one frame contributes to the drift windows (cheap: one pass over 784 pixels, one D² product). */
export interface FrameObservation {
  image: ImageStats;
  /** -ln(1 - max softmax), see DriftReference.outputs. */
  confidence: number;
  entropy: number;
  energy: number;
  predicted: number;
  /** Max softmax after temperature scaling: the per-frame estimate of being right. */
  calibratedConfidence: number;
  /** Mahalanobis score, or NaN when the model/profile has no embedding reference. */
  ood: number;
}

export function observeFrame(ref: DriftReference, pixels: Uint8Array, logits: ArrayLike<number>, embedding: ArrayLike<number> | null): FrameObservation {
  let predicted = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[predicted]) predicted = i;
  const z = ref.ood && embedding ? oodInput(ref.ood, embedding) : null;
  const ood = z ? mahalanobisMin(z, ref.ood!.whitening, ref.ood!.whitenedMeans, ref.ood!.embeddingSize) : Number.NaN;
  return {
    image: imageStats(pixels),
    confidence: confidenceLogit(logits),
    entropy: softmaxEntropy(logits),
    energy: energyScore(logits),
    predicted,
    calibratedConfidence: maxSoftmax(logits, ref.calibration.temperature),
    ood,
  };
}

/** Built once per profile: a profile's projection is fixed by its seed. */
const plans = new WeakMap<NonNullable<DriftReference['ood']>, ProjectionPlan>();

/** The embedding in the space the OOD statistics live in, or null when it does not fit the profile. */
function oodInput(ood: NonNullable<DriftReference['ood']>, embedding: ArrayLike<number>): ArrayLike<number> | null {
  if (!ood.projection) return embedding.length === ood.embeddingSize ? embedding : null;
  if (embedding.length !== ood.projection.inputSize) return null;
  let plan = plans.get(ood);
  if (!plan) plans.set(ood, (plan = projectionPlan(ood.projection)));
  return projectRows(plan, embedding);
}

export type DriftStatus = 'ok' | 'warn' | 'alert';
export type WindowMode = 'tumbling' | 'sliding';

export interface MetricResult {
  value: number;
  /** The value at which the metric fails for this window size (direction: `value > threshold`, except accuracy: `<`). */
  threshold: number;
  pValue: number;
  verdict: 'ok' | 'fail';
}

export interface WindowReport {
  ts: string;
  status: DriftStatus;
  previousStatus: DriftStatus;
  window: { index: number; first: number; last: number; size: number; mode: WindowMode };
  metrics: Record<string, MetricResult>;
  /** The failing metrics, strongest first, e.g. "psi.sharpness 0.41 > 0.12 (p=3e-9)". */
  reasons: string[];
  estimatedAccuracy: number;
  oodRate: number | null;
  /** Per-window false-alarm budget and the Bonferroni share of each metric. */
  alpha: { family: number; perMetric: number; strong: number };
}

export interface DriftMonitorOptions {
  windowSize?: number;
  mode?: WindowMode;
  /** Sliding mode: frames between reports (default windowSize / 4). */
  stride?: number;
  /** Probability that a drift-free window fails at least one metric (Bonferroni bound). */
  falseAlarmRate?: number;
  /** A metric with p < perMetric × strongFactor raises `alert` at once. */
  strongFactor?: number;
}

export const DEFAULT_WINDOW_SIZE = 200;
export const DEFAULT_FALSE_ALARM_RATE = 0.002;
export const DEFAULT_STRONG_FACTOR = 1e-3;

function inverseNormalSf(p: number): number {
  let lo = -40;
  let hi = 40;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (normalSf(mid) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Names of the metrics a window is tested on (the Bonferroni family). */
export function metricNames(ref: DriftReference): string[] {
  const names: string[] = [];
  for (const s of IMAGE_STAT_NAMES) names.push(`psi.${s}`, `hellinger.${s}`);
  names.push('ks.confidence', 'ks.entropy', 'ks.energy', 'chi2.classes', 'accuracy');
  if (ref.ood) names.push('ood.rate');
  return names;
}

/**
 * Tests one window against the reference. Every threshold comes from the metric's distribution
 * under no drift at this window size n and reference size m, at the per-metric level `alpha`:
 * n·m/(n+m)·PSI and 8·n·m/(n+m)·H² ≈ χ²(B-1); KS: c(α)·sqrt(1/n+1/m); Pearson X² scaled by
 * n·m/(n+m)/n ≈ χ²(K-1); accuracy: one-sided z on the mean calibrated confidence; OOD: binomial.
 */
export function evaluateWindow(ref: DriftReference, frames: readonly FrameObservation[], alpha: number): Record<string, MetricResult> {
  const n = frames.length;
  const m = ref.source.count;
  const scale = 1 / n + 1 / m;
  const out: Record<string, MetricResult> = {};
  const metric = (value: number, threshold: number, pValue: number): MetricResult => ({ value, threshold, pValue, verdict: pValue < alpha ? 'fail' : 'ok' });

  for (const s of IMAGE_STAT_NAMES) {
    const b = ref.images[s];
    const df = b.counts.length - 1;
    const p = smoothedProportions(histogram(frames.map((f) => f.image[s]), b.edges));
    const q = smoothedProportions(b.counts);
    const crit = df > 0 ? chi2Quantile(1 - alpha, df) : Infinity;
    const v = psi(p, q);
    out[`psi.${s}`] = metric(v, crit * scale, df > 0 ? chi2Sf(v / scale, df) : 1);
    const h = hellinger(p, q);
    out[`hellinger.${s}`] = metric(h, Math.sqrt((crit * scale) / 8), df > 0 ? chi2Sf((8 * h * h) / scale, df) : 1);
  }
  const ksCrit = ksCriticalCoefficient(alpha) * Math.sqrt(scale);
  for (const k of ['confidence', 'entropy', 'energy'] as const) {
    const d = ksStatistic(frames.map((f) => f[k]), ref.outputs[k].quantiles);
    out[`ks.${k}`] = metric(d, ksCrit, kolmogorovSf(d / Math.sqrt(scale)));
  }
  const k = ref.predictedClasses.length;
  const counts = new Array<number>(k).fill(0);
  for (const f of frames) counts[f.predicted]++;
  const x2 = chiSquareStatistic(counts, smoothedProportions(ref.predictedClasses)) / (n * scale);
  out['chi2.classes'] = metric(x2, chi2Quantile(1 - alpha, k - 1), chi2Sf(x2, k - 1));

  const cal = ref.calibration;
  const meanConf = frames.reduce((a, f) => a + f.calibratedConfidence, 0) / n;
  const se = Math.max(cal.stdConfidence, 1e-6) * Math.sqrt(scale);
  // Lower tail as normalSf(-z): 1 - normalSf(z) rounds to 0 for strong drops.
  out.accuracy = metric(meanConf, cal.meanConfidence - inverseNormalSf(alpha) * se, normalSf((cal.meanConfidence - meanConf) / se));

  if (ref.ood) {
    const p0 = 1 - ref.ood.tpr;
    const scored = frames.filter((f) => !Number.isNaN(f.ood));
    if (scored.length > 0) {
      const hits = scored.filter((f) => f.ood > ref.ood!.threshold).length;
      let kCrit = Math.ceil(scored.length * p0);
      while (kCrit <= scored.length && binomialSf(kCrit, scored.length, p0) >= alpha) kCrit++;
      out['ood.rate'] = metric(hits / scored.length, kCrit / scored.length, binomialSf(hits, scored.length, p0));
    }
  }
  return out;
}

/**
 * Hysteresis: one failing window is `warn`; `alert` needs two failing windows in a row or one metric
 * with p below the strong level; `warn` returns to `ok` after one clean window, `alert` after two.
 */
export function nextStatus(prev: DriftStatus, failing: boolean, strong: boolean, failStreak: number, cleanStreak: number): DriftStatus {
  if (failing) return strong || failStreak >= 2 || prev === 'alert' ? 'alert' : 'warn';
  if (prev === 'alert') return cleanStreak >= 2 ? 'ok' : 'alert';
  return 'ok';
}

/** A number in a reason: 3 significant digits, exponent form below 1e-3 and from 1000 up (docs/drift.md). */
export function fmt(x: number): string {
  return Math.abs(x) >= 1000 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : Number(x.toPrecision(3)).toString();
}

/** Windowed drift detection over a stream of frame observations, against one reference profile. */
export class DriftMonitor {
  readonly windowSize: number;
  readonly mode: WindowMode;
  readonly stride: number;
  readonly alpha: { family: number; perMetric: number; strong: number };
  status: DriftStatus = 'ok';
  private buffer: FrameObservation[] = [];
  private frameNos: number[] = [];
  private sinceReport = 0;
  private windows = 0;
  private failStreak = 0;
  private cleanStreak = 0;
  private framesSeen = 0;

  constructor(readonly reference: DriftReference, opts: DriftMonitorOptions = {}) {
    this.windowSize = opts.windowSize ?? DEFAULT_WINDOW_SIZE;
    this.mode = opts.mode ?? 'tumbling';
    this.stride = this.mode === 'tumbling' ? this.windowSize : (opts.stride ?? Math.max(1, Math.round(this.windowSize / 4)));
    if (!(Number.isInteger(this.windowSize) && this.windowSize >= 20)) throw new RangeError(`drift window size: expected an integer >= 20, got ${this.windowSize}`);
    if (!(Number.isInteger(this.stride) && this.stride >= 1 && this.stride <= this.windowSize)) throw new RangeError(`drift stride: expected an integer in 1..${this.windowSize}, got ${this.stride}`);
    const family = opts.falseAlarmRate ?? DEFAULT_FALSE_ALARM_RATE;
    if (!(family > 0 && family < 1)) throw new RangeError(`drift false-alarm rate: expected 0 < rate < 1, got ${family}`);
    const perMetric = family / metricNames(reference).length;
    this.alpha = { family, perMetric, strong: perMetric * (opts.strongFactor ?? DEFAULT_STRONG_FACTOR) };
  }

  /** Frames pushed so far. */
  get frames(): number {
    return this.framesSeen;
  }

  /** Adds one frame; returns a report when a window completes. */
  push(obs: FrameObservation, frameNo = this.framesSeen + 1): WindowReport | null {
    this.framesSeen++;
    this.buffer.push(obs);
    this.frameNos.push(frameNo);
    if (this.buffer.length > this.windowSize) {
      this.buffer.shift();
      this.frameNos.shift();
    }
    this.sinceReport++;
    if (this.buffer.length < this.windowSize || this.sinceReport < this.stride) return null;
    this.sinceReport = 0;
    const report = this.report();
    if (this.mode === 'tumbling') {
      this.buffer = [];
      this.frameNos = [];
    }
    return report;
  }

  private report(): WindowReport {
    const metrics = evaluateWindow(this.reference, this.buffer, this.alpha.perMetric);
    const failing = Object.entries(metrics).filter(([, r]) => r.verdict === 'fail').sort((a, b) => a[1].pValue - b[1].pValue);
    const strong = failing.some(([, r]) => r.pValue < this.alpha.strong);
    if (failing.length > 0) {
      this.failStreak++;
      this.cleanStreak = 0;
    } else {
      this.cleanStreak++;
      this.failStreak = 0;
    }
    const previousStatus = this.status;
    this.status = nextStatus(previousStatus, failing.length > 0, strong, this.failStreak, this.cleanStreak);
    this.windows++;
    const ood = metrics['ood.rate'];
    return {
      ts: new Date().toISOString(),
      status: this.status,
      previousStatus,
      window: { index: this.windows, first: this.frameNos[0], last: this.frameNos[this.frameNos.length - 1], size: this.buffer.length, mode: this.mode },
      metrics,
      reasons: failing.map(([name, r]) => `${name} ${fmt(r.value)} ${name === 'accuracy' ? '<' : '>'} ${fmt(r.threshold)} (p=${r.pValue.toExponential(1)})`),
      estimatedAccuracy: metrics.accuracy.value,
      oodRate: ood ? ood.value : null,
      alpha: this.alpha,
    };
  }
}
