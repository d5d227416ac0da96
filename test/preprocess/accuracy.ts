/**
 * Accuracy of a model on synthetic camera frames (test/preprocess/synth.ts) against the same garments
 * as clean 28x28 images: the figure docs/preprocessing.md quotes and the preprocessing must keep.
 *   node --import tsx test/preprocess/accuracy.ts [--count 1000] [--seed 11] [--model models/default.onnx]
 * The frames vary garment size, position, lighting, noise and JPEG quality around the defaults, the
 * way test/models/default-model.test.ts does, so the figure is comparable run to run.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { preprocessImage, toModelInput } from '../../src/preprocess.ts';
import { imageAt, type ImageSet } from '../../training/data/dataset.ts';
import { argmaxRows } from '../../training/eval/metrics.ts';
import { loadTestSet } from '../../training/eval/evaluate.ts';
import { synthesizeFrame } from './synth.ts';

export const DEFAULT_MODEL = new URL('../../models/default.onnx', import.meta.url).pathname;

export interface CameraAccuracy {
  count: number;
  clean: number;
  camera: number;
  /** Frames the preprocessing flagged with a quality issue (none expected: one garment, plain table). */
  flagged: number;
}

/**
 * The frame for image `i` of a sample: garment size, position, table, lighting, noise and JPEG quality
 * all vary around synth.ts's defaults (co-prime periods, so the combinations do not repeat early).
 */
export function cameraFrame(pixels: Uint8Array, i: number): Promise<Buffer> {
  return synthesizeFrame(pixels, {
    seed: i,
    centerX: 0.35 + (i % 7) * 0.05,
    centerY: 0.45 + (i % 3) * 0.05,
    garmentSize: 120 + (i % 5) * 15,
    table: 180 + (i % 4) * 12,
    gradient: (i % 6) * 8,
    noise: 3 + (i % 4) * 2,
    jpegQuality: 65 + (i % 3) * 10,
  });
}

export async function cameraAccuracy(sample: ImageSet, modelPath = DEFAULT_MODEL): Promise<CameraAccuracy> {
  const session = await createOnnxSession(await readFile(modelPath), { ep: 'cpu', intraOpThreads: 1 });
  const classes = sample.classNames.length;
  const frames = new Uint8Array(sample.count * IMAGE_PIXELS);
  let flagged = 0;
  for (let i = 0; i < sample.count; i++) {
    const r = await preprocessImage(await cameraFrame(imageAt(sample, i), i));
    frames.set(r.pixels, i * IMAGE_PIXELS);
    if (r.quality.issues.length > 0) flagged++;
  }
  try {
    const clean = argmaxRows((await session.run(toModelInput(sample.images), sample.count)).logits, classes);
    const camera = argmaxRows((await session.run(toModelInput(frames), sample.count)).logits, classes);
    const acc = (p: Int32Array) => p.reduce((s, c, i) => s + (c === sample.labels[i] ? 1 : 0), 0) / sample.count;
    return { count: sample.count, clean: acc(clean), camera: acc(camera), flagged };
  } finally {
    await session.close();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' }, seed: { type: 'string', default: '11' }, model: { type: 'string', default: DEFAULT_MODEL } } });
  const sample = await loadTestSet(Number(values.count), Number(values.seed));
  const t0 = performance.now();
  const r = await cameraAccuracy(sample, values.model);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  process.stdout.write(`${r.count} garments: clean ${pct(r.clean)}, camera-like frames ${pct(r.camera)}, flagged ${r.flagged} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}
