import { Option, type Command } from 'commander';
import { addDataOptions, addModelDataOption } from './data.ts';
import { addForeignModelOptions } from './model.ts';
import { action, parseFloatOption, parseIntOption, printResult, withoutDefaults } from './output.ts';
import { addOptimizerOptions, TRAINING_BACKEND_HELP } from './recipe-flags.ts';
import { loadTraining } from './training.ts';
import { DEFAULT_SEED } from '../src/defaults.ts';
// Type-only: erased at run time, so training/ is still loaded lazily inside the actions.
import type { CvOptions } from '../training/studies/cv.ts';
import type { InspectOptions } from '../training/studies/inspect.ts';
import type { SearchOptions } from '../training/studies/search.ts';
import type { ReproduceOptions } from '../training/studies/reproduce.ts';

/** The studies' experiments as commands (training/studies/): inspect, cv, search. */
export function registerStudiesCommands(program: Command): void {
  registerCvCommand(program);
  registerSearchCommand(program);
  registerReproduceCommand(program);
  addModelDataOption(addForeignModelOptions(program.command('inspect')))
    .description('Look inside a model for one image: first-layer filters, the feature maps of every conv layer (one grid per layer) and, for tfjs models, a saliency map')
    .requiredOption('--model <path>', 'tfjs model directory or .onnx file (fp32 or int8; foreign models are adopted in memory)')
    .requiredOption('--out <dir>', 'output directory: input.png, filters.png, feature-maps-NN-LAYER.png, saliency.png, report.json, report.md')
    .option('--image <path>', 'an image file, preprocessed as the agent does (grayscale 28x28, background auto-inverted)')
    .option('--index <n>', 'image n of the test split of the model\'s data (default 0)', parseIntOption('--index'))
    .option('--max-channels <n>', 'filters and feature-map channels shown per layer (default 64)', parseIntOption('--max-channels'))
    .option('--json', 'print JSON on stdout')
    .addHelpText('after',
      '\nExamples:\n  $ edgeloom inspect --model runs/cnn --index 0 --out inspect/cnn' +
        '\n  $ edgeloom inspect --model models/default.onnx --image shirt.jpg --out inspect/shirt' +
        '\n  $ edgeloom inspect --model runs/bins --data folder:./photos --index 3 --out inspect/bins --json')
    .action(action(async (opts: InspectOptions & { json?: boolean }) => {
      const { runInspect, formatInspect } = await loadTraining(() => import('../training/studies/inspect.ts'));
      const r = await runInspect(opts);
      printResult(opts.json, r, () => formatInspect(r, opts.out));
    }));
}

/** The hyper-parameter flags `cv` and `search` share with `train` (unset: the architecture's recipe). */
function addRecipeFlags(cmd: Command): Command {
  return addOptimizerOptions(addDataOptions(cmd)
    .option('--arch <name>', 'architecture (see edgeloom archs)')
    .option('--recipe <file>', 'hyper-parameters from a recipe JSON file; flags given here win'))
    .option('--augment <presets>', 'augmentation presets, as for train')
    .option('--limit <n>', 'resample a stratified subset of N training images', parseIntOption('--limit'))
    .option('--patience <n>', 'early stopping on each model\'s validation part', parseIntOption('--patience'))
    .option('--seed <n>', `seed of the folds, initialisation and shuffling (default ${DEFAULT_SEED})`, parseIntOption('--seed'))
    .option('--backend <name>', TRAINING_BACKEND_HELP, 'auto')
    .option('--no-progress', 'no live progress line (one line per epoch only)')
    .option('--json', 'print JSON on stdout');
}

export function registerSearchCommand(program: Command): void {
  addRecipeFlags(program.command('search'))
    .description('Grid or random search over recipe and architecture settings, each trial scored on validation data only (never the test split); table, plot and the best recipe for train --recipe')
    .requiredOption('--grid <spec>',
      'settings and values: \'optimizer=sgd,adam,adagrad;activation=relu,tanh;lr=1e-3,1e-2\' (optimizer, lr, momentum, batch-size, epochs, schedule, ' +
        'weight-decay, label-smoothing; architecture settings activation, width, dropout where the architecture accepts them)')
    .option('--random <n>', 'try n combinations of the grid drawn at random (seeded) instead of all', parseIntOption('--random'))
    .option('--folds <k>', 'score each trial by stratified k-fold cross-validation', parseIntOption('--folds'))
    .option('--val-split <x>', 'score each trial on one stratified validation split (default 0.1)', parseFloatOption('--val-split'))
    .option('--out <dir>', 'output directory (default search/ARCH): search.json, search.csv, report.md, search.png, best-recipe.json, trials/')
    .addHelpText('after',
      '\nExamples:\n  $ edgeloom search --arch mlp --grid \'optimizer=sgd,adam,adagrad;activation=relu,tanh;lr=1e-3,1e-2\' --out search/mlp   # Safaei\'s GridSearchCV' +
        '\n  $ edgeloom search --arch cnn --grid \'lr=3e-4,1e-3,3e-3;dropout=0.25,0.4;width=100,200\' --random 6 --folds 3' +
        '\n  $ edgeloom train --recipe search/mlp/best-recipe.json --out runs/mlp-tuned' +
        '\n\nInterrupted (Ctrl-C)? Run the same command again: finished trials are kept.')
    .action(action(async (opts: SearchOptions & { json?: boolean }, cmd: Command) => {
      const { runSearch } = await loadTraining(() => import('../training/studies/search.ts'));
      const { formatSearch } = await loadTraining(() => import('../training/studies/search-report.ts'));
      const r = await runSearch(withoutDefaults(opts, cmd));
      if (r.interrupted) exitInterrupted(r.trials.length, 'trial');
      printResult(opts.json, r, () => formatSearch(r));
    }));
}

/** Ctrl-C during cv or search: the finished units are on disk, so the same command continues (exit 130, as a shell reports SIGINT). */
function exitInterrupted(finished: number, unit: 'trial' | 'fold'): void {
  process.stderr.write(`edgeloom: interrupted after ${finished} finished ${unit}(s); run the same command again to continue\n`);
  process.exitCode = 130;
}

export function registerCvCommand(program: Command): void {
  addRecipeFlags(program.command('cv'))
    .description('Cross-validate an architecture: one model per fold (k-fold or shuffle-split, optionally stratified), per-fold validation and test accuracy, ' +
      'mean ± std, the fold ensemble\'s per-class metrics; resumable fold by fold')
    .option('--folds <k>', 'folds (k-fold) or splits (--shuffle-split) (default 5)', parseIntOption('--folds'))
    .option('--shuffle-split', 'independent random splits instead of k folds (scikit-learn ShuffleSplit)')
    .option('--test-size <x>', '--shuffle-split: fraction held out per split (default 0.1)', parseFloatOption('--test-size'))
    .option('--stratified', 'keep every class\'s share in each fold / split')
    .option('--test-limit <n>', 'score on a stratified subset of N test images', parseIntOption('--test-limit'))
    .addOption(new Option('--export <kind>',
      'after the folds: best = copy the best fold\'s model (by validation accuracy), average = average the folds\' weights').choices(['none', 'best', 'average']).default('none'))
    .option('--out <dir>', 'output directory (default cv/ARCH): fold-NN/ models, cv.json, report.md, folds.png')
    .addHelpText('after',
      '\nExamples:\n  $ edgeloom cv --arch cnn --folds 10 --out cv/cnn-kf                       # Safaei cnn_kf' +
        '\n  $ edgeloom cv --arch cnn --folds 10 --shuffle-split --test-size 0.1 --out cv/cnn-rs' +
        '\n  $ edgeloom cv --arch mlp --folds 5 --stratified --epochs 2 --limit 3000 --export best --json' +
        '\n  $ edgeloom cv --arch edgenet --data folder:./photos --folds 3 --stratified --out cv/bins' +
        '\n\nInterrupted (Ctrl-C)? Run the same command again: finished folds are kept, the interrupted one starts over.')
    .action(action(async (opts: CvOptions & { json?: boolean }, cmd: Command) => {
      const { runCv } = await loadTraining(() => import('../training/studies/cv.ts'));
      const { formatCv } = await loadTraining(() => import('../training/studies/cv-report.ts'));
      const r = await runCv(withoutDefaults(opts, cmd));
      if (r.interrupted) exitInterrupted(r.folds.length, 'fold');
      printResult(opts.json, r, () => formatCv(r));
    }));
}

export function registerReproduceCommand(program: Command): void {
  program.command('reproduce')
    .description('Rerun a study\'s experiments with edgeloom (safaei, leopardi, le-glouanec, giordano) and print its reported numbers beside edgeloom\'s, row by row')
    .argument('<study>', 'safaei | leopardi | le-glouanec | giordano')
    .addOption(new Option('--budget <name>',
      'quick: minutes (3,000 training images, 2 epochs, 3 folds, 2,000 test images); full: the studies\' protocols (hours)').choices(['quick', 'full']).default('quick'))
    .option('--only <ids>', 'only these experiments, comma-separated (e.g. cnn,cnn-kf)')
    .option('--out <dir>', 'output directory (default studies/STUDY/BUDGET): one directory per experiment, report.md, reproduce.json')
    .option('--data <spec>', 'data source for the trained experiments (default fashion-mnist, as the studies)')
    .option('--seed <n>', `seed (default ${DEFAULT_SEED})`, parseIntOption('--seed'))
    .option('--backend <name>', TRAINING_BACKEND_HELP)
    .option('--limit <n>', 'override the budget: training images (0 = all)', parseIntOption('--limit'))
    .option('--epochs <n>', 'override the budget: epochs per model', parseIntOption('--epochs'))
    .option('--folds <k>', 'override the budget: folds of the cross-validation experiments', parseIntOption('--folds'))
    .option('--test-limit <n>', 'override the budget: test images (0 = all)', parseIntOption('--test-limit'))
    .option('--json', 'print JSON on stdout')
    .addHelpText('after',
      '\nExamples:\n  $ edgeloom reproduce safaei --budget quick\n  $ edgeloom reproduce giordano\n  $ edgeloom reproduce safaei --budget full --only cnn-kf,cnn-rs --out studies/safaei-full')
    .action(action(async (study: string, opts: Omit<ReproduceOptions, 'study'> & { json?: boolean }) => {
      const { runReproduce, formatReproduce } = await loadTraining(() => import('../training/studies/reproduce.ts'));
      const r = await runReproduce({ ...opts, study });
      printResult(opts.json, r, () => formatReproduce(r));
    }));
}
