import { join } from 'node:path';
import { IMAGE_PIXELS } from '../../src/classes.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import type { ImageSet } from '../data/dataset.ts';
import type { AdoptOptions } from '../onnx/adopt.ts';
import { loadAnyModel, loadEvalSet, SPLIT_NAMES, type EvalSplit, type LoadedModel } from '../eval/evaluate.ts';
import { argmaxRows, classificationMetrics } from '../eval/metrics.ts';
import { applyFilterToImages, parseFilters, parseSeverities, type FilterName } from './filters.ts';
import { robustnessMarkdown } from './report.ts';

/** Accuracy and macro-averaged precision / recall / F1 of one evaluation. */
export interface ScoreRow {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface SeverityResult extends ScoreRow {
  filter: FilterName;
  severity: number;
  /** Clean accuracy minus this accuracy (positive = worse than clean). */
  drop: number;
}

/** One row of the study's table: a filter's scores averaged over the evaluated severities. */
export interface FilterSummary extends ScoreRow {
  filter: FilterName;
  drop: number;
}

export interface RobustnessReport {
  model: string;
  kind: 'onnx' | 'tfjs';
  /** `test` (the test split of the model's data) or `val` (the validation split of the model's training run). */
  split: EvalSplit;
  count: number;
  seed: number;
  filters: FilterName[];
  severities: number[];
  clean: ScoreRow;
  results: SeverityResult[];
  summary: FilterSummary[];
  /** Mean accuracy over every evaluated filter x severity. */
  meanCorruptionAccuracy: number;
  meanDrop: number;
  worstFilter: { filter: FilterName; accuracy: number; drop: number };
  files: string[];
}

export interface RobustnessOptions extends AdoptOptions {
  model: string;
  split?: EvalSplit;
  filters?: string;
  severities?: string;
  limit?: number;
  seed?: number;
  out?: string;
  /** Data spec (training/data/load.ts); default: the model's recipe's data. */
  data?: string;
}

async function score(model: LoadedModel, set: ImageSet): Promise<ScoreRow> {
  const logits = await model.predict(set);
  const m = classificationMetrics(set.labels, argmaxRows(logits, model.classNames.length), model.classNames);
  return { accuracy: m.accuracy, precision: m.macro.precision, recall: m.macro.recall, f1: m.macro.f1 };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Folds per-severity results into the per-filter rows and the overall figures. Pure. */
export function summarise(clean: ScoreRow, results: readonly SeverityResult[],
  filters: readonly FilterName[]): Pick<RobustnessReport, 'summary' | 'meanCorruptionAccuracy' | 'meanDrop' | 'worstFilter'> {
  const summary: FilterSummary[] = filters.map((filter) => {
    const rows = results.filter((r) => r.filter === filter);
    const accuracy = mean(rows.map((r) => r.accuracy));
    return { filter, accuracy, precision: mean(rows.map((r) => r.precision)), recall: mean(rows.map((r) => r.recall)), f1: mean(rows.map((r) => r.f1)), drop: clean.accuracy - accuracy };
  });
  const worst = summary.reduce((w, s) => (s.accuracy < w.accuracy ? s : w), summary[0]);
  const meanCorruptionAccuracy = mean(results.map((r) => r.accuracy));
  return { summary, meanCorruptionAccuracy, meanDrop: clean.accuracy - meanCorruptionAccuracy, worstFilter: { filter: worst.filter, accuracy: worst.accuracy, drop: worst.drop } };
}

export async function runRobustness(opts: RobustnessOptions): Promise<RobustnessReport> {
  const log = createLogger('robustness');
  const filters = parseFilters(opts.filters);
  const severities = parseSeverities(opts.severities);
  const seed = opts.seed ?? 1;
  const split = opts.split ?? 'test';
  const model = await loadAnyModel(opts.model, opts);
  const test = await loadEvalSet(model, split, opts.limit, seed, opts.data);
  const total = 1 + filters.length * severities.length;
  log.info(`${opts.model} (${model.kind}) on ${test.count} ${SPLIT_NAMES[split]} images: clean + ${filters.length} filters x ${severities.length} severities`);
  const clean = await score(model, test);
  log.info(`[1/${total}] clean: accuracy ${(clean.accuracy * 100).toFixed(2)}%`);
  const results: SeverityResult[] = [];
  for (const filter of filters) {
    for (const severity of severities) {
      const images = applyFilterToImages(filter, test.images, severity, seed);
      const s = await score(model, { ...test, images });
      results.push({ filter, severity, ...s, drop: clean.accuracy - s.accuracy });
      log.info(`[${results.length + 1}/${total}] ${filter} s${severity}: accuracy ${(s.accuracy * 100).toFixed(2)}%`);
    }
  }
  const report: RobustnessReport = {
    model: opts.model, kind: model.kind, split, count: test.count, seed, filters, severities, clean, results, ...summarise(clean, results, filters), files: [],
  };
  if (opts.out) report.files = await writeOutputs(opts.out, report, test);
  return report;
}

async function writeOutputs(dir: string, report: RobustnessReport, test: ImageSet): Promise<string[]> {
  const files = [join(dir, 'report.json'), join(dir, 'report.md')];
  await writeFileAtomic(files[1], robustnessMarkdown(report));
  // Loaded only with --out: the plots pull in sharp.
  const { lineChartSvg } = await import('../plots/line-chart.ts');
  const { imageGridPng } = await import('../plots/image-grid.ts');
  const { writePlot } = await import('../plots/render.ts');
  const series = report.filters.map((filter) => ({
    name: filter,
    points: [[0, report.clean.accuracy] as [number, number], ...report.results.filter((r) => r.filter === filter).map((r) => [r.severity, r.accuracy] as [number, number])],
  }));
  const chart = await writePlot(join(dir, 'accuracy-vs-severity.png'), lineChartSvg(series, {
    title: `Accuracy under input filters (${report.count} ${SPLIT_NAMES[report.split]} images)`, xLabel: 'severity (0 = clean)', yLabel: 'accuracy', yMin: 0, yMax: 1, legend: 'bottom-left',
  }));
  files.push(chart.png, chart.svg);
  // One example image (the first of the stratified set) through every filter and severity.
  const example = test.images.subarray(0, IMAGE_PIXELS);
  const items = report.filters.flatMap((filter) => [
    { pixels: Uint8Array.from(example), caption: `${filter}: clean` },
    ...report.severities.map((severity) => ({ pixels: applyFilterToImages(filter, example, severity, report.seed), caption: `${filter} s${severity}` })),
  ]);
  const gridPath = join(dir, 'examples.png');
  await writeFileAtomic(gridPath, await imageGridPng(items, { cols: 1 + report.severities.length, scale: 3, title: 'Input filters by severity' }));
  files.push(gridPath);
  report.files = files;
  await writeFileAtomic(files[0], `${JSON.stringify(report, null, 2)}\n`);
  return files;
}
