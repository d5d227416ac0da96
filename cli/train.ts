import { Command, Option } from 'commander';
import { addDataOptions } from './data.ts';
import { action, parseFloatOption, parseIntOption, printResult, withoutDefaults } from './output.ts';
import { addOptimizerOptions, TRAINING_BACKEND_HELP } from './recipe-flags.ts';
import { loadTraining } from './training.ts';
import type { TrainOptions } from '../training/trainer/config.ts';
import { DEFAULT_SEED, QUANTIZE_DEFAULTS } from '../src/defaults.ts';

// Type-only: erased at run time, so the trainer is still loaded lazily inside the action.
type TrainCliOptions = TrainOptions & { listArchs?: boolean; json?: boolean };

const TRAIN_EXAMPLES = `
Examples:
  $ edgeloom archs
  $ edgeloom train --arch cnn --epochs 2 --limit 6000 --out runs/cnn-quick
  $ edgeloom train --arch edgenet --out runs/edgenet            # recipe: sgd 0.1 one-cycle, 30 epochs
  $ edgeloom train --arch cnn --augment safaei --epochs 15 --out runs/cnn-aug
  $ edgeloom train --arch lenet5-bn --val-split 0.1 --patience 3 --out runs/lenet5-bn
  $ edgeloom train --arch mlp --optimizer adam --lr 0.001 --schedule cosine --json
  $ edgeloom train --resume runs/edgenet                        # after Ctrl-C or a crash
  $ edgeloom train --recipe search/mlp/best-recipe.json --out runs/mlp-tuned
  $ edgeloom train --init models/edgenet.onnx --data folder:./photos --epochs 10 --lr 0.01 --freeze-epochs 2 --out runs/bins
  $ edgeloom train --init runs/edgenet --augment robust --epochs 8 --lr 0.02 --out runs/edgenet-robust
  $ edgeloom train --init runs/edgenet --distill runs/edgenet --augment robust --epochs 8 --lr 0.02 --out runs/edgenet-robust-kd
  $ edgeloom train --arch customnet --backend wasm --workers 2 --out runs/customnet
  $ edgeloom train --arch customnet --workers 2 --out runs/customnet-2t      # auto: steps on onnxruntime, 2 threads
  $ edgeloom train --arch lenet5 --epochs 1 --limit 500 --no-onnx --out runs/lenet5-tfjs-only

Unset hyper-parameters come from the architecture's recipe (see "edgeloom archs").
Outputs in --out: model.json + weights.bin (tfjs), model.onnx (parity-checked against tfjs),
model.int8.onnx (static int8, calibrated on ${QUANTIZE_DEFAULTS.calibrationSize} training images), report.json, report.md, plots,
checkpoint/. The int8 test accuracy uses the full test set, or a stratified 2,000 with --limit.`;

async function listArchs(json: boolean | undefined): Promise<void> {
  const { summarizeArchitectures } = await loadTraining(() => import('../training/arch/index.ts'));
  const { selectBackend } = await loadTraining(() => import('../training/backend/index.ts'));
  await selectBackend('cpu');
  const archs = summarizeArchitectures();
  printResult(json, archs, () => {
    const w = Math.max(...archs.map((a) => a.name.length));
    const head = `${'name'.padEnd(w)}  ${'params'.padStart(10)}  ${'MACs'.padStart(12)}  recipe`;
    const recipe = (r: (typeof archs)[number]['recipe']) => `${r.optimizer} lr ${r.lr}, batch ${r.batchSize}, ${r.epochs} epochs${r.schedule ? `, ${r.schedule}` : ''}`;
    const rows = archs.map((a) => `${a.name.padEnd(w)}  ${a.parameters.toLocaleString('en-US').padStart(10)}  ${a.macs.toLocaleString('en-US').padStart(12)}  ${recipe(a.recipe)}`);
    return [head, ...rows].join('\n');
  });
}

export function registerTrainCommands(program: Command): void {
  addOptimizerOptions(addDataOptions(program.command('train')))
    .description('Train an architecture on Fashion-MNIST or your own photos (--data folder:DIR) with TensorFlow.js, from scratch or fine-tuning --init (custom loop, checkpoints, report)')
    .option('--arch <name>', 'architecture (see --list-archs)')
    .option('--recipe <file>', 'hyper-parameters from a recipe JSON file (e.g. best-recipe.json of edgeloom search); flags given here win')
    .option('--list-archs', 'list architectures with parameter counts and exit')
    .option('--limit <n>', 'train on a stratified subset of N images (equal per class)', parseIntOption('--limit'))
    .option('--val-split <x>', 'stratified validation fraction of the training images', parseFloatOption('--val-split'))
    .option('--patience <n>', 'early stopping: epochs without val-accuracy gain (restores the best)', parseIntOption('--patience'))
    .option('--seed <n>', `seed for init, subsets, shuffling and augmentation (default ${DEFAULT_SEED})`, parseIntOption('--seed'))
    .option('--augment <presets>', 'none | safaei | shift | flip | erase | standard | robust, comma-separated, plus setting=value items (robust,corruption=0.3)')
    .option('--backend <name>', TRAINING_BACKEND_HELP, 'auto')
    .addOption(new Option('--experimental', 'no longer needed (ignored with a warning): --backend ort is a regular back end').hideHelp())
    .option('--out <dir>', 'output directory (default runs/ARCH)')
    .option('--resume <dir>', 'continue from DIR/checkpoint (a previous --out)')
    .option('--init <path>', 'fine-tune: start from a trained model, an fp32 edgeloom .onnx file (models/edgenet.onnx) or a tfjs model directory (--arch defaults to its architecture)')
    .option('--new-head', 'fine-tune: a new, freshly initialised output layer for the data\'s classes (default when they differ from --init\'s)')
    .option('--no-new-head', 'fine-tune: keep --init\'s output layer (its classes must be the data\'s)')
    .option('--freeze-epochs <n>', 'fine-tune: train only the output layer for the first n epochs', parseIntOption('--freeze-epochs'))
    .option('--distill <dir>', 'knowledge distillation: mix a trained tfjs model\'s softened predictions on the uncorrupted images into the targets')
    .option('--distill-weight <x>', 'share of the target from the teacher, 0 < x <= 1 (default 0.5)', parseFloatOption('--distill-weight'))
    .option('--distill-temperature <t>', 'softmax temperature of the teacher\'s predictions (default 2)', parseFloatOption('--distill-temperature'))
    .option('--workers <n>', 'threads computing each gradient (data-parallel, wasm/cpu back ends; ignored on node)', parseIntOption('--workers'))
    .option('--test-limit <n>', 'evaluate on a stratified subset of N test images (quick runs of large architectures)', parseIntOption('--test-limit'))
    .option('--reference-size <n>', 'reference images of the drift profiles in the ONNX models (default 5000)', parseIntOption('--reference-size'))
    .option('--no-onnx', 'skip model.onnx and model.int8.onnx')
    .option('--no-quantize', 'skip model.int8.onnx (model.onnx is still written)')
    .option('--no-progress', 'no live progress line (one line per epoch only)')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText('after', TRAIN_EXAMPLES)
    .action(action(async (opts: TrainCliOptions, cmd: Command) => {
      if (opts.listArchs) return listArchs(opts.json);
      const { runTrain } = await loadTraining(() => import('../training/trainer/train.ts'));
      const summary = await runTrain(withoutDefaults(opts, cmd));
      if (summary.interrupted) {
        process.stderr.write(`edgeloom: interrupted; checkpoint saved in ${summary.checkpoint}; continue with: edgeloom train --resume ${summary.out}\n`);
        process.exitCode = 130;
      }
      printResult(opts.json, summary, () =>
        summary.interrupted
          ? `stopped after ${summary.epochsRun} complete epoch(s); checkpoint: ${summary.checkpoint}`
          : `${summary.arch}: test accuracy ${((summary.testAccuracy ?? 0) * 100).toFixed(2)}% after ${summary.epochsRun} epoch(s), ` +
            `${summary.trainSeconds.toFixed(1)} s on ${summary.backend}${summary.workers > 1 ? ` x${summary.workers} threads` : ''} (${summary.samplesPerSec.toFixed(0)} images/s)` +
            (summary.onnx?.int8 ? `\nint8 ONNX: test accuracy ${(summary.onnx.int8.test.accuracy * 100).toFixed(2)}% on ${summary.onnx.int8.test.count} images, ` +
              `${(summary.onnx.int8.sizeRatio * 100).toFixed(0)}% of the fp32 size` : '') +
            `\nwrote ${summary.out}: ${summary.files.join(', ')}`,
      );
    }));

  program
    .command('average')
    .description('Average the weights of models fine-tuned from one parent ("model soup") into a new tfjs model directory')
    .argument('<dirs...>', 'two or more tfjs model directories of one architecture')
    .requiredOption('--out <dir>', 'output directory (model.json, weights.bin, report.json)')
    .option('--weights <list>', 'comma-separated weights summing to 1, one per model (default: equal)')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom average runs/robust-a runs/robust-b --out runs/robust-soup\n  $ edgeloom average runs/a runs/b --weights 0.7,0.3 --out runs/ab && edgeloom ' +
      'evaluate --model runs/ab --split val')
    .action(action(async (dirs: string[], opts: { out: string; weights?: string; json?: boolean }) => {
      const { runAverage } = await loadTraining(() => import('../training/trainer/average.ts'));
      const r = await runAverage({ models: dirs, weights: opts.weights, out: opts.out });
      printResult(opts.json, r, () => `wrote ${r.out} (${r.arch}): ${r.averageOf.map((m) => `${m.weight.toFixed(3)} x ${m.model}`).join(' + ')}` +
        (r.sharedSplit ? '' : '\nthe models do not share one data set and validation split: `--split val` will not work on the result'));
    }));

  program
    .command('archs')
    .description('List the trainable architectures with parameter counts, MACs and default recipes')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExamples:\n  $ edgeloom archs\n  $ edgeloom archs --json')
    .action(action(async (opts: { json?: boolean }) => listArchs(opts.json)));
}
