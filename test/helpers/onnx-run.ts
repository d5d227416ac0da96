import { createOnnxSession, type ModelRunResult } from '../../src/onnx/session.ts';

/** One run of an ONNX model in a session opened and closed around it (for small test models). */
export async function runOnce(bytes: Uint8Array, x: Float32Array, n: number): Promise<ModelRunResult> {
  const s = await createOnnxSession(bytes);
  try {
    return await s.run(x, n);
  } finally {
    await s.close();
  }
}
