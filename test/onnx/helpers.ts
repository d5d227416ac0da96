import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/random.ts';
import { ARCHITECTURES } from '../../training/arch/index.ts';
import { exportToOnnx, PARITY_TOLERANCE } from '../../training/onnx/export.ts';

export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/**
 * Non-trivial BatchNormalization statistics (tfjs initialises them to mean 0, variance 1, which
 * would let a broken fold pass) and non-zero biases.
 */
export function randomizeStats(model: tf.LayersModel, seed = 3): void {
  const rng = createRng(seed);
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    const next = layer.weights.map((w, i) => {
      const short = w.originalName.split('/').pop() ?? '';
      const shape = ws[i].shape;
      const size = ws[i].size;
      const values = Float32Array.from({ length: size }, () => rng());
      if (short === 'moving_variance') return tf.tensor(values.map((v) => 0.2 + 2 * v), shape);
      if (short === 'gamma') return tf.tensor(values.map((v) => 0.5 + v), shape);
      if (short === 'moving_mean' || short === 'beta' || short === 'bias') return tf.tensor(values.map((v) => v - 0.5), shape);
      return ws[i];
    });
    layer.setWeights(next);
  }
}

/** Deterministic pseudo-images in 0..1 (count*784). */
export function randomImages(count: number, seed = 11): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: count * 784 }, () => rng());
}

/** The ONNX export of an architecture built with `seed`, its BatchNorm statistics and biases randomized. */
export async function exportedArchitecture(arch: string, classes: string[], seed = 3): Promise<Uint8Array> {
  const model = ARCHITECTURES[arch].build({ seed, numClasses: classes.length });
  randomizeStats(model, seed);
  try {
    return (await exportToOnnx(model, { metadata: { arch, classes } })).bytes;
  } finally {
    model.dispose();
  }
}

/**
 * Exports `model` with non-trivial statistics and checks parity with tfjs through onnxruntime on
 * random images (the exporter's own check: logits within its tolerance of their scale, the embedding
 * within 1e-3); returns the ONNX bytes.
 */
export async function exportWithParity(model: tf.LayersModel, label: string): Promise<Uint8Array> {
  randomizeStats(model, 7);
  const { parity, bytes } = await exportToOnnx(model, { parityInput: randomImages(6, 3) });
  assert.ok(parity, label);
  assert.ok(parity.relativeError <= PARITY_TOLERANCE, `${label}: relative error ${parity.relativeError}`);
  assert.ok(parity.maxAbsDiffEmbedding <= 1e-3 * Math.max(1, parity.logitScale), `${label}: embedding differs by ${parity.maxAbsDiffEmbedding}`);
  return bytes;
}
