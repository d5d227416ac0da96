import { join } from 'node:path';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { createLogger } from '../../src/log.ts';
import { metricsMarkdown, type ClassificationMetrics } from '../eval/metrics.ts';
import type { EpochRecord, TrainConfig } from './types.ts';
import type { ImageError } from '../eval/image-errors.ts';
import { onnxMarkdown, type OnnxOutputs } from './onnx-outputs.ts';

/** report.json of a training run (read by `edgeloom export` for arch, config, test metrics, classes). */
export interface TrainReport {
  arch: string;
  description: string;
  source: string;
  parameters: number;
  macs: number;
  backend: { name: string; description: string };
  config: TrainConfig;
  classNames: string[];
  data: { source: string; train: number; val: number; test: number };
  wallTimeSeconds: number;
  trainSeconds: number;
  samplesPerSec: number;
  epochsRun: number;
  stoppedEarly: boolean;
  bestEpoch: number | null;
  resumed: boolean;
  history: EpochRecord[];
  test: ClassificationMetrics;
  plots: string[];
  createdAt: string;
  /** Misclassified test images, most confident mistakes first (at most MAX_REPORTED_ERRORS). */
  errors?: ImageError[];
  /** How many test images were misclassified in all. */
  errorsTotal?: number;
  /** The ONNX models written with the tfjs one (absent: --no-onnx, or the export failed). */
  onnx?: OnnxOutputs;
}

/** A misclassified test image for the report grid. */
export interface Misclassified {
  index: number;
  pixels: Uint8Array;
  trueLabel: number;
  predicted: number;
  /** Image folders: the photo's file (relative to the folder). */
  file?: string;
}

/** Up to `max` misclassified test images, spread over the test set rather than the first ones. */
export function pickMisclassified(images: Uint8Array, labels: ArrayLike<number>, predicted: ArrayLike<number>, max = 36, files?: readonly string[]): Misclassified[] {
  const wrong: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== predicted[i]) wrong.push(i);
  const step = Math.max(1, wrong.length / max);
  const out: Misclassified[] = [];
  for (let k = 0; k < Math.min(max, wrong.length); k++) {
    const i = wrong[Math.floor(k * step)];
    out.push({ index: i, pixels: images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), trueLabel: labels[i], predicted: predicted[i], ...(files ? { file: files[i] } : {}) });
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function reportMarkdown(r: TrainReport): string {
  const c = r.config;
  const lines = [
    `# edgeloom training report: ${r.arch}`,
    '',
    `${r.description}`,
    '',
    `Source: ${r.source}`,
    '',
    '| | |',
    '|---|---|',
    `| test accuracy | **${pct(r.test.accuracy)}** (${r.test.count} images) |`,
    `| macro F1 | ${r.test.macro.f1.toFixed(4)} |`,
    `| parameters | ${r.parameters.toLocaleString('en-US')} |`,
    `| MACs per image | ${r.macs.toLocaleString('en-US')} |`,
    `| back end | ${r.backend.description} |`,
    `| data | ${r.data.source}: ${r.data.train} train, ${r.data.val} val, ${r.data.test} test |`,
    `| epochs run | ${r.epochsRun}${r.stoppedEarly ? ` (early stop, best epoch ${r.bestEpoch})` : ''}${r.resumed ? ' (resumed)' : ''} |`,
    `| training time | ${r.trainSeconds.toFixed(1)} s (${r.samplesPerSec.toFixed(0)} images/s); wall ${r.wallTimeSeconds.toFixed(1)} s |`,
    '',
    '## Hyper-parameters',
    '',
    `optimizer ${c.optimizer}${c.optimizer === 'sgd' ? ` (momentum ${c.momentum})` : ''}, lr ${c.lr}, schedule ${c.schedule}, batch ${c.batchSize}, epochs ${c.epochs}, ` +
      `weight decay ${c.weightDecay} (decoupled), label smoothing ${c.labelSmoothing}, augment ${c.augment}, limit ${c.limit || 'none'}, val split ${c.valSplit}, patience ` +
        `${c.patience || 'off'}, seed ${c.seed}` +
      (c.init ? `, fine-tuned from ${c.init}` : '') + (c.distill ? `, distilled from ${c.distill.teacher} (weight ${c.distill.weight}, temperature ${c.distill.temperature})` : ''),
    '',
    `## Classification report (${r.data.test} test images; ${r.data.source})`,
    '',
    metricsMarkdown(r.test),
    '',
    '## History',
    '',
    '| epoch | loss | acc | val loss | val acc | lr | s | img/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.history.map((h) => `| ${h.epoch} | ${h.loss.toFixed(4)} | ${h.acc.toFixed(4)} | ${h.valLoss?.toFixed(4) ?? ''} | ${h.valAcc?.toFixed(4) ?? ''} | ` +
      `${h.lr.toPrecision(3)} | ${h.seconds.toFixed(1)} | ${h.samplesPerSec.toFixed(0)} |`),
    '',
    '## Confusion matrix (rows: true, columns: predicted)',
    '',
    `| | ${r.classNames.map((_, i) => i).join(' | ')} |`,
    `|---|${r.classNames.map(() => '---:').join('|')}|`,
    ...r.test.confusion.map((row, i) => `| ${i} ${r.classNames[i]} | ${row.join(' | ')} |`),
  ];
  if (r.plots.length) lines.push('', '## Plots', '', ...r.plots.filter((p) => p.endsWith('.png')).map((p) => `![${p}](${p})`));
  return `${lines.join('\n')}\n${r.onnx ? `\n${onnxMarkdown(r.onnx)}` : ''}`;
}

/** Writes learning curves, the confusion heat map and the misclassified grid; returns file names. */
async function writePlots(outDir: string, r: TrainReport, wrong: Misclassified[]): Promise<string[]> {
  const log = createLogger('report');
  const files: string[] = [];
  try {
    // Loaded here so that reading a report never pulls in sharp.
    const { writePlot } = await import('../plots/render.ts');
    const { learningCurvesSvg } = await import('../plots/learning-curves.ts');
    const { confusionMatrixSvg } = await import('../plots/confusion.ts');
    const { imageGridPng } = await import('../plots/image-grid.ts');
    const history = r.history.map((h) => ({ epoch: h.epoch, loss: h.loss, accuracy: h.acc, valLoss: h.valLoss ?? undefined, valAccuracy: h.valAcc ?? undefined }));
    await writePlot(join(outDir, 'learning-curves'), learningCurvesSvg(history, `${r.arch}: learning curves`));
    files.push('learning-curves.svg', 'learning-curves.png');
    await writePlot(join(outDir, 'confusion-matrix'), confusionMatrixSvg(r.test.confusion, r.classNames, `${r.arch}: confusion matrix (test)`));
    files.push('confusion-matrix.svg', 'confusion-matrix.png');
    if (wrong.length) {
      const items = wrong.map((w) => ({ pixels: w.pixels, caption: `${r.classNames[w.predicted]} / ${r.classNames[w.trueLabel]}`, captionColor: '#D55E00', ...(w.file ? { note: w.file } : {}) }));
      await writeFileAtomic(join(outDir, 'misclassified.png'), await imageGridPng(items, { cols: 6, title: `${r.arch}: misclassified test images (predicted / true)` }));
      files.push('misclassified.png');
    }
  } catch (err) {
    log.warn(`plots: ${(err as Error).message}`);
  }
  return files;
}

/** Writes report.json, report.md and the plots into `outDir`; returns the report with plot names. */
export async function writeTrainReport(outDir: string, report: TrainReport, wrong: Misclassified[]): Promise<TrainReport> {
  const plots = await writePlots(outDir, report, wrong);
  const full = { ...report, plots };
  await writeFileAtomic(join(outDir, 'report.json'), `${JSON.stringify(full, null, 2)}\n`);
  await writeFileAtomic(join(outDir, 'report.md'), reportMarkdown(full));
  return full;
}
