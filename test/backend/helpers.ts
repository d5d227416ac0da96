import { createRng } from '../../src/random.ts';
import { tf } from '../../training/backend/index.ts';
import { prepareWasm } from '../../training/backend/wasm.ts';

/** Random values in [-1, 1) from a fixed seed, so a failing case can be rerun. */
export function randomValues(count: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng() * 2 - 1;
  return out;
}

/** Runs `compute` on the cpu back end and on wasm (with edgeloom's kernels) and returns both results. */
export async function onCpuAndWasm(compute: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  await prepareWasm();
  const run = async (name: string): Promise<Float32Array[]> => {
    await tf.setBackend(name);
    await tf.ready();
    const result = tf.tidy(compute);
    const list = Array.isArray(result) ? result : [result];
    const values = list.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(list);
    return values;
  };
  return { cpu: await run('cpu'), wasm: await run('wasm') };
}

/**
 * Largest |a - b| / (|a| + scale), where scale is the mean magnitude of `a`, at least `floor` (so
 * near-zero entries, e.g. a conv bias that batch norm cancels, do not blow up).
 */
export function maxRelativeError(a: Float32Array, b: Float32Array, floor = 1e-12): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let scale = 0;
  for (const v of a) scale += Math.abs(v);
  scale = Math.max(scale / Math.max(1, a.length), floor);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(a[i]) + scale));
  return worst;
}

/** ‖a - b‖ / ‖a‖ (Euclidean norms over all entries): the relative error of a whole tensor. */
export function normRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    size += a[i] ** 2;
  }
  return Math.sqrt(diff / Math.max(size, Number.MIN_VALUE));
}
