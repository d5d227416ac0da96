import { statSync } from 'node:fs';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { UserError } from '../../src/errors.ts';
import { createOnnxSession } from '../../src/onnx/session.ts';
import { toModelInput } from '../../src/preprocess.ts';
import type { ImageSet } from '../data/dataset.ts';
import { loadAnyModel, loadTestSet } from './evaluate.ts';
import type { AdoptOptions } from '../onnx/adopt.ts';
import { argmaxRows } from './metrics.ts';
import { mcnemar, type McNemar } from './mcnemar.ts';
import { checkModelClasses, modelDataSpec } from '../data/model-data.ts';

export interface ModelComparison {
  model: string;
  sizeBytes: number;
  accuracy: number;
  latencyMs: { runs: number; mean: number; p50: number; p95: number };
}

export interface CompareResult {
  images: number;
  models: [ModelComparison, ModelComparison];
  /** Share of images on which both models predict the same class. */
  agreement: number;
  /** Is one more accurate, beyond chance? McNemar's exact test on the images only one gets right. */
  mcnemar: McNemar;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Batch-1 latency of an ONNX model over `runs` single images (after a few warm-up runs). */
export async function measureLatency(model: string | Uint8Array, set: ImageSet, runs: number): Promise<ModelComparison['latencyMs']> {
  const session = await createOnnxSession(model);
  const times: number[] = [];
  try {
    for (let i = 0; i < runs + 5; i++) {
      const k = i % set.count;
      const x = toModelInput(set.images.subarray(k * IMAGE_PIXELS, (k + 1) * IMAGE_PIXELS));
      const t0 = performance.now();
      await session.run(x, 1);
      if (i >= 5) times.push(performance.now() - t0);
    }
  } finally {
    await session.close();
  }
  times.sort((a, b) => a - b);
  return { runs, mean: times.reduce((s, t) => s + t, 0) / Math.max(1, runs), p50: percentile(times, 50), p95: percentile(times, 95) };
}

export interface CompareOptions extends AdoptOptions {
  a: string;
  b: string;
  limit?: number;
  runs?: number;
  /** Data spec (training/data/load.ts); default: the first model's recipe's data. */
  data?: string;
}

export async function runCompare(opts: CompareOptions): Promise<CompareResult> {
  for (const p of [opts.a, opts.b]) if (!p.endsWith('.onnx')) throw new UserError(`${p}: compare takes two .onnx files`);
  const loaded = [await loadAnyModel(opts.a, opts), await loadAnyModel(opts.b, opts)];
  const spec = modelDataSpec(loaded[0].recipe, opts.data);
  const test = await loadTestSet(opts.limit, 1, spec);
  const models = [];
  const preds: Int32Array[] = [];
  for (const [i, path] of [opts.a, opts.b].entries()) {
    const m = loaded[i];
    checkModelClasses(path, m.classNames, spec, test.classNames);
    const pred = argmaxRows(await m.predict(test), m.classNames.length);
    preds.push(pred);
    let correct = 0;
    for (let i = 0; i < test.count; i++) if (pred[i] === test.labels[i]) correct++;
    models.push({ model: path, sizeBytes: statSync(path).size, accuracy: correct / test.count, latencyMs: await measureLatency(m.bytes ?? path, test, opts.runs ?? 200) });
  }
  let same = 0;
  for (let i = 0; i < test.count; i++) if (preds[0][i] === preds[1][i]) same++;
  return { images: test.count, models: models as [ModelComparison, ModelComparison], agreement: same / test.count, mcnemar: mcnemar(test.labels, preds[0], preds[1]) };
}

const formatP = (p: number) => (p >= 0.001 ? p.toFixed(3) : p.toExponential(1));

export function formatComparison(r: CompareResult): string {
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const rows = r.models.map((m) => `| ${m.model} | ${kb(m.sizeBytes)} | ${(m.accuracy * 100).toFixed(2)}% | ${m.latencyMs.mean.toFixed(3)} | ${m.latencyMs.p50.toFixed(3)} |`);
  return [
    `${r.images} test images, top-1 agreement ${(r.agreement * 100).toFixed(2)}%`,
    `only the first right on ${r.mcnemar.onlyA}, only the second on ${r.mcnemar.onlyB}: McNemar exact p = ${formatP(r.mcnemar.p)}` +
      (r.mcnemar.p < 0.05 ? ' (an accuracy difference beyond chance)' : ' (no accuracy difference beyond chance)'),
    '',
    '| model | size | accuracy | batch-1 mean ms | p50 ms |',
    '|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
