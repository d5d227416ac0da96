import { UserError } from '../errors.ts';
import { IMAGE_STAT_NAMES, type ImageStatName } from './math.ts';

/**
 * The drift reference profile: what the model's inputs and outputs look like on held-out data it
 * was not trained on. Stored in the model (`edgeloom.drift_reference`) and as `<model>.drift.json`.
 */
export const DRIFT_PROFILE_VERSION = 1;

export interface BinnedReference {
  /** Inner bin edges (bins = edges + 1; a value v falls in the bin of the number of edges <= v). */
  edges: number[];
  /** Reference counts per bin. */
  counts: number[];
}

export interface QuantileReference {
  /** Quantiles at equally spaced levels 0, 1/(Q-1), ..., 1. */
  quantiles: number[];
  mean: number;
}

export interface DriftReference {
  version: typeof DRIFT_PROFILE_VERSION;
  /** Where the reference images came from (never the test set). */
  source: {
    split: 'val' | 'train-sample';
    count: number;
    seed: number;
    note: string;
  };
  createdAt: string;
  classes: string[];
  /** Per-image statistics of the preprocessed 28×28 input, binned at equal reference frequency. */
  images: Record<ImageStatName, BinnedReference>;
  /**
   * Output distributions. `confidence` holds -ln(1 - max softmax) (a monotone transform of the
   * confidence that does not saturate in float32), `entropy` nats, `energy` -ln Σ exp(logits).
   */
  outputs: {
    confidence: QuantileReference;
    entropy: QuantileReference;
    energy: QuantileReference;
  };
  /** Predicted-class counts on the reference set, in logit order. */
  predictedClasses: number[];
  /** Temperature scaling fitted by minimal NLL; confidence statistics after scaling. */
  calibration: {
    temperature: number;
    /** Reference accuracy and mean / std of the calibrated max softmax. */
    accuracy: number;
    meanConfidence: number;
    stdConfidence: number;
  };
  /** Mahalanobis OOD score on the `embedding` output: min over classes, shared covariance. */
  ood: {
    embeddingSize: number;
    /** Shrinkage λ of the covariance toward (trace/D)·I. */
    shrinkage: number;
    /** W = L⁻¹ (Σ = L Lᵀ) packed by rows, lower triangle: Σ⁻¹ = Wᵀ W. */
    whitening: number[];
    /** W μ_c for every class. */
    whitenedMeans: number[][];
    /** Score above which a frame counts as out of distribution. */
    threshold: number;
    /** Fraction of reference frames at or below the threshold (0.95). */
    tpr: number;
  } | null;
}

function fail(origin: string, field: string, expected: string): never {
  throw new UserError(`${origin}: drift reference ${field}: expected ${expected}`);
}

function isNumArray(v: unknown, len?: number): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && (len === undefined || v.length === len);
}

/** Checks a parsed profile (from metadata or a sidecar); one-line UserError naming the field. */
export function parseDriftReference(value: unknown, origin: string): DriftReference {
  if (!value || typeof value !== 'object') fail(origin, '(top level)', 'a JSON object');
  const r = value as Record<string, unknown>;
  if (r.version !== DRIFT_PROFILE_VERSION) fail(origin, 'version', `${DRIFT_PROFILE_VERSION} (found ${JSON.stringify(r.version)})`);
  const src = r.source as Record<string, unknown> | undefined;
  if (!src || !(typeof src.count === 'number' && src.count > 0)) fail(origin, 'source.count', 'a positive number');
  if (src.split !== 'val' && src.split !== 'train-sample') fail(origin, 'source.split', '"val" or "train-sample"');
  if (!Array.isArray(r.classes) || r.classes.length < 2) fail(origin, 'classes', 'an array of class names');
  const images = r.images as Record<string, BinnedReference> | undefined;
  for (const name of IMAGE_STAT_NAMES) {
    const b = images?.[name];
    if (!b || !isNumArray(b.edges) || !isNumArray(b.counts, b.edges.length + 1)) fail(origin, `images.${name}`, '{edges, counts} with counts.length = edges.length + 1');
  }
  const outputs = r.outputs as Record<string, QuantileReference> | undefined;
  for (const name of ['confidence', 'entropy', 'energy']) {
    const q = outputs?.[name];
    if (!q || !isNumArray(q.quantiles) || q.quantiles.length < 2) fail(origin, `outputs.${name}.quantiles`, 'an array of numbers');
  }
  if (!isNumArray(r.predictedClasses, (r.classes as unknown[]).length)) fail(origin, 'predictedClasses', 'one count per class');
  const cal = r.calibration as Record<string, unknown> | undefined;
  if (!cal || !(typeof cal.temperature === 'number' && cal.temperature > 0) || typeof cal.meanConfidence !== 'number' || typeof cal.stdConfidence !== 'number') fail(origin, 'calibration', '{temperature > 0, meanConfidence, stdConfidence}');
  const ood = r.ood as DriftReference['ood'] | undefined;
  if (ood !== null) {
    const d = ood?.embeddingSize ?? 0;
    if (!ood || !(d > 0) || !isNumArray(ood.whitening, (d * (d + 1)) / 2) || !Array.isArray(ood.whitenedMeans) || !ood.whitenedMeans.every((m) => isNumArray(m, d)) || typeof ood.threshold !== 'number') {
      fail(origin, 'ood', `{embeddingSize D, whitening of D(D+1)/2 numbers, whitenedMeans of D numbers each, threshold}`);
    }
  }
  return value as DriftReference;
}

/** Rounds every number to 7 significant digits so the profile stays compact in the model file. */
export function compactProfile(ref: DriftReference): DriftReference {
  return JSON.parse(JSON.stringify(ref, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(7)) : v))) as DriftReference;
}

/** `models/cnn.onnx` -> `models/cnn.onnx.drift.json`. */
export function sidecarPath(modelPath: string): string {
  return `${modelPath}.drift.json`;
}
