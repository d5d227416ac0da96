/** The misclassified images of an evaluation, most confident mistakes first (report.json, metrics.json). */

/** One misclassified test image: `file` for image folders (relative to the folder), else `index` in the test split. */
export interface ImageError {
  file?: string;
  index: number;
  true: string;
  predicted: string;
  /** Softmax probability of the predicted class. */
  confidence: number;
}

export const MAX_REPORTED_ERRORS = 1000;

/** Softmax probability of each row's top class. Pure. */
export function topConfidences(logits: Float32Array, k: number): Float32Array {
  const n = logits.length / k;
  const out = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[r * k + c] - max);
    out[r] = 1 / sum;
  }
  return out;
}

/** The per-image errors of report.json: which photo, its class, the guess and how sure it was. */
export function imageErrors(labels: ArrayLike<number>, predicted: ArrayLike<number>, confidences: ArrayLike<number>, classNames: readonly string[], files?: readonly string[],
  max = MAX_REPORTED_ERRORS): { errors: ImageError[]; total: number } {
  const all: ImageError[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === predicted[i]) continue;
    all.push({ ...(files ? { file: files[i] } : {}), index: i, true: classNames[labels[i]], predicted: classNames[predicted[i]], confidence: Math.round(confidences[i] * 1e4) / 1e4 });
  }
  all.sort((a, b) => b.confidence - a.confidence || a.index - b.index);
  return { errors: all.slice(0, max), total: all.length };
}
