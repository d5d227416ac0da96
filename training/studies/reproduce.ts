import { join, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import type { RobustnessReport } from '../robustness/run.ts';
import type { TrainOptions } from '../trainer/config.ts';
import type { CvOptions } from './cv.ts';

/**
 * `edgeloom reproduce STUDY --budget quick|full`: a study's experiments rerun with edgeloom's
 * commands, each row beside the number the study reported. The studies' numbers live here once
 * (docs/studies.md shows the same table).
 */
export type BudgetName = 'quick' | 'full';

export interface Budget {
  /** Stratified training subset (0 = all). */
  limit: number;
  /** Epochs per model (undefined = the architecture's recipe). */
  epochs?: number;
  /** Folds / splits of the cross-validation experiments. */
  folds: number;
  /** Stratified test subset (0 = the whole test split). */
  testLimit: number;
}

/** quick: minutes on a 2-core machine, to check the pipeline and the direction of each result; full: the studies' protocols. */
export const BUDGETS: Readonly<Record<BudgetName, Budget>> = {
  quick: { limit: 3000, epochs: 2, folds: 3, testLimit: 2000 },
  full: { limit: 0, folds: 10, testLimit: 0 },
};

export interface ReproduceContext {
  budget: Budget;
  out: string;
  seed: number;
  backend?: string;
  data?: string;
}

/** One measured number (a fraction), or a figure (a file) with no number. */
export interface Measured {
  value: number | null;
  detail: string;
}

export interface Experiment {
  id: string;
  /** Architecture and protocol, as the study names them. */
  what: string;
  /** The study's number, as it reports it (text: some are rounded, some are "not given"). */
  reported: string;
  /** The command that repeats it at the full budget. */
  command: string;
  run(ctx: ReproduceContext): Promise<Measured>;
}

export interface Study {
  name: string;
  title: string;
  experiments: Experiment[];
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function trainFlags(ctx: ReproduceContext) {
  return {
    ...(ctx.budget.epochs ? { epochs: ctx.budget.epochs } : {}),
    ...(ctx.budget.limit ? { limit: ctx.budget.limit } : {}),
    ...(ctx.budget.testLimit ? { testLimit: ctx.budget.testLimit } : {}),
    ...(ctx.data ? { data: ctx.data } : {}),
    seed: ctx.seed, backend: ctx.backend, progress: false,
  };
}

async function train(ctx: ReproduceContext, name: string, extra: Partial<TrainOptions>): Promise<Measured> {
  const { trainAndTest, withStopSignals } = await import('./fit.ts');
  const out = join(ctx.out, name);
  const r = await withStopSignals((stop) => trainAndTest({ ...trainFlags(ctx), ...extra, out }, createLogger('reproduce'), stop), 'run the same command again');
  if (!r) throw new UserError(`reproduce: ${name} was interrupted; run the same command again`);
  return { value: r.testAccuracy, detail: `${r.epochsRun} epochs, ${out}` };
}

async function crossValidate(ctx: ReproduceContext, name: string, extra: Partial<CvOptions>): Promise<Measured> {
  const { runCv } = await import('./cv.ts');
  const r = await runCv({ ...trainFlags(ctx), arch: 'cnn', folds: ctx.budget.folds, ...extra, out: join(ctx.out, name) });
  if (r.interrupted) throw new UserError(`reproduce: ${name} was interrupted; run the same command again (finished folds are kept)`);
  return { value: r.testAccuracy.mean, detail: `${r.description}: test ${pct(r.testAccuracy.mean)} ± ${(r.testAccuracy.std * 100).toFixed(2)}, fold ensemble ${pct(r.ensemble.accuracy)}` };
}

/** Safaei's GridSearchCV over the MLP's optimiser and activation, then the best recipe trained and tested. */
async function tunedMlp(ctx: ReproduceContext): Promise<Measured> {
  const { runSearch } = await import('./search.ts');
  const flags = trainFlags(ctx);
  const search = await runSearch({
    arch: 'mlp', grid: 'optimizer=sgd,adam,adagrad;activation=relu,tanh;lr=1e-3,1e-2', folds: 3,
    ...(flags.epochs ? { epochs: flags.epochs } : {}), ...(flags.limit ? { limit: flags.limit } : {}), ...(ctx.data ? { data: ctx.data } : {}),
    seed: ctx.seed, backend: ctx.backend, progress: false, out: join(ctx.out, 'mlp-search'),
  });
  if (search.interrupted || !search.best) throw new UserError('reproduce: the MLP search was interrupted; run the same command again (finished trials are kept)');
  const r = await train(ctx, 'mlp-tuned', { recipe: join(search.out, 'best-recipe.json') });
  return { value: r.value, detail: `best of ${search.trials.length}: ${Object.entries(search.best.settings).map(([k, v]) => `${k}=${v}`).join(' ')} (validation ${pct(search.best.score.mean)})` };
}

async function figure(ctx: ReproduceContext, kind: 'segment' | 'inspect', model?: string): Promise<Measured> {
  if (kind === 'segment') {
    const { runSegment } = await import('./segment.ts');
    const r = await runSegment({ out: join(ctx.out, 'segment.png'), index: 0, k: '1-6', ...(ctx.data ? { data: ctx.data } : {}) });
    return { value: null, detail: `figure: ${r.out}` };
  }
  const { runInspect } = await import('./inspect.ts');
  const { existsSync } = await import('node:fs');
  // The figure is of the study's trained model: trained here first when this run has not made it yet.
  if (!existsSync(join(ctx.out, model!, 'model.json'))) await train(ctx, model!, { arch: model });
  const out = join(ctx.out, `inspect-${model}`);
  const r = await runInspect({ model: join(ctx.out, model!), index: 0, out });
  return { value: null, detail: `figures: ${out} (${r.filters ? `${r.filters.total} filters, ` : ''}${r.layers.length} conv layer(s))` };
}

export const STUDIES: Readonly<Record<string, Study>> = {
  safaei: {
    name: 'safaei',
    title: 'S. Safaei, "Fashion-MNIST classification" report',
    experiments: [
      { id: 'mlp', what: 'MLP (mlp), one train/test split', reported: '85.99%', command: 'edgeloom train --arch mlp', run: (c) => train(c, 'mlp', { arch: 'mlp' }) },
      { id: 'mlp-tuned', what: 'MLP tuned by grid search over optimiser and activation (adagrad + tanh in the study)', reported: '89%',
        command: "edgeloom search --arch mlp --grid 'optimizer=sgd,adam,adagrad;activation=relu,tanh;lr=1e-3,1e-2' --folds 3; edgeloom train --recipe search/mlp/best-recipe.json", run: tunedMlp },
      { id: 'cnn', what: 'cnn_1 (cnn), one train/test split', reported: '91.81%', command: 'edgeloom train --arch cnn', run: (c) => train(c, 'cnn', { arch: 'cnn' }) },
      { id: 'cnn-aug', what: 'cnn_1 with augmentation (safaei)', reported: '92.12%', command: 'edgeloom train --arch cnn --augment safaei', run: (c) => train(c, 'cnn-aug',
        { arch: 'cnn', augment: 'safaei' }) },
      { id: 'cnn-kf', what: 'cnn_kf: k-fold cross-validation (10 folds in the study), mean test accuracy', reported: '92.7%', command: 'edgeloom cv --arch cnn --folds 10',
        run: (c) => crossValidate(c, 'cnn-kf', {}) },
      { id: 'cnn-rs', what: 'cnn_rs: shuffle-split (10 splits of 10% here at the full budget), mean test accuracy', reported: '92.9%',
        command: 'edgeloom cv --arch cnn --folds 10 --shuffle-split --test-size 0.1', run: (c) => crossValidate(c, 'cnn-rs', { shuffleSplit: true, testSize: 0.1 }) },
      { id: 'filters', what: 'the 32 first-layer filters of cnn_1 and one image through each channel', reported: 'figure',
        command: 'edgeloom inspect --model runs/cnn --index 0 --out inspect/cnn', run: (c) => figure(c, 'inspect', 'cnn') },
      { id: 'kmeans', what: 'KMeans segmentation of a training image, K = 1..6', reported: 'figure', command: 'edgeloom data segment --index 0 --k 1-6 --out segment.png',
        run: (c) => figure(c, 'segment') },
    ],
  },
  leopardi: {
    name: 'leopardi',
    title: 'L. Leopardi, CustomNet for Fashion-MNIST',
    experiments: [
      { id: 'customnet', what: 'CustomNet (customnet), one train/test split', reported: 'not pinned here (see the source)', command: 'edgeloom train --arch customnet',
        run: (c) => train(c, 'customnet', { arch: 'customnet' }) },
      { id: 'feature-maps', what: 'the input and the feature maps of each conv layer', reported: 'figure',
        command: 'edgeloom inspect --model runs/customnet --index 0 --out inspect/customnet', run: (c) => figure(c, 'inspect', 'customnet') },
    ],
  },
  'le-glouanec': {
    name: 'le-glouanec',
    title: 'Le Glouanec, LeNet-5 variant with batch normalisation and dropout',
    experiments: [
      { id: 'lenet5-bn', what: 'LeNet-5 variant (lenet5-bn), one train/test split', reported: '92.37%', command: 'edgeloom train --arch lenet5-bn', run: (c) => train(c,
        'lenet5-bn', { arch: 'lenet5-bn' }) },
    ],
  },
  giordano: {
    name: 'giordano',
    title: 'Giordano et al., robustness of a Fashion-MNIST CNN to six input filters',
    experiments: ['clean', 'cut', 'rotate', 'occlusion', 'contrast', 'blur', 'rain'].map((filter, i) => ({
      id: filter,
      what: filter === 'clean' ? 'CNN on the clean test set (edgeloom: the shipped default model, int8)' : `${filter} filter (edgeloom: severity 3)`,
      reported: ['93%', '31%', '9%', '50%', '84%', '52%', '58%'][i],
      command: 'edgeloom robustness --model models/default.onnx --severities 3',
      run: (c: ReproduceContext) => robustnessRow(c, filter),
    })),
  },
};

const robustnessRuns = new Map<string, Promise<RobustnessReport>>();

/** The shipped default model through the study's six filters at severity 3 (one run for the seven rows). */
async function robustnessRow(ctx: ReproduceContext, filter: string): Promise<Measured> {
  const model = new URL('../../models/default.onnx', import.meta.url).pathname;
  const key = `${ctx.out}|${ctx.budget.testLimit}`;
  if (!robustnessRuns.has(key)) {
    const { runRobustness } = await import('../robustness/run.ts');
    robustnessRuns.set(key, runRobustness({ model, severities: '3', ...(ctx.budget.testLimit ? { limit: ctx.budget.testLimit } : {}), out: join(ctx.out, 'robustness') }));
  }
  const r = await robustnessRuns.get(key)!;
  if (filter === 'clean') return { value: r.clean.accuracy, detail: `models/default.onnx on ${r.count} test images` };
  const row = r.summary.find((s) => s.filter === filter)!;
  return { value: row.accuracy, detail: `drop ${(row.drop * 100).toFixed(1)} points from clean` };
}

export interface ReproduceOptions {
  study: string;
  budget?: string;
  out?: string;
  seed?: number;
  backend?: string;
  data?: string;
  /** Only these experiment ids (comma-separated). */
  only?: string;
  /** Budget overrides (small smoke runs, tests). */
  limit?: number;
  epochs?: number;
  folds?: number;
  testLimit?: number;
}

export interface ReproduceRow {
  id: string;
  what: string;
  reported: string;
  edgeloom: number | null;
  detail: string;
  command: string;
}

export interface ReproduceResult {
  study: string;
  title: string;
  budget: BudgetName;
  settings: Budget;
  rows: ReproduceRow[];
  out: string;
  files: string[];
}

export function resolveBudget(opts: Pick<ReproduceOptions, 'budget' | 'limit' | 'epochs' | 'folds' | 'testLimit'>): { name: BudgetName; budget: Budget } {
  const name = (opts.budget ?? 'quick') as BudgetName;
  if (!(name in BUDGETS)) throw new UserError(`--budget: expected quick or full, got "${opts.budget}"`);
  const budget: Budget = { ...BUDGETS[name] };
  if (opts.limit !== undefined) budget.limit = opts.limit;
  if (opts.epochs !== undefined) budget.epochs = opts.epochs;
  if (opts.folds !== undefined) budget.folds = opts.folds;
  if (opts.testLimit !== undefined) budget.testLimit = opts.testLimit;
  return { name, budget };
}

export async function runReproduce(opts: ReproduceOptions): Promise<ReproduceResult> {
  const study = STUDIES[opts.study];
  if (!study) throw new UserError(`reproduce: unknown study "${opts.study}" (expected ${Object.keys(STUDIES).join(', ')})`);
  const { name, budget } = resolveBudget(opts);
  const only = opts.only ? opts.only.split(',').map((s) => s.trim()) : null;
  const ids = study.experiments.map((e) => e.id);
  for (const id of only ?? []) if (!ids.includes(id)) throw new UserError(`--only: ${study.name} has no experiment "${id}" (expected ${ids.join(', ')})`);
  const out = resolve(opts.out ?? join('studies', study.name, name));
  const ctx: ReproduceContext = { budget, out, seed: opts.seed ?? 42, backend: opts.backend, data: opts.data };
  const log = createLogger('reproduce');
  const rows: ReproduceRow[] = [];
  for (const e of study.experiments.filter((x) => !only || only.includes(x.id))) {
    log.info(`${study.name}/${e.id}: ${e.what}`);
    const m = await e.run(ctx);
    rows.push({ id: e.id, what: e.what, reported: e.reported, edgeloom: m.value, detail: m.detail, command: e.command });
  }
  const result: ReproduceResult = { study: study.name, title: study.title, budget: name, settings: budget, rows, out, files: ['reproduce.json', 'report.md'] };
  await writeFileAtomic(join(out, 'report.md'), reproduceMarkdown(result));
  await writeFileAtomic(join(out, 'reproduce.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

function budgetText(r: ReproduceResult): string {
  const b = r.settings;
  const images = b.limit ? `${b.limit} training images` : 'all training images';
  const epochs = b.epochs ? `${b.epochs} epochs` : 'the recipes\' epochs';
  return `${r.budget} budget: ${images}, ${epochs}, ${b.folds} folds, ${b.testLimit ? `${b.testLimit} test images` : 'the whole test split'}`;
}

export function reproduceMarkdown(r: ReproduceResult): string {
  return [
    `# ${r.title}: the study's numbers beside edgeloom's`,
    '',
    `${budgetText(r)}.`,
    '',
    `| experiment | study | edgeloom (${r.budget}) | notes | command (full budget) |`,
    '|---|---:|---:|---|---|',
    ...r.rows.map((x) => `| ${x.what} | ${x.reported} | ${x.edgeloom === null ? '—' : pct(x.edgeloom)} | ${x.detail} | \`${x.command}\` |`),
    '',
    'The study gives no per-class figures for these rows; edgeloom\'s are in each run\'s report.md.',
    '',
  ].join('\n');
}

export function formatReproduce(r: ReproduceResult): string {
  const w = Math.max(...r.rows.map((x) => x.id.length), 10);
  return [
    `${r.title} (${budgetText(r)})`,
    `${'experiment'.padEnd(w)}  ${'study'.padStart(10)}  ${'edgeloom'.padStart(9)}  notes`,
    ...r.rows.map((x) => `${x.id.padEnd(w)}  ${x.reported.padStart(10).slice(0, 32)}  ${(x.edgeloom === null ? '-' : pct(x.edgeloom)).padStart(9)}  ${x.detail}`),
    `wrote ${join(r.out, 'report.md')}`,
  ].join('\n');
}
