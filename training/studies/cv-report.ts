import { join } from 'node:path';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { metricsMarkdown } from '../eval/metrics.ts';
import { lineChartSvg } from '../plots/line-chart.ts';
import { writePlot } from '../plots/render.ts';
import type { CvResult } from './cv.ts';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const pm = (s: { mean: number; std: number }) => `${pct(s.mean)} ± ${(s.std * 100).toFixed(2)}`;

/** Validation and test accuracy per fold, with the fold ensemble's test accuracy as a dashed line. */
export function cvPlotSvg(r: CvResult): string {
  const folds = r.folds.map((f) => f.fold);
  const lo = Math.min(...folds);
  const hi = Math.max(...folds);
  return lineChartSvg([
    { name: 'validation (fold)', points: r.folds.map((f) => [f.fold, f.valAccuracy]) },
    { name: 'test', points: r.folds.map((f) => [f.fold, f.testAccuracy]) },
    { name: 'ensemble test', points: [[lo, r.ensemble.accuracy], [hi, r.ensemble.accuracy]], dashed: true },
  ], { title: `${r.arch}: ${r.description}`, xLabel: r.protocol.kind === 'k-fold' ? 'fold' : 'split', yLabel: 'accuracy', legend: 'bottom-right' });
}

export function cvMarkdown(r: CvResult): string {
  const c = r.config;
  const lines = [
    `# ${r.arch}: ${r.description}`,
    '',
    `Data: ${r.data.source}; ${r.data.train} training images resampled into the folds, ${r.data.test} test images.`,
    `Recipe: ${c.optimizer}${c.optimizer === 'sgd' ? ` (momentum ${c.momentum})` : ''}, lr ${c.lr}, schedule ${c.schedule}, batch ${c.batchSize}, ` +
      `${c.epochs} epochs, augment ${c.augment}, seed ${c.seed}${c.settings ? `, settings ${JSON.stringify(c.settings)}` : ''}` +
      `${c.patience ? `, early stopping on the fold (patience ${c.patience})` : ''}.`,
    '',
    '| fold | train | validation | validation accuracy | test accuracy | epochs |',
    '|---:|---:|---:|---:|---:|---:|',
    ...r.folds.map((f) => `| ${f.fold} | ${f.train} | ${f.val} | ${pct(f.valAccuracy)} | ${pct(f.testAccuracy)} | ${f.epochsRun} |`),
    `| **mean ± std** | | | **${pm(r.valAccuracy)}** | **${pm(r.testAccuracy)}** | |`,
    '',
    `Standard deviations are over the folds (population, ddof 0). Fold ensemble (mean of the ${r.folds.length} models' softmax) on the test split: ` +
      `**${pct(r.ensemble.accuracy)}**; best fold by validation accuracy: fold ${r.best.fold} ` +
      `(validation ${pct(r.best.valAccuracy)}, test ${pct(r.best.test.accuracy)}).`,
    '',
    '![accuracy per fold](folds.png)',
    '',
    '## Fold ensemble on the test split',
    '',
    metricsMarkdown(r.ensemble),
    '',
    `## Best fold (fold ${r.best.fold}) on the test split`,
    '',
    metricsMarkdown(r.best.test),
    '',
  ];
  if (r.exported) {
    const what = r.exported.kind === 'best' ? 'the best fold\'s model' : 'the average of the folds\' weights';
    lines.push(`Exported: ${what} in \`${r.exported.dir}\` (test ${pct(r.exported.testAccuracy)}).`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** Writes cv.json, report.md and folds.png/.svg into the run's directory; returns the file names. */
export async function writeCvReport(r: CvResult): Promise<string[]> {
  const files = ['cv.json', 'report.md', 'folds.png', 'folds.svg'];
  const full = { ...r, files };
  await writePlot(join(r.out, 'folds.png'), cvPlotSvg(r));
  await writeFileAtomic(join(r.out, 'report.md'), cvMarkdown(r));
  await writeFileAtomic(join(r.out, 'cv.json'), `${JSON.stringify(full, null, 2)}\n`);
  return files;
}

export function formatCv(r: CvResult): string {
  const lines = [
    `${r.arch}: ${r.description} on ${r.data.train} images`,
    ...r.folds.map((f) => `  fold ${String(f.fold).padStart(2)}: validation ${pct(f.valAccuracy)}  test ${pct(f.testAccuracy)}`),
    `validation ${pm(r.valAccuracy)}; test ${pm(r.testAccuracy)}`,
    `fold ensemble (averaged softmax): test ${pct(r.ensemble.accuracy)}, macro F1 ${r.ensemble.macro.f1.toFixed(4)}; best fold ${r.best.fold}: test ${pct(r.best.test.accuracy)}`,
  ];
  if (r.exported) lines.push(`exported ${r.exported.kind}: ${r.exported.dir} (test ${pct(r.exported.testAccuracy)})`);
  if (r.files.length) lines.push(`wrote ${r.out}: ${r.files.join(', ')}, fold-NN/`);
  return lines.join('\n');
}
