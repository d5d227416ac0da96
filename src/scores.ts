import type { TopClass } from './mqtt/payloads.ts';

/** Class scores as every consumer shows them: the agent's labels and the dashboard's in-browser check. Pure, no I/O. */

/** Numerically stable softmax over one row. */
export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float32Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** The k most likely classes, most likely first (ties: lower class id first). */
export function topK(probs: ArrayLike<number>, classes: readonly string[], k: number): TopClass[] {
  const ids = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  return ids.slice(0, k).map((classId) => ({ label: classes[classId] ?? `class-${classId}`, classId, confidence: probs[classId] }));
}
