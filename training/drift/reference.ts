import { IMAGE_PIXELS } from '../../src/classes.ts';
import { toModelInput } from '../../src/preprocess.ts';
import type { ModelRunResult } from '../../src/onnx/session.ts';
import { IMAGE_STAT_NAMES, cholesky, confidenceLogit, empiricalQuantiles, energyScore, equalFrequencyEdges, fitTemperature, histogram, imageStats, invertLower, mahalanobisMin, maxSoftmax, packLower,
  packedLowerTimes, softmaxEntropy, type ImageStatName } from '../../src/drift/math.ts';
import { DRIFT_PROFILE_VERSION, compactProfile, type BinnedReference, type DriftReference } from '../../src/drift/profile.ts';
import { projectionFor, projectionPlan, projectRows } from '../../src/drift/projection.ts';

export type RunLogitsAndEmbeddings = (input: Float32Array, batch: number) => Promise<ModelRunResult>;

export interface DriftReferenceOptions {
  classes: readonly string[];
  source: DriftReference['source'];
  /** Bins per image statistic (equal reference frequency). */
  bins?: number;
  /** Quantile levels stored for each output distribution. */
  quantiles?: number;
  /** Covariance shrinkage toward (trace/D)·I. */
  shrinkage?: number;
  /** Fraction of reference frames counted as in-distribution by the OOD threshold. */
  tpr?: number;
  batchSize?: number;
}

export const DEFAULT_BINS = 10;
export const DEFAULT_QUANTILES = 201;
export const DEFAULT_SHRINKAGE = 0.1;
/** Fewer reference images give no usable quantiles or covariance. */
export const MIN_REFERENCE_IMAGES = 50;
const FOLDS = 5;

/** Class means and the shrunk pooled within-class covariance of rows `idx` of emb [n, d]. */
function fitGaussian(emb: Float32Array, labels: ArrayLike<number>, idx: readonly number[], d: number, k: number, shrinkage: number): { whitening: Float64Array; whitenedMeans: number[][] } {
  const means = Array.from({ length: k }, () => new Float64Array(d));
  const counts = new Array<number>(k).fill(0);
  for (const r of idx) {
    counts[labels[r]]++;
    const mu = means[labels[r]];
    for (let j = 0; j < d; j++) mu[j] += emb[r * d + j];
  }
  for (let c = 0; c < k; c++) if (counts[c] > 0) for (let j = 0; j < d; j++) means[c][j] /= counts[c];
  const cov = new Float64Array(d * d);
  const diff = new Float64Array(d);
  for (const r of idx) {
    const mu = means[labels[r]];
    for (let j = 0; j < d; j++) diff[j] = emb[r * d + j] - mu[j];
    for (let i = 0; i < d; i++) {
      const di = diff[i];
      if (di === 0) continue;
      for (let j = 0; j <= i; j++) cov[i * d + j] += di * diff[j];
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += cov[i * d + i] / idx.length;
  const target = Math.max(trace / d, 1e-8);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const v = (1 - shrinkage) * (cov[i * d + j] / idx.length) + (i === j ? shrinkage * target + 1e-9 : 0);
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }
  const w = invertLower(cholesky(cov, d), d);
  const packed = Float64Array.from(packLower(w, d));
  const present = means.filter((_, c) => counts[c] > 0);
  return { whitening: packed, whitenedMeans: present.map((mu) => Array.from(packedLowerTimes(packed, mu, d))) };
}

function quantileAt(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

/**
 * The reference profile of a model on held-out images (`images`: count×784 bytes, bright on dark;
 * `labels`: true classes). `run` is the model (onnxruntime session or anything with the same
 * outputs), so the int8 model gets a profile of its own outputs.
 */
export async function computeDriftReference(run: RunLogitsAndEmbeddings, images: Uint8Array, labels: Uint8Array, opts: DriftReferenceOptions): Promise<DriftReference> {
  const n = labels.length;
  const k = opts.classes.length;
  if (n < MIN_REFERENCE_IMAGES) throw new RangeError(`drift reference: need at least ${MIN_REFERENCE_IMAGES} images, got ${n}`);
  const batch = opts.batchSize ?? 256;
  const logits = new Float32Array(n * k);
  let emb: Float32Array | null = null;
  let d = 0;
  for (let s = 0; s < n; s += batch) {
    const b = Math.min(batch, n - s);
    const out = await run(toModelInput(images.subarray(s * IMAGE_PIXELS, (s + b) * IMAGE_PIXELS)), b);
    if (out.logits.length !== b * k) throw new RangeError(`drift reference: model gives ${out.logits.length / b} logits per image, expected ${k}`);
    logits.set(out.logits, s * k);
    if (out.embedding && out.embeddingSize > 0) {
      d = out.embeddingSize;
      emb ??= new Float32Array(n * d);
      emb.set(out.embedding, s * d);
    }
  }

  const stats: Record<ImageStatName, number[]> = { brightness: [], contrast: [], sharpness: [], foreground: [] };
  for (let i = 0; i < n; i++) {
    const st = imageStats(images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS));
    for (const name of IMAGE_STAT_NAMES) stats[name].push(st[name]);
  }
  const bins = opts.bins ?? DEFAULT_BINS;
  const imagesRef = {} as Record<ImageStatName, BinnedReference>;
  for (const name of IMAGE_STAT_NAMES) {
    const edges = equalFrequencyEdges(stats[name], bins);
    imagesRef[name] = { edges, counts: histogram(stats[name], edges) };
  }

  const conf: number[] = [];
  const ent: number[] = [];
  const energy: number[] = [];
  const predictedClasses = new Array<number>(k).fill(0);
  let correct = 0;
  for (let r = 0; r < n; r++) {
    const row = logits.subarray(r * k, (r + 1) * k);
    conf.push(confidenceLogit(row));
    ent.push(softmaxEntropy(row));
    energy.push(energyScore(row));
    let p = 0;
    for (let c = 1; c < k; c++) if (row[c] > row[p]) p = c;
    predictedClasses[p]++;
    if (p === labels[r]) correct++;
  }
  const q = opts.quantiles ?? DEFAULT_QUANTILES;
  const dist = (xs: number[]) => ({ quantiles: empiricalQuantiles(xs, q), mean: xs.reduce((a, b) => a + b, 0) / xs.length });

  const temperature = fitTemperature(logits, labels, k);
  const calConf: number[] = [];
  for (let r = 0; r < n; r++) calConf.push(maxSoftmax(logits.subarray(r * k, (r + 1) * k), temperature));
  const meanConfidence = calConf.reduce((a, b) => a + b, 0) / n;
  const stdConfidence = Math.sqrt(calConf.reduce((a, b) => a + (b - meanConfidence) ** 2, 0) / (n - 1));

  let ood: DriftReference['ood'] = null;
  const projection = emb && d > 0 ? projectionFor(d) : null;
  if (emb && projection) {
    emb = projectRows(projectionPlan(projection), emb, n);
    d = projection.outputSize;
  }
  if (emb && d > 0) {
    const shrinkage = opts.shrinkage ?? DEFAULT_SHRINKAGE;
    const tpr = opts.tpr ?? 0.95;
    // Out-of-fold scores: in-sample Mahalanobis distances are too small (the means and covariance
    // were fitted to them), which would put the threshold low and the live OOD rate above 5%.
    const scores = new Float64Array(n);
    for (let f = 0; f < FOLDS; f++) {
      const fit: number[] = [];
      const held: number[] = [];
      for (let r = 0; r < n; r++) (r % FOLDS === f ? held : fit).push(r);
      const g = fitGaussian(emb, labels, fit, d, k, shrinkage);
      for (const r of held) scores[r] = mahalanobisMin(emb.subarray(r * d, (r + 1) * d), g.whitening, g.whitenedMeans, d);
    }
    const all = fitGaussian(emb, labels, Array.from({ length: n }, (_, i) => i), d, k, shrinkage);
    ood = {
      embeddingSize: d,
      ...(projection ? { projection } : {}),
      shrinkage,
      whitening: Array.from(all.whitening),
      whitenedMeans: all.whitenedMeans,
      threshold: quantileAt(Float64Array.from(scores).sort(), tpr),
      tpr,
    };
  }

  return compactProfile({
    version: DRIFT_PROFILE_VERSION,
    source: opts.source,
    createdAt: new Date().toISOString(),
    classes: [...opts.classes],
    images: imagesRef,
    outputs: { confidence: dist(conf), entropy: dist(ent), energy: dist(energy) },
    predictedClasses,
    calibration: { temperature, accuracy: correct / n, meanConfidence, stdConfidence },
    ood,
  });
}
