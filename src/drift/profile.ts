import { UserError } from '../errors.ts';
import { IMAGE_STAT_NAMES, type ImageStatName } from './math.ts';
import { packFloat16, roundToFloat16, unpackFloat16 } from './float16.ts';
import type { EmbeddingProjection } from './projection.ts';

/**
 * The drift reference profile: what the model's inputs and outputs look like on held-out data it
 * was not trained on. Stored in the model (`edgeloom.drift_reference`) and as `<model>.drift.json`.
 */
export const DRIFT_PROFILE_VERSION = 2;
/** Version 1 stored the OOD arrays as JSON numbers; still read, never written. */
const READABLE_VERSIONS: readonly number[] = [1, 2];

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
    /** Width the statistics are computed in: the model's embedding width, or the projection's output. */
    embeddingSize: number;
    /** Present when the model's embedding was wider than MAX_OOD_DIMENSIONS (src/drift/projection.ts). */
    projection?: EmbeddingProjection;
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

/** Non-decreasing (equal neighbours allowed: binIndex and the quantile maths handle ties). */
function isSorted(values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || values[i - 1] <= v);
}

/** Checks a parsed profile (from metadata or a sidecar); one-line UserError naming the field. */
export function parseDriftReference(value: unknown, origin: string): DriftReference {
  if (!value || typeof value !== 'object') fail(origin, '(top level)', 'a JSON object');
  const r = value as Record<string, unknown>;
  if (!READABLE_VERSIONS.includes(r.version as number)) fail(origin, 'version', `${READABLE_VERSIONS.join(' or ')} (found ${JSON.stringify(r.version)})`);
  const src = r.source as Record<string, unknown> | undefined;
  if (!src || !(typeof src.count === 'number' && src.count > 0)) fail(origin, 'source.count', 'a positive number');
  if (src.split !== 'val' && src.split !== 'train-sample') fail(origin, 'source.split', '"val" or "train-sample"');
  if (!Array.isArray(r.classes) || r.classes.length < 2 || !r.classes.every((c) => typeof c === 'string')) fail(origin, 'classes', 'an array of class names');
  const images = r.images as Record<string, BinnedReference> | undefined;
  for (const name of IMAGE_STAT_NAMES) {
    const b = images?.[name];
    if (!b || !isNumArray(b.edges) || !isNumArray(b.counts, b.edges.length + 1)) fail(origin, `images.${name}`, '{edges, counts} with counts.length = edges.length + 1');
    // Bins are found by binary search over the edges: unsorted ones would file frames silently wrong.
    if (!isSorted(b.edges) || b.counts.some((c) => c < 0)) fail(origin, `images.${name}`, 'edges in increasing order and counts >= 0');
  }
  const outputs = r.outputs as Record<string, QuantileReference> | undefined;
  for (const name of ['confidence', 'entropy', 'energy']) {
    const q = outputs?.[name];
    if (!q || !isNumArray(q.quantiles) || q.quantiles.length < 2) fail(origin, `outputs.${name}.quantiles`, 'an array of numbers');
    if (!isSorted(q.quantiles)) fail(origin, `outputs.${name}.quantiles`, 'numbers in increasing order (quantiles at increasing levels)');
    if (typeof q.mean !== 'number') fail(origin, `outputs.${name}.mean`, 'a number');
  }
  if (!isNumArray(r.predictedClasses, (r.classes as unknown[]).length)) fail(origin, 'predictedClasses', 'one count per class');
  const cal = r.calibration as Record<string, unknown> | undefined;
  if (!cal || !(typeof cal.temperature === 'number' && cal.temperature > 0) || typeof cal.meanConfidence !== 'number' || typeof cal.stdConfidence !== 'number') fail(origin, 'calibration',
    '{temperature > 0, meanConfidence, stdConfidence}');
  const stored = r.ood as Record<string, unknown> | null | undefined;
  let ood: DriftReference['ood'] = null;
  if (stored !== null) {
    const d = typeof stored?.embeddingSize === 'number' ? stored.embeddingSize : 0;
    const whitening = readFloats(stored?.whitening, (d * (d + 1)) / 2);
    const means = readMeans(stored?.whitenedMeans, d);
    if (!stored || !(d > 0) || !whitening || !means || typeof stored.threshold !== 'number') {
      fail(origin, 'ood', '{embeddingSize D, whitening: D(D+1)/2 numbers (base64 float16), whitenedMeans: D numbers per class, threshold}');
    }
    // One mean per class the reference saw (training/drift/reference.ts skips absent classes), so never more than the classes.
    if (means.length > (r.classes as unknown[]).length) fail(origin, 'ood.whitenedMeans', `at most one mean per class (${(r.classes as unknown[]).length}), found ${means.length}`);
    const projection = stored.projection as EmbeddingProjection | undefined;
    if (projection !== undefined && !(projection?.method === 'sparse-sign' && Number.isInteger(projection.seed) && Number.isInteger(projection.inputSize)
      && projection.inputSize > d && projection.outputSize === d)) {
      fail(origin, 'ood.projection', `{method: "sparse-sign", seed, inputSize > ${d}, outputSize: ${d}}`);
    }
    ood = { ...(stored as unknown as NonNullable<DriftReference['ood']>), whitening, whitenedMeans: means };
  }
  return { ...(value as DriftReference), version: DRIFT_PROFILE_VERSION, ood };
}

/** number[] (version 1) or base64 float16 (version 2) of exactly `length` values, else null. */
function readFloats(v: unknown, length: number): number[] | null {
  if (typeof v === 'string') return unpackFloat16(v, length);
  return isNumArray(v, length) ? v : null;
}

/** Version 1: an array of D-number arrays; version 2: { classes K, data: base64 float16 of K x D }. */
function readMeans(v: unknown, d: number): number[][] | null {
  if (Array.isArray(v)) return v.every((m) => isNumArray(m, d)) ? (v as number[][]) : null;
  const packed = v as { classes?: unknown; data?: unknown } | null | undefined;
  const k = packed?.classes;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) return null;
  const flat = readFloats(packed?.data, k * d);
  return flat && Array.from({ length: k }, (_, c) => flat.slice(c * d, (c + 1) * d));
}

/** The JSON stored in the model and the sidecar: the OOD arrays packed as base64 float16. */
export function serializeDriftReference(ref: DriftReference): unknown {
  if (!ref.ood) return ref;
  return {
    ...ref,
    ood: {
      ...ref.ood,
      whitening: packFloat16(ref.ood.whitening),
      whitenedMeans: { classes: ref.ood.whitenedMeans.length, data: packFloat16(ref.ood.whitenedMeans.flat()) },
    },
  };
}

/**
 * Rounds the profile to what is stored: OOD arrays to float16, every other number to 7 significant
 * digits. The monitor then runs on exactly the numbers a board reads back from the model file.
 */
export function compactProfile(ref: DriftReference): DriftReference {
  if (!ref.ood) return roundTo7Digits(ref);
  const { whitening, whitenedMeans, ...scalars } = ref.ood;
  const rounded = roundTo7Digits({ ...ref, ood: scalars });
  return { ...rounded, ood: { ...rounded.ood, whitening: roundToFloat16(whitening), whitenedMeans: whitenedMeans.map((m) => roundToFloat16(m)) } };
}

/** A deep copy with every non-integer number rounded to 7 significant digits. */
function roundTo7Digits<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(7)) : v))) as T;
}

/** `models/cnn.onnx` -> `models/cnn.onnx.drift.json`. */
export function sidecarPath(modelPath: string): string {
  return `${modelPath}.drift.json`;
}
