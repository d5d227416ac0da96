import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/fs-atomic.ts';
import { createLogger } from '../../src/log.ts';
import { selectTrainingBackends } from '../trainer/ort-step.ts';
import { checkTrainable, subset, type ImageSet } from '../data/dataset.ts';
import { loadDataset } from '../data/load.ts';
import { evaluateSet } from '../trainer/loop.ts';
import { mixSeed, prepareSplits } from '../data/split.ts';
import { resolveConfig, type TrainOptions } from '../trainer/config.ts';
import type { TrainConfig } from '../trainer/types.ts';
import { fitModel, withStopSignals } from './fit.ts';
import { kFoldSplits, meanStd } from './folds.ts';
import { describeTrial, isArchSetting, parseGrid, searchTrials, type Trial } from './grid.ts';
import { checkPlan } from './plan.ts';
import { checkArchSettings, mergeRecipe, readRecipeFile, type RecipeFile } from '../trainer/recipe-file.ts';

/** `edgeloom search`: grid or random search over recipe settings, scored on validation data only. */
export interface SearchOptions extends Omit<TrainOptions,
  'resume' | 'init' | 'distill' | 'distillWeight' | 'distillTemperature' | 'newHead' | 'freezeEpochs' | 'workers' | 'onnx' | 'quantize' | 'referenceSize' | 'testLimit'> {
  grid: string;
  /** Draw this many combinations of the grid instead of trying all. */
  random?: number;
  /** Score each trial by stratified k-fold instead of one validation split. */
  folds?: number;
}

export const SEARCH_DEFAULTS = { valSplit: 0.1, dir: 'search' } as const;

export interface TrialResult {
  trial: number;
  settings: Trial;
  /** Validation accuracy of each fold (one entry with --val-split). */
  scores: number[];
  score: { mean: number; std: number };
  seconds: number;
}

export interface SearchResult {
  arch: string;
  grid: string;
  protocol: { kind: 'val-split'; valSplit: number } | { kind: 'k-fold'; folds: number; stratified: true };
  data: { source: string; train: number; val: number | null };
  base: TrainConfig;
  /** Best first. */
  trials: TrialResult[];
  best: TrialResult | null;
  recipe: RecipeFile | null;
  out: string;
  files: string[];
  interrupted: boolean;
}

const PLAN_JSON = 'search-plan.json';

function trialFile(out: string, i: number): string {
  return join(out, 'trials', `trial-${String(i + 1).padStart(3, '0')}.json`);
}

/** The full config of one trial: the base recipe with the trial's settings, checked as `train` checks flags. */
export function trialConfig(opts: SearchOptions, trial: Trial, base: TrainConfig): TrainConfig {
  const hyper = Object.fromEntries(Object.entries(trial).filter(([k]) => !isArchSetting(k))) as Partial<TrainOptions>;
  const archSettings = Object.fromEntries(Object.entries(trial).filter(([k]) => isArchSetting(k)));
  const settings = Object.keys(archSettings).length ? checkArchSettings(base.arch, { ...base.settings, ...archSettings }, '--grid') : base.settings;
  const cfg = resolveConfig({ ...opts, ...hyper, settings, patience: undefined, valSplit: undefined });
  cfg.patience = base.patience;
  cfg.valSplit = base.valSplit;
  cfg.classNames = base.classNames;
  return cfg;
}

/** What `train --recipe` needs to repeat the best trial (with --val-split: the very same run and split). */
function bestRecipe(best: TrialResult, cfg: TrainConfig, r: Omit<SearchResult, 'recipe' | 'files'>): RecipeFile {
  return {
    arch: cfg.arch, epochs: cfg.epochs, batchSize: cfg.batchSize, lr: cfg.lr, optimizer: cfg.optimizer, momentum: cfg.momentum,
    schedule: cfg.schedule, weightDecay: cfg.weightDecay, labelSmoothing: cfg.labelSmoothing, augment: cfg.augment, seed: cfg.seed, data: cfg.data,
    ...(cfg.limit ? { limit: cfg.limit } : {}), ...(cfg.patience ? { patience: cfg.patience } : {}),
    ...(r.protocol.kind === 'val-split' ? { valSplit: r.protocol.valSplit } : {}),
    ...(cfg.settings ? { settings: cfg.settings } : {}),
    from: { command: 'edgeloom search', grid: r.grid, trial: best.trial, settings: best.settings, validationAccuracy: best.score, protocol: r.protocol },
  };
}

export async function runSearch(options: SearchOptions): Promise<SearchResult> {
  const log = createLogger('search');
  const opts = options.recipe ? mergeRecipe(await readRecipeFile(options.recipe), options) : options;
  if (opts.folds !== undefined && opts.valSplit !== undefined) throw new UserError('--folds and --val-split: give one of them (k-fold scores, or one validation split)');
  const grid = parseGrid(opts.grid);
  const base = resolveConfig({ ...opts, patience: undefined, valSplit: undefined });
  base.patience = opts.patience ?? 0;
  const protocol: SearchResult['protocol'] = opts.folds !== undefined ? { kind: 'k-fold', folds: opts.folds, stratified: true } : { kind: 'val-split',
    valSplit: opts.valSplit ?? SEARCH_DEFAULTS.valSplit };
  if (protocol.kind === 'val-split' && !(protocol.valSplit > 0 && protocol.valSplit < 1)) throw new UserError(`--val-split: expected a fraction between 0 and 1, got ${protocol.valSplit}`);
  base.valSplit = protocol.kind === 'val-split' ? protocol.valSplit : 0;
  const trials = searchTrials(grid, opts.random, mixSeed(base.seed, 0x5ea));
  // Every trial's settings checked before any training time is spent.
  const configs = trials.map((t) => trialConfig(opts, t, base));
  const out = resolve(opts.out ?? join(SEARCH_DEFAULTS.dir, base.arch));
  const { ort: onOrt } = await selectTrainingBackends(opts.backend ?? 'auto', configs, log);

  const ds = await loadDataset({ data: base.data, seed: base.seed, onProgress: (m) => log.info(m) });
  checkTrainable(ds, base.data);
  base.classNames = [...ds.train.classNames];
  for (const c of configs) c.classNames = base.classNames;
  // The test split is never looked at: every score is on images held out of the training split.
  const splits: Array<{ train: ImageSet; val: ImageSet }> = [];
  if (protocol.kind === 'val-split') {
    const s = prepareSplits(ds.train, base);
    splits.push({ train: s.train, val: s.val! });
  } else {
    const pool = prepareSplits(ds.train, { ...base, valSplit: 0 }).train;
    for (const f of kFoldSplits(pool.labels, base.classNames.length, protocol.folds, true, base.seed)) splits.push({ train: subset(pool, f.train), val: subset(pool, f.val) });
  }
  await checkPlan(out, PLAN_JSON, { grid: opts.grid, random: opts.random ?? null, protocol, base, data: ds.source }, 'search');
  const scoredOn = protocol.kind === 'val-split' ? `a ${protocol.valSplit} validation split (${splits[0].val.count} images)` : `${protocol.folds} stratified folds`;
  log.info(`${trials.length} trial(s) of ${base.arch}, each scored on ${scoredOn} of ${ds.source}`);

  const results: TrialResult[] = [];
  const interrupted = await withStopSignals(async (shouldStop) => {
    for (const [i, trial] of trials.entries()) {
      const file = trialFile(out, i);
      if (existsSync(file)) {
        results.push(JSON.parse(await readFile(file, 'utf8')) as TrialResult);
        log.info(`trial ${i + 1}/${trials.length} (${describeTrial(trial)}): already done`);
        continue;
      }
      log.info(`trial ${i + 1}/${trials.length}: ${describeTrial(trial)}`);
      const start = performance.now();
      const scores: number[] = [];
      for (const s of splits) {
        const { model, result } = await fitModel({ config: configs[i], train: s.train, val: s.val, log, shouldStop, progress: opts.progress, ort: onOrt[i] });
        try {
          if (result.interrupted) return true;
          scores.push(evaluateSet(model, s.val).acc);
        } finally {
          model.dispose();
        }
      }
      const r: TrialResult = { trial: i + 1, settings: trial, scores, score: meanStd(scores), seconds: (performance.now() - start) / 1000 };
      await writeFileAtomic(file, `${JSON.stringify(r, null, 2)}\n`);
      log.info(`trial ${i + 1}: validation ${(r.score.mean * 100).toFixed(2)}%`);
      results.push(r);
    }
    return false;
  }, 'the finished trials are kept; run the same command again to continue');

  const ranked = [...results].sort((a, b) => b.score.mean - a.score.mean || a.trial - b.trial);
  const best = ranked[0] ?? null;
  const partial = {
    arch: base.arch, grid: opts.grid, protocol,
    data: { source: ds.source, train: splits[0].train.count, val: protocol.kind === 'val-split' ? splits[0].val.count : null },
    base, trials: ranked, best, out, interrupted,
  };
  const result: SearchResult = { ...partial, recipe: best ? bestRecipe(best, configs[best.trial - 1], partial) : null, files: [] };
  if (interrupted || !best) return result;
  const { writeSearchReport } = await import('./search-report.ts');
  result.files = await writeSearchReport(result);
  return result;
}
