import { createOnnxSession, type ModelRunResult } from '../../src/onnx/session.ts';
import { toModelInput } from '../../src/preprocess.ts';

/** One run of an ONNX model in a session opened and closed around it (for small test models). */
export async function runOnce(bytes: Uint8Array, x: Float32Array, n: number): Promise<ModelRunResult> {
  const s = await createOnnxSession(bytes);
  try {
    return await s.run(x, n);
  } finally {
    await s.close();
  }
}

/** The class a model predicts for each image of a set (first maximum of its `logits` row), in one run. */
export async function predictedClasses(bytes: Uint8Array, set: { images: Uint8Array; count: number }): Promise<number[]> {
  const { logits } = await runOnce(bytes, toModelInput(set.images), set.count);
  const k = logits.length / set.count;
  return Array.from({ length: set.count }, (_, i) => {
    const row = Array.from(logits.subarray(i * k, (i + 1) * k));
    return row.indexOf(Math.max(...row));
  });
}
